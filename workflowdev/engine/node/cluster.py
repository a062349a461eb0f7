"""Several nodes on one PostgreSQL acting as one: what each NOTIFY channel means.

PostgreSQL is the coordination engine; there is no cluster protocol of our own. The store
gives a connection that listens and sends (`store.notify.Channels`); this module decides:

- `workflowdev_queue` (no payload): work was queued that this node is not starting itself (no
  free slot, a retry, a decided gate): idle workers wake and claim at once instead of polling.
- `workflowdev_cancel` (an execution id): a cancel was requested; the node running it stops it.
- `workflowdev_schedules` (no payload): triggers changed; schedulers look again.
- `workflowdev_events`: the event bus, bridged. Each payload is `{"o": origin node, "e": [...]}`
  holding one or more `[type, executionId, data]`. An event too big for a payload travels as
  `[type, executionId, null, ref]` and the receivers read it back from the database, where it
  is already committed (events are published after their commit), so nothing is cut short.

All of it is hints: the database holds the truth, and the dispatcher and the scheduler still
poll, more slowly while LISTEN is up. Notifications are sent right after the commit of the
change they announce (the journal's group commit and the services' units of work own their
transactions); one that is lost costs a poll interval, never a result. Events received are
published in the order they arrive, one payload after the other, so a log line read back from
the database is never overtaken by the next one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from workflowdev.engine.events import APPROVAL_CREATED
from workflowdev.engine.events import APPROVAL_DECIDED
from workflowdev.engine.events import EXECUTION_UPDATED
from workflowdev.engine.events import LOG
from workflowdev.engine.events import TASK_UPDATED
from workflowdev.engine.events import Event
from workflowdev.engine.events import EventBus
from workflowdev.engine.run.gates import approval_json
from workflowdev.engine.run.recorder import log_json
from workflowdev.engine.services.executions import execution_json
from workflowdev.engine.services.executions import task_run_json
from workflowdev.store import approvals as approvals_store
from workflowdev.store import executions as executions_store
from workflowdev.store.database import Database
from workflowdev.store.notify import MAX_PAYLOAD
from workflowdev.store.notify import Channels

log = logging.getLogger(__name__)

QUEUE = "workflowdev_queue"
CANCEL = "workflowdev_cancel"
SCHEDULES = "workflowdev_schedules"
EVENTS = "workflowdev_events"
EVENT_LIMIT = MAX_PAYLOAD - 200
"""Bytes of one encoded event travelling whole; the rest of a payload is its envelope."""


def _encode(event: Event) -> str:
    piece = json.dumps([event.type, event.execution_id, event.data], separators=(",", ":"), default=str)
    if len(piece) <= EVENT_LIMIT:  # ASCII (json escapes the rest): characters are bytes
        return piece
    ref = event.data.get("seq") if event.type == LOG else event.data.get("id")
    return json.dumps([event.type, event.execution_id, None, ref], separators=(",", ":"))


async def _read_back(db: Database, kind: str, execution_id: str, ref: Any) -> dict[str, Any] | None:
    """An event that was too big to travel, rebuilt from the committed row it announced."""
    async with db.read() as conn:
        if kind == EXECUTION_UPDATED:
            row = await executions_store.get_execution(conn, execution_id)
            return execution_json(row) if row is not None else None
        if kind == TASK_UPDATED:
            row = await executions_store.get_task_run(conn, ref)
            return {**task_run_json(row), "executionId": execution_id} if row is not None else None
        if kind == LOG:
            row = await executions_store.get_log(conn, execution_id, ref)
            return log_json(row) if row is not None else None
        if kind in (APPROVAL_CREATED, APPROVAL_DECIDED):
            row = await approvals_store.get(conn, ref)
            return approval_json(row) if row is not None else None
    return None


@dataclass
class Cluster:
    db: Database
    bus: EventBus
    node_id: str
    on_queued: Callable[[], None]
    on_cancel: Callable[[str], None]
    on_schedules: Callable[[], None]
    on_listening: Callable[[bool], None]
    """Told True when LISTEN is (again) up (look at the database: hints may have been missed),
    False when it is lost (poll faster)."""
    channels: Channels | None = None
    _outgoing: list[str] = field(default_factory=list)
    _incoming: asyncio.Queue[str] = field(default_factory=asyncio.Queue)
    _consumer: asyncio.Task[None] | None = None

    @property
    def listening(self) -> bool:
        return self.channels is not None and self.channels.connected

    def start(self) -> None:
        """Listen and bridge on PostgreSQL; on SQLite there is one node and nothing to do."""
        if self.db.is_sqlite:
            return
        self.channels = Channels(
            self.db.url,
            {
                QUEUE: lambda _payload: self.on_queued(),
                CANCEL: self.on_cancel,
                SCHEDULES: lambda _payload: self.on_schedules(),
                EVENTS: self._incoming.put_nowait,
            },
            on_state=self.on_listening,
        )
        self.channels.start()
        self.bus.listen(self._outbound)
        self._consumer = asyncio.create_task(self._consume(), name="event-bridge")

    async def stop(self) -> None:
        if self.channels is not None:
            await self.channels.stop()
        if self._consumer is not None:
            self._consumer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._consumer

    def queued(self) -> None:
        self._send(QUEUE, "")

    def cancel(self, execution_id: str) -> None:
        self._send(CANCEL, execution_id)

    def schedules_changed(self) -> None:
        self._send(SCHEDULES, "")

    def _send(self, channel: str, payload: str) -> None:
        if self.channels is not None:
            self.channels.send(channel, payload)

    def _outbound(self, event: Event) -> None:
        """A bus listener: this node's events, packed into payloads once per loop iteration."""
        if not self.listening:
            return
        if not self._outgoing:
            asyncio.get_running_loop().call_soon(self._flush)
        self._outgoing.append(_encode(event))

    def _flush(self) -> None:
        pieces, self._outgoing = self._outgoing, []
        head = '{"o":' + json.dumps(self.node_id) + ',"e":['
        batch: list[str] = []
        size = len(head) + 2
        for piece in pieces:
            if batch and size + len(piece) + 1 > MAX_PAYLOAD:
                self._send(EVENTS, head + ",".join(batch) + "]}")
                batch, size = [], len(head) + 2
            batch.append(piece)
            size += len(piece) + 1
        if batch:
            self._send(EVENTS, head + ",".join(batch) + "]}")

    async def _consume(self) -> None:
        while True:
            payload = await self._incoming.get()
            try:
                await self._publish_remote(payload)
            except Exception:  # noqa: BLE001 - one bad payload must not stop the bridge
                log.warning("could not publish events from another node", exc_info=True)

    async def _publish_remote(self, payload: str) -> None:
        message = json.loads(payload)
        origin = message["o"]
        for kind, execution_id, data, *ref in message["e"]:
            if data is None:
                data = await _read_back(self.db, kind, execution_id, ref[0] if ref else None)
            if data is not None:
                self.bus.publish(Event(kind, execution_id, data, origin))
