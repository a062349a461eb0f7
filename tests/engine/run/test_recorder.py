"""The recorder's own contract, driven directly: a `Recorder` on a real journal, under the
lease guard of an execution claimed with the store's own claim, as a runner builds it.

What users rely on: a transition or a log line is durable before its event is published, and
in the order written; every value leaves masked; a recorder whose lease is gone records
nothing; a burst of writes is bounded by `keep_up`.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from dataclasses import field
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from tests.engine.stored import stored_task_runs
from tests.support_plugins import registry_with_test_plugins
from workflowdev.engine.events import EXECUTION_UPDATED
from workflowdev.engine.events import LOG
from workflowdev.engine.events import TASK_UPDATED
from workflowdev.engine.events import Event
from workflowdev.engine.node.dispatcher import new_lease_token
from workflowdev.engine.node.engine import Engine
from workflowdev.engine.node.engine import EngineSettings
from workflowdev.engine.run.lifecycle import IllegalTransition
from workflowdev.engine.run.recorder import MAX_LOG_MESSAGE
from workflowdev.engine.run.recorder import MAX_OUTSTANDING
from workflowdev.engine.run.recorder import Recorder
from workflowdev.engine.run.recorder import TaskRunState
from workflowdev.engine.run.recorder import log_json
from workflowdev.engine.run.recorder import new_id
from workflowdev.engine.secrets import SecretMasker
from workflowdev.engine.services.actor import SYSTEM
from workflowdev.store import executions as store
from workflowdev.store.database import Database
from workflowdev.store.journal import Guard
from workflowdev.store.journal import Journal
from workflowdev.store.journal import LeaseLost

REGISTRY = registry_with_test_plugins()
OWNER = "node-a"
SECRET = "hunter2-s3cret"


@dataclass
class Leased:
    """A node, one execution claimed by OWNER, and the guard of that grant."""

    node: Engine
    execution_id: str
    guard: Guard

    def recorder(
        self, *, masker: SecretMasker | None = None, log_seq: int = 0, journal: Journal | None = None, **kw: Any
    ) -> Recorder:
        return Recorder(
            journal or self.node.journal, self.node.bus, self.execution_id, self.guard,
            masker or SecretMasker(), self.node.deps.clock, log_seq=log_seq, **kw,
        )  # fmt: skip


@dataclass
class Trace:
    """An `ExecutionTrace` that keeps what it is given."""

    ended: list[TaskRunState] = field(default_factory=list)

    def task_ended(self, run: TaskRunState) -> None:
        self.ended.append(run)

    def execution_ended(self, status: str, error: str | None, at: datetime) -> None:
        pass


@pytest.fixture
async def leased(db: Database, tmp_path: Path) -> AsyncIterator[Leased]:
    node = Engine(db, REGISTRY, EngineSettings(node_id=OWNER, workdir_root=tmp_path, roles=frozenset({"api"})))
    await node.journal.start()
    try:
        flow = await node.flow_service.create(
            yaml_content="name: f\ntasks:\n  - {name: t, type: util.noop}\n", actor=SYSTEM
        )
        execution_id = (await node.executions.start(flow.id, actor=SYSTEM))["executionId"]
        yield Leased(node, execution_id, await claim(node, execution_id, OWNER))
    finally:
        await node.journal.stop()


async def claim(node: Engine, execution_id: str, owner: str, *, later: timedelta = timedelta(0)) -> Guard:
    """A grant of the lease to `owner` (at `later`, for the current one to look expired)."""
    now = node.deps.clock() + later
    token = new_lease_token()
    async with node.db.write() as conn:
        claimed = await store.claim(
            conn, owner=owner, now=now, lease_until=now + timedelta(minutes=5), limit=1, token=token
        )
    assert claimed == [execution_id]
    return Guard(execution_id, owner, token)


def start(recorder: Recorder, name: str = "t", **kw: Any) -> TaskRunState:
    return recorder.task_started(
        key=name, task_name=name, task_type="util.noop", parent_id=None, iteration=None, attempt=1, **kw
    )


async def stored_runs(leased: Leased) -> list[Any]:
    return await stored_task_runs(leased.node.db, leased.execution_id)


async def stored_logs(leased: Leased) -> list[Any]:
    async with leased.node.db.read() as conn:
        return list(await store.list_logs(conn, leased.execution_id))


async def drain(subscription: Any) -> list[Event]:
    """The events published to `subscription` so far (publishing is synchronous: after a
    flush, whatever was to be published is in its queue)."""
    events = []
    while not subscription.queue.empty():
        event = subscription.queue.get_nowait()
        assert event is not None, "the subscription was cut off"
        events.append(event)
    return events


async def test_nothing_is_published_before_its_commit_and_events_follow_the_write_order(
    db: Database, leased: Leased
) -> None:
    """Writes made while the journal cannot commit stay unannounced; once committed, their
    events arrive in the order written, saying what the database holds."""
    journal = Journal(db)  # not started yet: nothing can commit
    recorder = leased.recorder(journal=journal)
    events = leased.node.bus.subscribe(execution_id=leased.execution_id)
    run = start(recorder)
    recorder.log("info", "working", run=run)
    recorder.task_finished(run, "SUCCESS", outputs={"n": 1})
    skipped = start(recorder, "later", status="SKIPPED")
    await asyncio.sleep(0)
    assert await drain(events) == [] and await stored_runs(leased) == []
    await journal.start()
    try:
        await recorder.flush()
    finally:
        await journal.stop()
    got = await drain(events)
    assert [(e.type, e.data.get("taskName"), e.data.get("status")) for e in got] == [
        (TASK_UPDATED, "t", "RUNNING"),
        (LOG, "t", None),
        (TASK_UPDATED, "t", "SUCCESS"),
        (TASK_UPDATED, "later", "SKIPPED"),
    ]
    rows = {r.id: r for r in await stored_runs(leased)}
    assert rows[run.id].status == "SUCCESS" and json.loads(rows[run.id].outputs) == {"n": 1}
    assert rows[skipped.id].finished_at == rows[skipped.id].started_at and rows[skipped.id].duration_ms == 0
    (line,) = await stored_logs(leased)
    assert got[1].data == log_json(line), "a log line reads the same from the stream and from the store"


async def test_log_lines_are_numbered_on_from_the_walks_start_and_carry_their_task(leased: Leased) -> None:
    """A resumed walk goes on from the last seq recorded, so a follower never sees a seq twice."""
    recorder = leased.recorder(log_seq=41)
    run = start(recorder)
    recorder.log("warning", "with a task", run=run)
    recorder.log("info", "about the execution")
    await recorder.flush()
    lines = await stored_logs(leased)
    assert [(x.seq, x.level, x.task_run_id, x.task_name, x.attempt, x.message) for x in lines] == [
        (42, "warning", run.id, "t", 1, "with a task"),
        (43, "info", None, None, None, "about the execution"),
    ]


async def test_a_log_line_over_the_limit_is_cut_saying_how_much(leased: Leased) -> None:
    recorder = leased.recorder()
    recorder.log("info", "x" * (MAX_LOG_MESSAGE + 10))
    await recorder.flush()
    (line,) = await stored_logs(leased)
    assert line.message == "x" * MAX_LOG_MESSAGE + "… [10 characters cut]"


async def test_every_value_leaves_masked_for_the_database_the_bus_and_the_tracer(leased: Leased) -> None:
    """Outputs (even when the caller encoded them itself), errors, log lines, and whatever
    else a runner writes through `write`, with its event."""
    masker = SecretMasker()
    masker.add(SECRET)
    trace = Trace()
    recorder = leased.recorder(masker=masker, trace=trace)
    events = leased.node.bus.subscribe(execution_id=leased.execution_id)
    raw = {"token": SECRET, "nested": [f"a {SECRET} b"], SECRET: 1}
    run = start(recorder)
    recorder.log("info", f"using {SECRET}", run=run)
    recorder.task_finished(run, "SUCCESS", outputs=raw, outputs_text=json.dumps(raw))
    failed = start(recorder, "other")
    recorder.task_finished(failed, "FAILED", error=f"refused {SECRET}")
    finish = {"execution_id": leased.execution_id, "status": "FAILED", "error": f"other: refused {SECRET}", "outputs": raw,
              "tasks_executed": 2, "finished_at": leased.node.deps.clock(), "duration_ms": 1}  # fmt: skip
    recorder.write([(store.FINISH_EXECUTION, finish)], Event(EXECUTION_UPDATED, leased.execution_id, {"error": SECRET}))
    await recorder.flush()
    async with leased.node.db.read() as conn:
        execution = await store.get_execution(conn, leased.execution_id)
    stored = (
        [tuple(r) for r in await stored_runs(leased)]
        + [tuple(x) for x in await stored_logs(leased)]
        + [tuple(execution)]
    )
    published = [e.data for e in await drain(events)]
    traced = [(r.outputs, r.outputs_text, r.error) for r in trace.ended]
    for where, values in (("database", stored), ("bus", published), ("tracer", traced)):
        assert SECRET not in repr(values), where
    assert json.loads(next(r.outputs for r in await stored_runs(leased) if r.id == run.id)) == {
        "token": "***",
        "nested": ["a *** b"],
        "***": 1,
    }
    assert execution.error == "other: refused ***" and execution.outputs["token"] == "***"


@hsettings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    secret=st.text(alphabet="QXZJKW", min_size=4, max_size=24),
    before=st.integers(MAX_LOG_MESSAGE - 30, MAX_LOG_MESSAGE + 2),
)
async def test_a_secret_is_masked_before_a_long_line_is_cut(leased: Leased, secret: str, before: int) -> None:
    """Wherever the secret falls against the cut, no part of it is stored: the line is masked,
    then cut (the other way round, a cut through the secret would leave its head unmasked)."""
    masker = SecretMasker()
    masker.add(secret)
    recorder = leased.recorder(masker=masker)
    recorder.log("info", "a" * before + secret + "a" * 40)
    await recorder.flush()
    (line,) = await stored_logs(leased)
    async with leased.node.db.write() as conn:  # the next example (same fixture) writes seq 1 again
        await conn.execute(store.logs.delete().where(store.logs.c.execution_id == leased.execution_id))
    assert not set(line.message) & set("QXZJKW"), line.message[-80:]


async def test_after_the_lease_is_granted_again_nothing_is_recorded_or_published(leased: Leased) -> None:
    """The runner hears it once per refused write (`on_failure`), and must stop."""
    failures: list[BaseException] = []
    recorder = leased.recorder(on_failure=failures.append)
    await claim(leased.node, leased.execution_id, "node-b", later=timedelta(minutes=10))
    events = leased.node.bus.subscribe(execution_id=leased.execution_id)
    run = start(recorder)
    recorder.log("info", "too late", run=run)
    await recorder.flush()
    assert [type(f) for f in failures] == [LeaseLost, LeaseLost]
    assert await stored_runs(leased) == [] and await stored_logs(leased) == []
    assert await drain(events) == []


async def test_an_illegal_move_is_refused_before_anything_is_written(leased: Leased) -> None:
    recorder = leased.recorder()
    with pytest.raises(IllegalTransition):
        start(recorder, status="SUCCESS")
    run = start(recorder)
    recorder.task_finished(run, "SUCCESS")
    with pytest.raises(IllegalTransition):
        recorder.task_finished(run, "FAILED", error="twice")
    with pytest.raises(IllegalTransition):
        recorder.task_status(run, "RUNNING")
    await recorder.flush()
    assert [(r.id, r.status, r.error) for r in await stored_runs(leased)] == [(run.id, "SUCCESS", None)]


async def test_closing_a_run_an_earlier_walk_left_open_publishes_nothing(leased: Leased) -> None:
    """No listener follows a walk that is over; the row is ended with the time given."""
    earlier = leased.recorder()
    run = start(earlier)
    await earlier.flush()
    events = leased.node.bus.subscribe(execution_id=leased.execution_id)
    at = run.started_at + timedelta(seconds=2)
    resumed = leased.recorder()
    resumed.task_closed(run.id, "RUNNING", "CANCELLED", "interrupted", at, run.started_at)
    await resumed.flush()
    (row,) = await stored_runs(leased)
    assert (row.status, row.error, row.finished_at, row.duration_ms) == ("CANCELLED", "interrupted", at, 2000)
    assert await drain(events) == []


async def test_keep_up_waits_while_too_many_writes_await_their_commit(db: Database, leased: Leased) -> None:
    """A loop of quick tasks cannot queue writes without bound: past MAX_OUTSTANDING it waits
    until at least half of them are durable. Until the journal runs nothing can commit, so the
    waiter cannot be done before."""
    journal = Journal(db)
    recorder = leased.recorder(journal=journal)
    for n in range(10):
        recorder.log("debug", f"line {n}")
    await asyncio.wait_for(recorder.keep_up(), 1)  # few outstanding: no wait
    total = MAX_OUTSTANDING + 10
    for n in range(10, total):
        recorder.log("debug", f"line {n}")
    waiters = [asyncio.create_task(recorder.keep_up()) for _ in range(2)]
    for _ in range(5):
        await asyncio.sleep(0)
    assert not any(w.done() for w in waiters)
    waiters[1].cancel()  # one waiter cancelled does not end the wait of the others
    await journal.start()
    try:
        await asyncio.wait_for(waiters[0], 10)
        assert len(await stored_logs(leased)) >= total - MAX_OUTSTANDING // 2
        await recorder.flush()
    finally:
        await journal.stop()
    assert len(await stored_logs(leased)) == total


def test_run_ids_are_distinct_random_uuids() -> None:
    ids = [new_id() for _ in range(20_000)]
    assert len(set(ids)) == len(ids)
    assert {uuid.UUID(i).version for i in ids[:100]} == {4}
