"""Lease tokens fence writes: after a new grant, the holder of the old one writes nothing,
even on the same node (a runner that stalled past its lease while its node re-claimed)."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from datetime import timedelta

import pytest
from sqlalchemy import insert
from sqlalchemy import select

from workflowdev.store import executions as store
from workflowdev.store.database import Database
from workflowdev.store.journal import Guard
from workflowdev.store.journal import Journal
from workflowdev.store.journal import LeaseLost
from workflowdev.store.models import Execution
from workflowdev.store.models import Flow

NODE = "node-a"


async def _leased_execution(db: Database, now: datetime) -> str:
    values = dict(namespace="n", name="f", yaml_content="y", revision=1, tasks_total=1, created_at=now, updated_at=now)
    row = dict(
        id="e1", flow_id="f1", flow_name="f", namespace="n", flow_revision=1, status="QUEUED", tasks_total=1,
        tasks_executed=0, inputs={}, labels={}, trigger={}, created_at=now, cancel_requested=False,
    )  # fmt: skip
    async with db.write() as conn:
        await conn.execute(insert(Flow.__table__).values(id="f1", **values))
        await conn.execute(insert(Execution.__table__).values(**row))
    return "e1"


async def _tasks_executed(db: Database, execution_id: str) -> int:
    async with db.read() as conn:
        return (await conn.execute(select(Execution.__table__.c.tasks_executed).where(Execution.__table__.c.id == execution_id))).scalar_one()


async def test_a_write_under_an_earlier_grant_is_refused(db: Database) -> None:
    now = datetime.now(UTC)
    execution_id = await _leased_execution(db, now)
    async with db.write() as conn:
        assert await store.claim(conn, owner=NODE, now=now, lease_until=now - timedelta(seconds=1), limit=1, token="old") == [execution_id]
        # the lease expired (a stall): the same node claims it again, under a new grant
        assert await store.claim(conn, owner=NODE, now=now, lease_until=now + timedelta(minutes=1), limit=1, token="new") == [execution_id]
    journal = Journal(db)
    await journal.start()
    bump = Execution.__table__.update().where(Execution.__table__.c.id == execution_id).values(tasks_executed=Execution.__table__.c.tasks_executed + 1)
    try:
        with pytest.raises(LeaseLost):
            await journal.write([(bump, {})], Guard(execution_id, NODE, "old"))
        assert await _tasks_executed(db, execution_id) == 0
        await journal.write([(bump, {})], Guard(execution_id, NODE, "new"))
        assert await _tasks_executed(db, execution_id) == 1
    finally:
        await journal.stop()
    async with db.write() as conn:
        later = now + timedelta(minutes=5)
        assert await store.renew_leases(conn, owner=NODE, tokens={execution_id: "old"}, now=now, lease_until=later) == set()
        assert await store.renew_leases(conn, owner=NODE, tokens={execution_id: "new"}, now=now, lease_until=later) == {execution_id}
