"""Group commit: the write path of running executions.

Runners record every task transition and log line. Committing each one on its own would cost a
commit and, with aiosqlite, a thread hop per statement; instead writers `submit` statements and
get a future that resolves once they are durable. One writer drains whatever has accumulated
while the previous commit ran and applies it in a single transaction, so a burst of transitions
costs one commit. Nothing is acknowledged before its commit: callers publish events, answer HTTP
requests or start the next step only after awaiting their future when that order matters.

A submission may carry a lease guard (execution id, owner, token). Inside the batch's
transaction the guard is checked first, on the locked row; if the execution is no longer leased
to that owner under that grant's token the submission is dropped whole and its future fails
with `LeaseLost`. A runner that lost its lease (to another node, or to a newer grant on its own
node after a stall past the lease) therefore can never record anything again.

A guarded submission that fails for any other reason (the database went away mid-batch) takes
every later submission under the same guard down with it, in this batch and in those after:
a runner's writes only make sense in order, and one that is told of the failure stops, but the
writes it made meanwhile are already queued. Without this, the one-by-one retry of a failed
batch could commit a run's end, or the execution's, on a fresh connection after the insert of
the run failed on a dead one. Whoever takes the execution over holds a new grant, so a new
guard, and replays from what did commit.

On SQLite a batch waits for the process's writer turn (`Database.writer_turn`, shared with
every other writer of the process), then is applied right on the event loop, on a connection
whose busy timeout is zero: a commit in WAL mode costs tens of microseconds, far less than
handing the work to a thread that then competes for the GIL. When another process holds the
write lock, the batch goes instead to a dedicated thread whose connection waits out the lock,
so the loop never blocks on it. PostgreSQL batches run on the async engine.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from sqlalchemy import Connection
from sqlalchemy import Executable
from sqlalchemy import create_engine
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.exc import OperationalError

from workflowdev.store.database import Database
from workflowdev.store.database import configure_sqlite
from workflowdev.store.models import Execution
from workflowdev.store.outage import Outage

log = logging.getLogger(__name__)
executions = Execution.__table__


class LeaseLost(Exception):
    """The execution is no longer leased to this owner; the write was not made."""


class EarlierWriteLost(Exception):
    """An earlier write under the same guard failed, so this one, which follows it, was not made."""


MAX_LOST_GUARDS = 10_000
"""Guards remembered as failed; the oldest are forgotten past this (their runners stopped long ago)."""


@dataclass(frozen=True, slots=True)
class Guard:
    """The lease a runner holds: its node and the token of the grant it runs under."""

    execution_id: str
    owner: str
    token: str | None


@dataclass(slots=True)
class _Submission:
    statements: Sequence[tuple[Executable, Any]]
    guard: Guard | None
    future: asyncio.Future[None]


@dataclass
class Journal:
    db: Database
    _pending: list[_Submission] = field(default_factory=list)
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task[None] | None = None
    _loop_engine: Engine | None = None
    _loop_conn: Connection | None = None
    _waiting_engine: Engine | None = None
    _thread: ThreadPoolExecutor | None = None
    _closing: bool = False
    _outage: Outage = field(default_factory=lambda: Outage(log, "recording executions"))
    _failed: OrderedDict[Guard, None] = field(default_factory=OrderedDict)
    """Guards with a failed submission: what follows under them is refused, not applied."""

    async def start(self) -> None:
        if self.db.is_sqlite:
            url = make_url(self.db.url).set(drivername="sqlite")
            self._loop_engine = create_engine(url, pool_size=1, max_overflow=0)
            configure_sqlite(self._loop_engine, busy_timeout_ms=0)
            self._loop_conn = self._loop_engine.connect().execution_options(write=True)
            self._waiting_engine = create_engine(url, pool_size=1, max_overflow=0)
            configure_sqlite(self._waiting_engine)
            self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="journal")
        self._task = asyncio.create_task(self._run(), name="journal-writer")

    async def stop(self) -> None:
        """Write what is pending, then stop."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None
        if self._thread is not None:
            self._thread.shutdown(wait=True)
        if self._loop_conn is not None:
            self._loop_conn.close()
        for engine in (self._loop_engine, self._waiting_engine):
            if engine is not None:
                engine.dispose()

    def submit(
        self, statements: Sequence[tuple[Executable, Any]], guard: Guard | None = None
    ) -> asyncio.Future[None]:
        """Queue statements (each with a params dict, or a list of them for executemany)."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self._closing and self._task is None:
            future.set_exception(RuntimeError("the journal is stopped"))
            return future
        self._pending.append(_Submission(statements, guard, future))
        self._wake.set()
        return future

    async def write(self, statements: Sequence[tuple[Executable, Any]], guard: Guard | None = None) -> None:
        await self.submit(statements, guard)

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            batch, self._pending = self._pending, []
            if batch:
                await self._commit(batch)
            if self._closing and not self._pending:
                return

    async def _commit(self, batch: list[_Submission]) -> None:
        batch = self._refuse_after_failures(batch)
        if not batch:
            return
        try:
            lost = await self._apply(batch)
        except Exception as exc:  # noqa: BLE001 - every waiter must hear about the failure
            if len(batch) > 1:
                # One bad submission must not sink its neighbours: retry each on its own.
                for item in batch:
                    await self._commit([item])
                return
            # The submitter hears of every failure and decides; the log only hears of outages
            # (once), not of conflicts a caller expects (a schedule instant another node fired).
            if not isinstance(exc, IntegrityError):
                self._outage.failed(exc)
            self._remember_failed(batch[0].guard)
            if not batch[0].future.done():
                batch[0].future.set_exception(exc)
            return
        self._outage.succeeded()
        for item in batch:
            if item.future.done():
                continue
            if item.guard is not None and item.guard in lost:
                item.future.set_exception(LeaseLost(item.guard.execution_id))
            else:
                item.future.set_result(None)

    def _refuse_after_failures(self, batch: list[_Submission]) -> list[_Submission]:
        """The batch less the submissions under a guard that already failed, which fail here."""
        if not self._failed:
            return batch
        kept = []
        for item in batch:
            if item.guard is not None and item.guard in self._failed:
                if not item.future.done():
                    item.future.set_exception(EarlierWriteLost(item.guard.execution_id))
            else:
                kept.append(item)
        return kept

    def _remember_failed(self, guard: Guard | None) -> None:
        if guard is None:
            return
        self._failed[guard] = None
        if len(self._failed) > MAX_LOST_GUARDS:
            self._failed.popitem(last=False)

    async def _apply(self, batch: list[_Submission]) -> set[Guard]:
        if self._loop_conn is None:
            async with self.db.engine.begin() as conn:
                return await conn.run_sync(_apply, batch)
        async with self.db.writer_turn():
            try:
                with self._loop_conn.begin():
                    return _apply(self._loop_conn, batch)
            except OperationalError as exc:
                if not _is_busy(exc):
                    raise
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._thread, _apply_sqlite, self._waiting_engine, batch)


def _is_busy(exc: OperationalError) -> bool:
    text = str(exc.orig).lower()
    return "locked" in text or "busy" in text


def _apply_sqlite(engine: Engine | None, batch: list[_Submission]) -> set[Guard]:
    assert engine is not None
    with engine.connect() as conn:
        conn = conn.execution_options(write=True)
        with conn.begin():
            return _apply(conn, batch)


def _apply(conn: Connection, batch: list[_Submission]) -> set[Guard]:
    """Run one batch in the caller's transaction; return the guards that failed."""
    guards = {item.guard for item in batch if item.guard is not None}
    lost: set[Guard] = set()
    if guards:
        ids = sorted({g.execution_id for g in guards})
        query = select(executions.c.id, executions.c.lease_owner, executions.c.lease_token).where(executions.c.id.in_(ids))
        if conn.dialect.name == "postgresql":
            query = query.with_for_update()
        leases = {row.id: (row.lease_owner, row.lease_token) for row in conn.execute(query).all()}
        lost = {g for g in guards if leases.get(g.execution_id) != (g.owner, g.token)}
    run: list[tuple[Executable, Any]] = []
    for item in batch:
        if item.guard is None or item.guard not in lost:
            run.extend(item.statements)
    for statement, params in _coalesce(run):
        conn.execute(statement, params)
    return lost


def _coalesce(statements: list[tuple[Executable, Any]]) -> list[tuple[Executable, Any]]:
    """Turn a batch into as few executemany calls as order allows.

    Deletes only free unique keys that inserts of the same batch take (a backfilled slot's
    unrun row), so they go first, in order. Inserts depend on nothing else in a batch, so all
    rows for one insert statement go next, together. Updates keep their order (two updates of
    one row must not swap) and merge only with neighbours. Callers share a statement object
    only when its parameter dicts have the same keys.
    """
    deletes: list[tuple[Executable, list[Any]]] = []
    inserts: dict[int, tuple[Executable, list[Any]]] = {}
    updates: list[tuple[Executable, list[Any]]] = []
    for statement, params in statements:
        rows = params if isinstance(params, list) else [params]
        if getattr(statement, "is_insert", False):
            inserts.setdefault(id(statement), (statement, []))[1].extend(rows)
            continue
        ordered = deletes if getattr(statement, "is_delete", False) else updates
        if ordered and ordered[-1][0] is statement:
            ordered[-1][1].extend(rows)
        else:
            ordered.append((statement, list(rows)))
    merged = [*deletes, *inserts.values(), *updates]
    return [(s, p[0] if len(p) == 1 else p) for s, p in merged]
