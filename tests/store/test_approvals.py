"""store/approvals.py: a gate is decided once (a second decision loses), pending gates expire
soonest first, and the listings page newest first with a total."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.store.rows import add
from tests.store.rows import at
from tests.store.rows import execution
from tests.store.rows import executions
from tests.store.rows import flow
from tests.store.rows import flows
from workflowdev.store import approvals as store
from workflowdev.store.database import Database
from workflowdev.store.statuses import GateStatus


def gate(approval_id: str, execution_id: str = "e1", **values: Any) -> dict[str, Any]:
    row = dict(
        id=approval_id, execution_id=execution_id, task_run_id=f"run-{approval_id}", flow_id="f1", task_name="approve",
        message=None, context=None, status=GateStatus.PENDING, created_at=at(0), expires_at=None,
    )  # fmt: skip
    return {**row, **values}


async def _setup(db: Database, *gates: dict[str, Any]) -> None:
    await add(db, flows, flow("f1"))
    await add(db, executions, [execution("e1"), execution("e2")])
    async with db.write() as conn:
        await conn.execute(store.INSERT_APPROVAL, list(gates))


async def test_a_gate_is_decided_once_and_the_second_decision_is_refused(db: Database) -> None:
    await _setup(db, gate("g"))
    async with db.write() as conn:
        assert await store.decide(conn, "g", status=GateStatus.APPROVED, by="alice", comment="ok", at=at(5))
        assert not await store.decide(conn, "g", status=GateStatus.REJECTED, by="bob", comment="no", at=at(6))
        assert not await store.decide(conn, "missing", status=GateStatus.REJECTED, by="bob", comment=None, at=at(6))
        row = await store.get(conn, "g")
    assert row is not None
    assert (row.status, row.decided_by, row.comment, row.decided_at) == ("APPROVED", "alice", "ok", at(5))


async def test_two_deciders_at_once_have_exactly_one_winner(db: Database) -> None:
    await _setup(db, gate("g"))

    async def decide(by: str) -> bool:
        async with db.write() as conn:
            return await store.decide(conn, "g", status=GateStatus.APPROVED, by=by, comment=None, at=at(1))

    assert sorted(await asyncio.gather(decide("alice"), decide("bob"))) == [False, True]


async def test_pending_gates_expire_soonest_first_and_decided_ones_never(db: Database) -> None:
    await _setup(db, gate("later", expires_at=at(20)), gate("soon", expires_at=at(10)), gate("never"),
                 gate("decided", expires_at=at(1), status=GateStatus.APPROVED), gate("future", expires_at=at(99)))  # fmt: skip
    async with db.read() as conn:
        assert [g.id for g in await store.due_to_expire(conn, at(20))] == ["soon", "later"]
        assert [g.id for g in await store.due_to_expire(conn, at(20), limit=1)] == ["soon"]
        assert await store.next_expiry(conn) == at(10)


async def test_with_nothing_pending_there_is_no_next_expiry(db: Database) -> None:
    await _setup(db, gate("decided", expires_at=at(1), status=GateStatus.EXPIRED))
    async with db.read() as conn:
        assert await store.next_expiry(conn) is None


async def test_approvals_list_newest_first_filtered_with_a_total(db: Database) -> None:
    await _setup(db, gate("a", created_at=at(1)), gate("b", created_at=at(3), execution_id="e2"),
                 gate("c", created_at=at(2), status=GateStatus.REJECTED), gate("d", created_at=at(4)))  # fmt: skip
    async with db.read() as conn:
        page, total = await store.list_approvals(conn, limit=3)
        pending, n = await store.list_approvals(conn, status=GateStatus.PENDING, execution_id="e1")
        mine = await store.pending_for_execution(conn, "e1")
    assert [g.id for g in page] == ["d", "b", "c"] and total == 4
    assert ([g.id for g in pending], n) == (["d", "a"], 2)
    assert sorted(g.id for g in mine) == ["a", "d"]


async def test_a_task_runs_gate_is_its_newest_and_any_decided_says_whether_one_was(db: Database) -> None:
    await _setup(db, gate("old", task_run_id="r1", created_at=at(1), status=GateStatus.EXPIRED),
                 gate("new", task_run_id="r1", created_at=at(2)), gate("other", task_run_id="r2"))  # fmt: skip
    async with db.read() as conn:
        found = await store.for_task_run(conn, "r1")
        assert found is not None and found.id == "new"
        assert await store.for_task_run(conn, "r9") is None
        assert await store.any_decided(conn, ["new", "old"])
        assert not await store.any_decided(conn, ["new", "other", "missing"])
        assert not await store.any_decided(conn, [])
