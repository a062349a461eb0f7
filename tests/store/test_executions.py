"""store/executions.py: listings and their order, the lease queries, the guarded status change,
and the statements the journal sends for running executions."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from tests.store.rows import T0
from tests.store.rows import add
from tests.store.rows import at
from tests.store.rows import execution
from tests.store.rows import executions
from tests.store.rows import flow
from tests.store.rows import flows
from tests.store.rows import log
from tests.store.rows import logs
from tests.store.rows import read
from tests.store.rows import task_run
from tests.store.rows import task_runs
from workflowdev.store import executions as store
from workflowdev.store.database import Database
from workflowdev.store.statuses import ExecutionStatus
from workflowdev.store.statuses import TaskStatus

NODE = "node-a"


async def _flows(db: Database, *ids: str) -> None:
    await add(db, flows, [flow(i) for i in ids or ("f1",)])


async def _one(db: Database, execution_id: str) -> object:
    async with db.read() as conn:
        row = await store.get_execution(conn, execution_id)
    assert row is not None
    return row


async def test_executions_list_newest_first_with_ties_broken_by_id_and_a_total_before_paging(db: Database) -> None:
    await _flows(db)
    await add(db, executions, [execution("a", created_at=at(1)), execution("c", created_at=at(2)),
                               execution("b", created_at=at(2)), execution("d", created_at=at(0))])  # fmt: skip
    async with db.read() as conn:
        first, total = await store.list_executions(conn, limit=2)
        second, again = await store.list_executions(conn, limit=2, offset=2)
    assert [r.id for r in first] + [r.id for r in second] == ["c", "b", "a", "d"]
    assert total == again == 4


async def test_execution_filters_combine_and_the_total_counts_only_what_matches(db: Database) -> None:
    await _flows(db, "f1", "f2")
    await add(db, executions, [
        execution("a", "f1", status="SUCCESS", created_at=at(1)),
        execution("b", "f1", status="FAILED", created_at=at(2)),
        execution("c", "f2", status="SUCCESS", created_at=at(3), namespace="other"),
        execution("d", "f1", status="SUCCESS", created_at=at(-5)),
    ])  # fmt: skip
    async with db.read() as conn:
        rows, total = await store.list_executions(conn, flow_id="f1", status=["SUCCESS"], since=at(0), limit=10)
        assert ([r.id for r in rows], total) == (["a"], 1)
        rows, total = await store.list_executions(conn, namespace="other", limit=10)
        assert ([r.id for r in rows], total) == (["c"], 1)
        rows, total = await store.list_executions(conn, status=["SUCCESS", "FAILED"], limit=1)
        assert ([r.id for r in rows], total) == (["c"], 4)


async def test_an_executions_task_runs_page_in_start_order_then_key_then_attempt(db: Database) -> None:
    await _flows(db)
    await add(db, executions, [execution("e1"), execution("e2")])
    await add(db, task_runs, [
        task_run("r3", "e1", key="b", started_at=at(1), attempt=2, status="SUCCESS"),
        task_run("r2", "e1", key="b", started_at=at(1), attempt=1, status="FAILED"),
        task_run("r1", "e1", key="a", started_at=at(1), status="SUCCESS"),
        task_run("r0", "e1", key="z", started_at=at(0), status="SUCCESS"),
        task_run("x", "e2", key="a", started_at=at(0)),
    ])  # fmt: skip
    async with db.read() as conn:
        page, total = await store.list_task_runs(conn, "e1", limit=3)
        rest, _ = await store.list_task_runs(conn, "e1", limit=3, offset=3)
        failed, failed_total = await store.list_task_runs(conn, "e1", status=["FAILED"], limit=10)
        named, named_total = await store.list_task_runs(conn, "e1", task_name="b", limit=1)
        grouped = await store.task_runs_of(conn, ["e1", "e2", "missing"])
    assert [r.id for r in page] + [r.id for r in rest] == ["r0", "r1", "r2", "r3"]
    assert total == 4
    assert ([r.id for r in failed], failed_total) == (["r2"], 1)
    assert ([r.id for r in named], named_total) == (["r2"], 2)
    assert {k: [r.id for r in v] for k, v in grouped.items()} == {"e1": ["r0", "r1", "r2", "r3"], "e2": ["x"]}


async def test_logs_read_in_sequence_after_a_given_line_and_the_last_seq_is_known_per_execution(db: Database) -> None:
    await _flows(db)
    await add(db, executions, [execution("e1"), execution("e2"), execution("quiet")])
    await add(db, logs, [log("e1", s) for s in (3, 1, 2, 5, 4)] + [log("e2", 1)])
    async with db.read() as conn:
        after_two = await store.list_logs(conn, "e1", after_seq=2)
        limited = await store.list_logs(conn, "e1", after_seq=1, limit=2)
        seqs = await store.max_log_seqs(conn, ["e1", "e2", "quiet"])
        line = await store.get_log(conn, "e1", 4)
        assert await store.max_log_seqs(conn, []) == {}
    assert [r.seq for r in after_two] == [3, 4, 5]
    assert [r.seq for r in limited] == [2, 3]
    assert seqs == {"e1": 5, "e2": 1}, "an execution with no log line has no entry"
    assert line is not None and line.message == "line 4"


async def test_executions_by_id_skip_the_missing_and_a_child_is_found_by_its_parent_task_run(db: Database) -> None:
    await _flows(db)
    await add(db, executions, [execution("p"), execution("c", parent_execution_id="p", parent_task_run_id="tr1")])
    async with db.read() as conn:
        assert set(await store.get_executions(conn, ["p", "c", "nope"])) == {"p", "c"}
        assert await store.get_executions(conn, []) == {}
        assert await store.child_of(conn, "tr1") == "c"
        assert await store.child_of(conn, "tr2") is None
    async with db.write() as conn:
        locked = await store.lock_execution(conn, "p")
        assert locked is not None and locked.id == "p"
        assert await store.lock_execution(conn, "nope") is None


async def test_running_places_count_running_and_paused_executions_of_a_flow_or_a_batch(db: Database) -> None:
    await _flows(db, "f1", "f2")
    await add(db, executions, [
        execution("a", "f1", status="RUNNING", batch_id="b1"),
        execution("b", "f1", status="PAUSED"),
        execution("c", "f1", status="QUEUED", batch_id="b1"),
        execution("d", "f1", status="SUCCESS", batch_id="b1"),
        execution("e", "f2", status="RUNNING", batch_id="b1"),
    ])  # fmt: skip
    async with db.read() as conn:
        assert await store.count_running(conn, flow_id="f1") == 2
        assert await store.count_running(conn, batch_id="b1") == 2
        assert await store.count_running(conn, flow_id="f3") == 0


async def test_a_claim_takes_the_oldest_queued_and_the_running_whose_lease_ran_out(db: Database) -> None:
    await _flows(db)
    now = at(100)
    await add(db, executions, [
        execution("q-new", created_at=at(3)),
        execution("q-old", created_at=at(1)),
        execution("stale", status="RUNNING", created_at=at(2), lease_owner="node-b", lease_expires_at=at(99)),
        execution("held", status="RUNNING", created_at=at(0), lease_owner="node-b", lease_expires_at=at(101)),
        execution("done", status="SUCCESS", created_at=at(0)),
        execution("paused", status="PAUSED", created_at=at(0)),
    ])  # fmt: skip
    async with db.write() as conn:
        first = await store.claim(conn, owner=NODE, now=now, lease_until=at(130), limit=2, token="t1")
        rest = await store.claim(conn, owner=NODE, now=now, lease_until=at(130), limit=5, token="t2")
        none_left = await store.claim(conn, owner=NODE, now=now, lease_until=at(130), limit=5, token="t3")
    assert first == ["q-old", "stale"]
    assert rest == ["q-new"]
    assert none_left == []
    taken = {r.id: r for r in await read(db, executions, executions.c.lease_owner == NODE)}
    assert set(taken) == {"q-old", "stale", "q-new"}
    assert (taken["stale"].lease_token, taken["stale"].lease_expires_at) == ("t1", at(130))
    assert taken["q-new"].lease_token == "t2"


async def test_a_claim_passes_over_the_excluded_to_reach_the_work_queued_behind_them(db: Database) -> None:
    await _flows(db)
    await add(db, executions, [execution(f"e{i}", created_at=at(i)) for i in range(4)])
    async with db.write() as conn:
        got = await store.claim(conn, owner=NODE, now=at(10), lease_until=at(40), limit=2, token="t", exclude=["e0", "e1"])
    assert got == ["e2", "e3"]


async def test_two_nodes_claiming_at_once_never_take_the_same_execution(db: Database) -> None:
    await _flows(db)
    await add(db, executions, [execution(f"e{i}", created_at=at(i)) for i in range(6)])

    async def node(name: str) -> list[str]:
        async with db.write() as conn:
            return await store.claim(conn, owner=name, now=at(10), lease_until=at(40), limit=4, token=name)

    a, b = await asyncio.gather(node("node-a"), node("node-b"))
    assert not set(a) & set(b)
    assert sorted(a + b) == [f"e{i}" for i in range(6)]


async def test_leases_are_renewed_only_for_the_owner_under_the_token_it_holds(db: Database) -> None:
    await _flows(db)
    await add(db, executions, [
        execution("mine", status="RUNNING", lease_owner=NODE, lease_token="t1", lease_expires_at=at(10)),
        execution("regranted", status="RUNNING", lease_owner=NODE, lease_token="t9", lease_expires_at=at(10)),
        execution("theirs", status="RUNNING", lease_owner="node-b", lease_token="t1", lease_expires_at=at(10)),
    ])  # fmt: skip
    tokens: dict[str, str | None] = {"mine": "t1", "regranted": "t1", "theirs": "t1", "gone": "t1"}
    async with db.write() as conn:
        held = await store.renew_leases(conn, owner=NODE, tokens=tokens, now=at(5), lease_until=at(40))
        assert await store.renew_leases(conn, owner=NODE, tokens={}, now=at(5), lease_until=at(40)) == set()
    assert held == {"mine"}
    rows = {r.id: r for r in await read(db, executions)}
    assert (rows["mine"].lease_expires_at, rows["mine"].alive_at) == (at(40), at(5))
    assert rows["regranted"].lease_expires_at == at(10) and rows["regranted"].alive_at is None
    assert rows["theirs"].lease_expires_at == at(10)


async def test_a_node_hands_back_its_running_leases_and_says_when_work_ended_only_if_stopping(db: Database) -> None:
    await _flows(db)
    await add(db, executions, [
        execution("run1", status="RUNNING", lease_owner=NODE, lease_expires_at=at(60), alive_at=at(1)),
        execution("run2", status="RUNNING", lease_owner="node-b", lease_expires_at=at(60), alive_at=at(1)),
        execution("queued", status="QUEUED", lease_owner=NODE, lease_expires_at=at(60)),
    ])  # fmt: skip
    async with db.write() as conn:
        assert await store.expire_leases_of(conn, NODE, at(10)) == 1
    rows = {r.id: r for r in await read(db, executions)}
    assert (rows["run1"].lease_expires_at, rows["run1"].alive_at) == (at(10), at(1)), "a restart keeps the last renewal"
    assert rows["run2"].lease_expires_at == at(60) and rows["queued"].lease_expires_at == at(60)
    async with db.write() as conn:
        assert await store.expire_leases_of(conn, NODE, at(20), stopping=True) == 1
    (row,) = await read(db, executions, executions.c.id == "run1")
    assert (row.lease_expires_at, row.alive_at) == (at(20), at(20))
    async with db.write() as conn:
        got = await store.claim(conn, owner="node-b", now=at(21), lease_until=at(50), limit=5, token="t")
    assert set(got) == {"run1"}, "the handed-back execution is claimable at once; the queued one is leased"


async def test_a_guarded_status_change_is_refused_once_the_execution_moved_on(db: Database) -> None:
    await _flows(db)
    await add(db, executions, execution("e1", status="RUNNING"))
    async with db.write() as conn:
        assert await store.set_status_if(conn, "e1", expected=["RUNNING", "PAUSED"], status="CANCELLED", error="stop")
        assert not await store.set_status_if(conn, "e1", expected=["RUNNING"], status="FAILED", error="late")
        assert not await store.set_status_if(conn, "nope", expected=["RUNNING"], status="FAILED")
    row = await _one(db, "e1")
    assert (row.status, row.error) == ("CANCELLED", "stop")  # type: ignore[attr-defined]


async def test_cancel_requests_are_reported_for_the_asked_ids_only(db: Database) -> None:
    await _flows(db)
    await add(db, executions, [execution("a", cancel_requested=True), execution("b"), execution("c", cancel_requested=True)])
    async with db.read() as conn:
        assert await store.cancel_requested(conn, ["a", "b"]) == {"a"}
        assert await store.cancel_requested(conn, []) == set()


async def test_ending_from_outside_closes_only_the_open_task_runs(db: Database) -> None:
    await _flows(db)
    await add(db, executions, [execution("e1"), execution("e2")])
    await add(db, task_runs, [
        task_run("q", "e1", status="QUEUED"), task_run("r", "e1", status="RUNNING"),
        task_run("w", "e1", status="WAITING"), task_run("s", "e1", status="SUCCESS", finished_at=at(1)),
        task_run("other", "e2", status="RUNNING"),
    ])  # fmt: skip
    async with db.write() as conn:
        await store.finish_open_task_runs(conn, "e1", TaskStatus.CANCELLED, at(9))
    rows = {r.id: r for r in await read(db, task_runs)}
    assert {i: (rows[i].status, rows[i].finished_at) for i in "qrw"} == {i: ("CANCELLED", at(9)) for i in "qrw"}
    assert (rows["s"].status, rows["s"].finished_at) == ("SUCCESS", at(1))
    assert rows["other"].status == "RUNNING"
    async with db.read() as conn:
        one = await store.get_task_run(conn, "s")
        assert one is not None and one.execution_id == "e1"
        assert await store.get_task_run(conn, "nope") is None


async def test_a_runners_statements_keep_the_first_start_count_only_while_running_and_clear_the_lease_at_the_end(
    db: Database,
) -> None:
    """The statements the journal merges: their fixed values are part of the contract."""
    await _flows(db)
    await add(db, executions, execution("e1", lease_owner=NODE, lease_token="t", lease_expires_at=at(60), cancel_requested=True))
    async with db.write() as conn:
        await conn.execute(store.SET_EXECUTION_RUNNING, {"execution_id": "e1", "now": at(1)})
        await conn.execute(store.SET_EXECUTION_RUNNING, {"execution_id": "e1", "now": at(5)})
        await conn.execute(store.SET_TASKS_EXECUTED, {"execution_id": "e1", "tasks_executed": 3})
    row = await _one(db, "e1")
    assert (row.status, row.started_at, row.alive_at, row.tasks_executed) == ("RUNNING", at(1), at(5), 3)  # type: ignore[attr-defined]

    async with db.write() as conn:
        await conn.execute(store.PARK_EXECUTION, {"execution_id": "e1", "tasks_executed": 4})
        await conn.execute(store.SET_TASKS_EXECUTED, {"execution_id": "e1", "tasks_executed": 99})
    row = await _one(db, "e1")
    assert (row.status, row.tasks_executed, row.lease_owner) == ("PAUSED", 4, None), "counted only while running"  # type: ignore[attr-defined]

    end = {"execution_id": "e1", "status": ExecutionStatus.SUCCESS, "error": None, "outputs": {"x": 1},
           "tasks_executed": 5, "finished_at": at(9), "duration_ms": 8000}  # fmt: skip
    async with db.write() as conn:
        await conn.execute(store.FINISH_EXECUTION, end)
    row = await _one(db, "e1")
    assert (row.status, row.outputs, row.finished_at, row.duration_ms) == ("SUCCESS", {"x": 1}, at(9), 8000)  # type: ignore[attr-defined]
    assert (row.lease_owner, row.lease_expires_at, row.cancel_requested) == (None, None, False)  # type: ignore[attr-defined]


async def test_a_task_run_is_inserted_set_and_finished_by_the_journals_statements(db: Database) -> None:
    await _flows(db)
    await add(db, executions, execution("e1"))
    async with db.write() as conn:
        await conn.execute(store.INSERT_TASK_RUN, [task_run("r1", "e1", status="QUEUED"), task_run("r2", "e1", status="QUEUED")])
        await conn.execute(store.SET_TASK_RUN_STATUS, [{"run_id": "r1", "status": "RUNNING"}, {"run_id": "r2", "status": "WAITING"}])
        await conn.execute(store.FINISH_TASK_RUN, {"run_id": "r1", "status": "SUCCESS", "outputs": '{"a":1}', "error": None,
                                                   "finished_at": at(2), "duration_ms": 2000})  # fmt: skip
    rows = {r.id: r for r in await read(db, task_runs)}
    assert (rows["r1"].status, rows["r1"].outputs, rows["r1"].duration_ms) == ("SUCCESS", '{"a":1}', 2000)
    assert rows["r2"].status == "WAITING"


async def test_sealed_inputs_are_listed_only_where_present_and_can_be_resealed(db: Database) -> None:
    await _flows(db)
    await add(db, executions, [execution("plain"), execution("sealed", sealed_inputs="v1:abc")])
    async with db.write() as conn:
        assert [(r.id, r.sealed_inputs) for r in await store.sealed_inputs(conn)] == [("sealed", "v1:abc")]
        await store.set_sealed_inputs(conn, "sealed", "v2:def")
    async with db.read() as conn:
        assert [(r.id, r.sealed_inputs) for r in await store.sealed_inputs(conn)] == [("sealed", "v2:def")]


async def test_a_lease_at_its_very_expiry_instant_is_still_held(db: Database) -> None:
    """`lease_expires_at < now` is expiry: at the instant itself the holder keeps it."""
    await _flows(db)
    await add(db, executions, execution("e1", status="RUNNING", lease_owner="node-b", lease_expires_at=T0))
    async with db.write() as conn:
        assert await store.claim(conn, owner=NODE, now=T0, lease_until=T0 + timedelta(seconds=30), limit=1, token="t") == []
        later = T0 + timedelta(microseconds=1000)
        assert await store.claim(conn, owner=NODE, now=later, lease_until=later + timedelta(seconds=30), limit=1, token="t") == ["e1"]
