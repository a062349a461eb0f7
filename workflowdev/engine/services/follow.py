"""Following an execution's log: what the store holds, then the lines as they are written, each
once and in order, then the end.

The subscription is made before the store is read: a line committed while the history is being
read is then both in the history and on the bus, and its sequence number drops the second copy;
subscribing after the read would lose it instead. Lines are numbered 1, 2, 3… per execution, so
a live line further on than the next one means lines went missing on the way (events bridged
from another node are lost with a PostgreSQL connection): the store, which has every committed
line, fills the gap. For the same reason a quiet follow looks at the store every
`QUIET_SECONDS`, so an end whose event was lost still ends it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from workflowdev.engine.errors import must_exist
from workflowdev.engine.events import EXECUTION_UPDATED
from workflowdev.engine.events import LOG
from workflowdev.engine.events import EventBus
from workflowdev.engine.run.lifecycle import ENDED
from workflowdev.store import executions as store
from workflowdev.store.database import Database

HISTORY_PAGE = 1_000
"""Lines read from the store at a time: an execution may hold millions, which one stream must
not hold in memory at once (nor a database connection while a slow client reads them)."""
QUIET_SECONDS = 5.0
"""How long a follow waits for an event before it looks at the store itself."""


@dataclass(frozen=True, slots=True)
class LogLine:
    seq: int
    ts: datetime
    level: str
    task_name: str | None
    attempt: int | None
    message: str

    @classmethod
    def of_row(cls, row: Any) -> LogLine:
        return cls(row.seq, row.ts, row.level, row.task_name, row.attempt, row.message)

    @classmethod
    def of_event(cls, data: Mapping[str, Any]) -> LogLine:
        """From a `log` event, which carries the line as the API shows it."""
        ts = datetime.fromisoformat(data["ts"])
        return cls(data["seq"], ts, data["level"], data["taskName"], data["attempt"], data["message"])


@dataclass(frozen=True, slots=True)
class LogEnded:
    """The last item of a follow: the execution ended with `status`, and every line came before."""

    status: str


async def follow_logs(
    db: Database,
    bus: EventBus,
    execution_id: str,
    *,
    after_seq: int = 0,
    page: int = HISTORY_PAGE,
    quiet: float = QUIET_SECONDS,
) -> AsyncIterator[LogLine | LogEnded]:
    """The lines after `after_seq`, then `LogEnded` once the execution has ended; raises
    `SubscriberLagged` when live lines came faster than the caller took them."""
    subscription = bus.subscribe(execution_id=execution_id, types=(LOG, EXECUTION_UPDATED))
    try:
        status = await _status(db, execution_id)
        last = after_seq
        async for line in _stored(db, execution_id, last, page):
            last = line.seq
            yield line
        while status not in ENDED:
            event = await subscription.get(timeout=quiet)
            if event is None:
                status = await _status(db, execution_id)
            elif event.type == EXECUTION_UPDATED:
                if event.data.get("status") not in ENDED:
                    continue
                status = event.data["status"]
            elif event.data["seq"] <= last:
                continue  # read with the history already
            elif event.data["seq"] == last + 1:
                last += 1
                yield LogLine.of_event(event.data)
                continue
            # the end, a quiet spell, or lines missing before this one: the store has them all
            async for line in _stored(db, execution_id, last, page):
                last = line.seq
                yield line
        yield LogEnded(status)
    finally:
        subscription.close()


async def _status(db: Database, execution_id: str) -> str:
    async with db.read() as conn:
        row = await store.get_execution(conn, execution_id)
    return str(must_exist(row, "execution", execution_id).status)


async def _stored(db: Database, execution_id: str, after_seq: int, page: int) -> AsyncIterator[LogLine]:
    """The stored lines after `after_seq`, a page at a time; the connection goes back to the pool
    before the first line is yielded."""
    while True:
        async with db.read() as conn:
            rows = await store.list_logs(conn, execution_id, after_seq=after_seq, limit=page)
        for row in rows:
            yield LogLine.of_row(row)
        if len(rows) < page:
            return
        after_seq = rows[-1].seq
