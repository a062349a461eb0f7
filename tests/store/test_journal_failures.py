"""A failed write takes the writes that follow it under the same guard down with it.

A runner's writes only make sense in order: the end of a task run after its insert, the end of
the execution after its runs. When a batch fails (a dead pooled connection after a database
restart), the journal retries its submissions one by one on fresh connections; a later write
of a runner must not commit there after an earlier one of the same runner failed, or an
execution ends SUCCESS with a task run missing (seen in the three-node test: 891 of 900 runs).
"""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import insert
from sqlalchemy import select

from workflowdev.store import executions as store
from workflowdev.store.database import Database
from workflowdev.store.journal import EarlierWriteLost
from workflowdev.store.journal import Guard
from workflowdev.store.journal import Journal
from workflowdev.store.models import Execution
from workflowdev.store.models import Flow

NODE = "node-a"
executions = Execution.__table__


async def _leased(db: Database, now: datetime, ids: list[str], token: str) -> None:
    flow = dict(id="f1", namespace="n", name="f", yaml_content="y", revision=1, tasks_total=1, created_at=now, updated_at=now)
    rows = [
        dict(id=e, flow_id="f1", flow_name="f", namespace="n", flow_revision=1, status="QUEUED", tasks_total=1,
             tasks_executed=0, inputs={}, labels={}, trigger={}, created_at=now, cancel_requested=False)
        for e in ids
    ]  # fmt: skip
    async with db.write() as conn:
        await conn.execute(insert(Flow.__table__).values(**flow))
        await conn.execute(insert(executions), rows)
        until = now + timedelta(minutes=1)
        assert sorted(await store.claim(conn, owner=NODE, now=now, lease_until=until, limit=10, token=token)) == ids


def _bump(execution_id: str) -> tuple[Any, dict[str, Any]]:
    statement = executions.update().where(executions.c.id == execution_id)
    return statement.values(tasks_executed=executions.c.tasks_executed + 1), {}


def _failing() -> tuple[Any, dict[str, Any]]:
    """An insert that breaks a unique key: a write that fails whatever the connection."""
    now = datetime.now(UTC)
    row = dict(id="f1", namespace="n", name="f", yaml_content="y", revision=1, tasks_total=1, created_at=now, updated_at=now)
    return insert(Flow.__table__), row


async def _executed(db: Database) -> dict[str, int]:
    async with db.read() as conn:
        return {row.id: row.tasks_executed for row in await conn.execute(select(executions.c.id, executions.c.tasks_executed))}


async def test_after_a_failed_write_nothing_more_of_that_runner_is_applied(db: Database) -> None:
    await _leased(db, datetime.now(UTC), ["e1", "e2"], token="t1")
    runner, neighbour = Guard("e1", NODE, "t1"), Guard("e2", NODE, "t1")
    journal = Journal(db)
    await journal.start()
    try:
        # Submitted without awaiting, so the three share one batch, which fails and is retried
        # one by one.
        first = journal.submit([_failing()], runner)
        second = journal.submit([_bump("e1")], runner)
        other = journal.submit([_bump("e2")], neighbour)
        with pytest.raises(Exception) as failed:
            await first
        assert not isinstance(failed.value, EarlierWriteLost)
        with pytest.raises(EarlierWriteLost):
            await second
        await other
        assert await _executed(db) == {"e1": 0, "e2": 1}, "the neighbour's write is its own"

        with pytest.raises(EarlierWriteLost):  # a later batch: still refused
            await journal.write([_bump("e1")], runner)
        assert await _executed(db) == {"e1": 0, "e2": 1}
    finally:
        await journal.stop()


async def test_whoever_takes_the_execution_over_writes_again(db: Database) -> None:
    now = datetime.now(UTC)
    await _leased(db, now, ["e1"], token="t1")
    journal = Journal(db)
    await journal.start()
    try:
        with pytest.raises(Exception):  # noqa: B017 - the database's own error, whichever it is
            await journal.write([_failing()], Guard("e1", NODE, "t1"))
        async with db.write() as conn:  # the lease runs out; a new grant takes the execution
            later = now + timedelta(minutes=2)
            assert await store.claim(
                conn, owner=NODE, now=later, lease_until=later + timedelta(minutes=1), limit=1, token="t2"
            ) == ["e1"]
        await journal.write([_bump("e1")], Guard("e1", NODE, "t2"))
        assert await _executed(db) == {"e1": 1}
    finally:
        await journal.stop()
