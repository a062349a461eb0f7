"""The SQL of retention: find what may go in indexed batches, delete it in short transactions.

Callers decide what the policy keeps; these functions only select and delete, each bounded by
a `limit` so that no statement holds SQLite's single writer (or PostgreSQL's row locks) for
long. Every scan pages on an index with a cursor (`after`), so rows it passes over (kept ones)
are read once per pass, not once per batch.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from collections.abc import Iterable
from collections.abc import Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from typing import cast

from sqlalchemy import ColumnElement
from sqlalchemy import Row
from sqlalchemy import Select
from sqlalchemy import Table
from sqlalchemy import and_
from sqlalchemy import create_engine
from sqlalchemy import delete
from sqlalchemy import false
from sqlalchemy import func
from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.pool import NullPool

from workflowdev.store.database import Database
from workflowdev.store.database import configure_sqlite
from workflowdev.store.models import Approval
from workflowdev.store.models import AuditEntry
from workflowdev.store.models import Execution
from workflowdev.store.models import LogLine
from workflowdev.store.models import TaskRun
from workflowdev.store.statuses import ENDED

executions = Execution.__table__
logs = LogLine.__table__
task_runs = TaskRun.__table__
approvals = Approval.__table__
audit_entries = AuditEntry.__table__
DEPENDANTS: tuple[Table, ...] = (logs, task_runs, approvals)
"""Every table whose rows belong to an execution, emptied before the execution row goes.
(Slots of the slot ledger keep the id of an execution that is gone: they are not dependants.)"""
_PASS_LOCK_KEY = 0x7075726765  # "purge" in ASCII


@dataclass(frozen=True, slots=True)
class Scope:
    """Which executions a policy covers: these namespaces, or (others) all but these."""

    namespaces: tuple[str, ...]
    others: bool = False

    def covers(self, namespace: ColumnElement[str]) -> ColumnElement[bool]:
        return namespace.not_in(self.namespaces) if self.others else namespace.in_(self.namespaces)


LogRule = tuple[Scope, datetime]
"""Log lines of executions in the scope, older than the instant, may go."""


def _old_log(rules: Sequence[LogRule]) -> ColumnElement[bool]:
    return or_(false(), *(and_(scope.covers(executions.c.namespace), logs.c.ts < before) for scope, before in rules))


async def finished(
    conn: AsyncConnection, *, finished_before: datetime | None, after: tuple[datetime, str] | None, limit: int
) -> Sequence[Row[Any]]:
    """The next executions by end, past the cursor: a walk of one index, whatever they are.
    (Filtering here too would let a planner start from the status index and sort the rest.)"""
    c = executions.c
    query = select(c.id, c.finished_at).where(c.finished_at.is_not(None))
    if finished_before is not None:
        query = query.where(c.finished_at < finished_before)
    return await _page(conn, query, (c.finished_at, c.id), after, limit)


async def ended_roots(conn: AsyncConnection, ids: Sequence[str], scope: Scope) -> Sequence[Row[Any]]:
    """Those of these executions that ended, in the scope, and that no other started."""
    c = executions.c
    query = select(c.id, c.flow_id, c.finished_at).where(
        c.id.in_(ids), c.status.in_(ENDED), c.parent_execution_id.is_(None), scope.covers(c.namespace)
    )
    return (await conn.execute(query.order_by(c.finished_at, c.id))).all()


async def newest_kept(conn: AsyncConnection, flow_id: str, keep_last: int) -> tuple[datetime, str] | None:
    """The oldest of the flow's `keep_last` newest ended root executions (None: it has fewer)."""
    c = executions.c
    query = (
        select(c.finished_at, c.id)
        .where(c.flow_id == flow_id, c.status.in_(ENDED), c.parent_execution_id.is_(None), c.finished_at.is_not(None))
        .order_by(c.finished_at.desc(), c.id.desc())
        .offset(keep_last - 1)
        .limit(1)
    )
    row = (await conn.execute(query)).first()
    return (row.finished_at, row.id) if row is not None else None


async def children(conn: AsyncConnection, parent_ids: Sequence[str]) -> Sequence[Row[Any]]:
    c = executions.c
    query = select(c.id, c.parent_execution_id, c.status).where(c.parent_execution_id.in_(parent_ids))
    return (await conn.execute(query)).all()


async def still_ended(conn: AsyncConnection, ids: Iterable[str]) -> set[str]:
    """Which of these executions exist and are still ended, locked against a concurrent retry
    until the transaction ends (PostgreSQL; SQLite's writer is alone anyway)."""
    query = select(executions.c.id).where(executions.c.id.in_(sorted(set(ids))), executions.c.status.in_(ENDED))
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    return set((await conn.execute(query)).scalars())


async def delete_dependants(conn: AsyncConnection, table: Table, execution_ids: Sequence[str], limit: int) -> int:
    """Up to `limit` rows of `table` that belong to these executions. Task runs inside loops go
    before their parents, so a parent's cascade finds few children left."""
    key = table.c.id
    chosen = select(key).where(table.c.execution_id.in_(execution_ids)).limit(limit)
    if table is task_runs:
        chosen = chosen.order_by(task_runs.c.parent_id.is_(None))
    result = await conn.execute(delete(table).where(key.in_(chosen.scalar_subquery())))
    return int(result.rowcount)


async def count_logs(conn: AsyncConnection, execution_ids: Sequence[str], excluding: Sequence[LogRule]) -> int:
    """Log lines of these executions, less those an age rule takes anyway (for a dry run)."""
    query = (
        select(func.count())
        .select_from(logs.join(executions, executions.c.id == logs.c.execution_id))
        .where(logs.c.execution_id.in_(execution_ids), ~_old_log(excluding))
    )
    return int((await conn.execute(query)).scalar_one())


