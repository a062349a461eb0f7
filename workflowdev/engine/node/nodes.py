"""The node registry: every process sharing the database says it is alive every few seconds.

It feeds `GET /api/v1/nodes` (and the console's nodes view). Leases, not this registry, decide
who runs what: a node that stops beating is shown as not alive at once, but its executions are
taken over only when their leases expire. Nodes silent for a long time are forgotten by
whichever node beats next, so the list does not grow with every restart of a container.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from datetime import timedelta
from typing import Any

import workflowdev
from workflowdev.engine.clock import Clock
from workflowdev.engine.clock import rfc3339
from workflowdev.engine.node.background import BackgroundLoop
from workflowdev.store import nodes as store
from workflowdev.store.database import Database
from workflowdev.store.outage import Outage

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 5.0
ALIVE_WITHIN = timedelta(seconds=3 * HEARTBEAT_SECONDS)
"""A node whose last heartbeat is older than this is shown as not alive."""
FORGET_AFTER = timedelta(hours=1)
"""A node silent this long is removed from the registry."""


def node_json(row: Any, now: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "address": row.address,
        "roles": list(row.roles or []),
        "version": row.version,
        "startedAt": rfc3339(row.started_at),
        "heartbeatAt": rfc3339(row.heartbeat_at),
        "runningExecutions": int(row.running),
        "alive": now - row.heartbeat_at <= ALIVE_WITHIN,
    }


@dataclass
class NodeRegistry:
    db: Database
    clock: Clock
    node_id: str
    roles: Sequence[str]
    address: str | None = None
    _beats: BackgroundLoop = field(default_factory=lambda: BackgroundLoop("node-heartbeat"))
    _outage: Outage = field(default_factory=lambda: Outage(log, "the node heartbeat"))

    async def start(self) -> None:
        await self._register()
        self._beats.start(self._beat_forever())

    async def stop(self) -> None:
        """Stop beating and leave the registry: a node that stopped cleanly is not a dead one."""
        await self._beats.stop()
        with contextlib.suppress(Exception):
            async with self.db.write() as conn:
                await store.remove(conn, self.node_id)

    async def announce(self, address: str) -> None:
        """The address others reach this node at, known once its listener is bound."""
        self.address = address
        await self.beat()

    async def all(self) -> list[dict[str, Any]]:
        now = self.clock()
        async with self.db.read() as conn:
            rows = await store.list_nodes(conn, now)
        return [node_json(row, now) for row in rows]

    async def beat(self) -> None:
        now = self.clock()
        async with self.db.write() as conn:
            known = await store.heartbeat(conn, self.node_id, address=self.address, now=now)
            await store.prune(conn, silent_since=now - FORGET_AFTER)
        if not known:
            await self._register()

    async def _register(self) -> None:
        async with self.db.write() as conn:
            await store.register(
                conn,
                node_id=self.node_id,
                address=self.address,
                roles=self.roles,
                version=workflowdev.__version__,
                now=self.clock(),
            )

    async def _beat_forever(self) -> None:
        delay = HEARTBEAT_SECONDS
        while not self._beats.stopping:
            await self._beats.sleep(delay)
            if self._beats.stopping:
                return
            try:
                await self.beat()
            except Exception as exc:  # noqa: BLE001 - the database may be away; keep trying
                delay = min(HEARTBEAT_SECONDS, self._outage.failed(exc))
                continue
            self._outage.succeeded()
            delay = HEARTBEAT_SECONDS