async def delete_executions(conn: AsyncConnection, ids: Sequence[str]) -> int:
    """Children must come in the same call as their parents, or before them."""
    result = await conn.execute(delete(executions).where(executions.c.id.in_(ids), executions.c.status.in_(ENDED)))
    return int(result.rowcount)


async def logged_before(
    conn: AsyncConnection, before: datetime, *, after: tuple[datetime, int] | None, limit: int
) -> Sequence[Row[Any]]:
    """The next log lines by time, older than `before`, past the cursor: a walk of one index."""
    query = select(logs.c.id, logs.c.ts).where(logs.c.ts < before)
    return await _page(conn, query, (logs.c.ts, logs.c.id), after, limit)


async def old_logs(conn: AsyncConnection, ids: Sequence[int], rules: Sequence[LogRule]) -> list[int]:
    """Those of these log lines that belong to an ended execution and that a rule lets go."""
    query = (
        select(logs.c.id)
        .select_from(logs.join(executions, executions.c.id == logs.c.execution_id))
        .where(logs.c.id.in_(ids), executions.c.status.in_(ENDED), _old_log(rules))
    )
    return list((await conn.execute(query)).scalars())


async def delete_logs(conn: AsyncConnection, ids: Sequence[int]) -> int:
    return int((await conn.execute(delete(logs).where(logs.c.id.in_(ids)))).rowcount)


async def old_audit(
    conn: AsyncConnection, before: datetime, *, after: tuple[datetime, int] | None, limit: int
) -> Sequence[Row[Any]]:
    """Audit entries made before the instant, oldest first, past the cursor."""
    c = audit_entries.c
    return await _page(conn, select(c.seq, c.at).where(c.at < before), (c.at, c.seq), after, limit)


async def _page(
    conn: AsyncConnection,
    query: Select[Any],
    order: tuple[ColumnElement[Any], ColumnElement[Any]],
    after: tuple[Any, Any] | None,
    limit: int,
) -> list[Row[Any]]:
    """Up to `limit` rows of `query` in `order` (an instant, then a unique key) past `after`.

    Not `(at, key) > after`: SQLite searches its (at, key) index on `at` alone for a row value,
    so each page would read again every row that shares the cursor's instant — with a million
    log lines of one millisecond, a pass that never ends. The rows at the cursor's instant and
    those after it are two searches that each use the whole index.
    """
    at, key = order
    if after is None:
        return list((await conn.execute(query.order_by(at, key).limit(limit))).all())
    same = list((await conn.execute(query.where(at == after[0], key > after[1]).order_by(key).limit(limit))).all())
    if len(same) == limit:
        return same
    later = await conn.execute(query.where(at > after[0]).order_by(at, key).limit(limit - len(same)))
    return same + list(later.all())


async def delete_audit(conn: AsyncConnection, seqs: Sequence[int]) -> int:
    return int((await conn.execute(delete(audit_entries).where(audit_entries.c.seq.in_(seqs)))).rowcount)


@asynccontextmanager
async def exclusive_pass(db: Database) -> AsyncIterator[bool]:
    """Whether this process may purge now: on PostgreSQL one node at a time holds a session
    advisory lock for its pass, and the others skip theirs rather than wait."""
    if db.is_sqlite:
        yield True
        return
    async with db.engine.connect() as conn:
        held = bool((await conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": _PASS_LOCK_KEY})).scalar_one())
        await conn.commit()
        try:
            yield held
        finally:
            if held:
                await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _PASS_LOCK_KEY})
                await conn.commit()


async def reclaim_space(db: Database, pages_per_turn: int) -> int:
    """Give SQLite's free pages back to the file system, a few at a time, each in the writer's
    turn; returns the pages freed (0 on PostgreSQL, whose autovacuum does this, and on a file
    made before incremental vacuum was on, which needs one `vacuum`)."""
    if not db.is_sqlite:
        return 0
    engine = _sqlite_engine(db)
    freed = 0
    try:
        while True:
            async with db.writer_turn():
                step = await asyncio.to_thread(_incremental_vacuum, engine, pages_per_turn)
            freed += step
            if step < pages_per_turn:
                return freed
    finally:
        engine.dispose()


async def vacuum(db: Database) -> None:
    """Rewrite the SQLite file whole, which also turns incremental vacuum on for an old file.
    It holds the writer for as long as the copy takes: for maintenance, not for a busy server."""
    if not db.is_sqlite:
        return
    engine = _sqlite_engine(db)
    try:
        async with db.writer_turn():
            await asyncio.to_thread(_run_script, engine, "PRAGMA auto_vacuum=INCREMENTAL; VACUUM;")
    finally:
        engine.dispose()


def _sqlite_engine(db: Database) -> Engine:
    engine = create_engine(make_url(db.url).set(drivername="sqlite"), poolclass=NullPool)
    configure_sqlite(engine)
    return engine


def _raw(conn: Any) -> sqlite3.Connection:
    return cast(sqlite3.Connection, conn.connection.dbapi_connection)


def _incremental_vacuum(engine: Engine, pages: int) -> int:
    """Through the driver's executescript: its plain execute steps a pragma once, one page."""
    with engine.connect() as conn:
        raw = _raw(conn)
        before = int(raw.execute("PRAGMA freelist_count").fetchone()[0])
        raw.executescript(f"PRAGMA incremental_vacuum({int(pages)});")
        return before - int(raw.execute("PRAGMA freelist_count").fetchone()[0])


def _run_script(engine: Engine, script: str) -> None:
    with engine.connect() as conn:
        _raw(conn).executescript(script)
