"""The runner's own contract, driven directly: one `Runner` per walk, built from the stored
execution and its task runs as the dispatcher builds it, under a lease taken with the store's
own claim. No dispatcher and no HTTP: what is asserted is what the walk recorded.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from collections.abc import Awaitable
from collections.abc import Callable
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from tests.engine.flows_helpers import eventually
from tests.engine.stored import stored_execution
from tests.engine.stored import stored_task_runs
from tests.support_plugins import registry_with_test_plugins
from workflowdev.engine.node.dispatcher import new_lease_token
from workflowdev.engine.node.engine import Engine
from workflowdev.engine.node.engine import EngineSettings
from workflowdev.engine.run.limits import RunLimits
from workflowdev.engine.run.mocks import TaskMock
from workflowdev.engine.run.runner import Runner
from workflowdev.engine.run.runner import idempotency_key
from workflowdev.engine.run.runner import interrupted_at
from workflowdev.engine.services.actor import SYSTEM
from workflowdev.store import executions as store
from workflowdev.store.database import Database

REGISTRY = registry_with_test_plugins()
OWNER = "node-a"
NodeFactory = Callable[..., Awaitable[Engine]]


@pytest.fixture
async def make_node(db: Database, tmp_path: Path) -> AsyncIterator[NodeFactory]:
    """API-only engines (their own dispatcher never runs); `settings` as `EngineSettings` takes."""
    made: list[Engine] = []

    async def make(**settings: Any) -> Engine:
        node = Engine(
            db, REGISTRY, EngineSettings(node_id=OWNER, workdir_root=tmp_path, roles=frozenset({"api"}), **settings)
        )
        await node.journal.start()
        made.append(node)
        return node

    yield make
    for node in made:
        await node.journal.stop()


@pytest.fixture
async def node(make_node: NodeFactory) -> Engine:
    return await make_node()


async def queued(node: Engine, yaml: str) -> str:
    flow = await node.flow_service.create(yaml_content=yaml, actor=SYSTEM)
    return (await node.executions.start(flow.id, actor=SYSTEM))["executionId"]


async def walk_for(node: Engine, execution_id: str, *, owner: str = OWNER) -> Runner:
    """A runner for the next walk, as `Dispatcher._spawn` builds it: a claim, then the row, its
    task runs and its last log seq."""
    now = node.deps.clock()
    async with node.db.write() as conn:
        claimed = await store.claim(
            conn, owner=owner, now=now, lease_until=now + timedelta(minutes=5), limit=1, token=new_lease_token()
        )
        assert claimed == [execution_id]
        row = await store.get_execution(conn, execution_id)
        prior = (await store.task_runs_of(conn, [execution_id])).get(execution_id, [])
        seq = (await store.max_log_seqs(conn, [execution_id])).get(execution_id, 0)
    flow = await node.flows.load(node.db, row.flow_id, row.flow_revision)
    return Runner(node.deps, row, flow, prior, seq, owner)


async def walk(node: Engine, yaml: str) -> str:
    """Queue `yaml` and walk it to its end; returns the execution id."""
    execution_id = await queued(node, yaml)
    await (await walk_for(node, execution_id)).run()
    return execution_id


def by_name(rows: list[Any], name: str) -> list[tuple[int, str, str | None]]:
    """(attempt, status, error) of a task's runs, by attempt."""
    return sorted((r.attempt, r.status, r.error) for r in rows if r.task_name == name)


async def log_messages(node: Engine, execution_id: str) -> list[str]:
    async with node.db.read() as conn:
        return [line.message for line in await store.list_logs(conn, execution_id)]


async def until_task_runs(node: Engine, execution_id: str, name: str) -> Any:
    async def check() -> Any:
        rows = [r for r in await stored_task_runs(node.db, execution_id) if r.task_name == name and r.status == "RUNNING"]
        return rows[0] if rows else None

    return await eventually(check, timeout=20, what=f"{name} to run")


async def test_tasks_run_in_order_each_seeing_the_outputs_of_those_before(node: Engine) -> None:
    """Names that do not sort alphabetically: the order is the walk's, not the key's."""
    execution_id = await walk(
        node,
        """
name: ordered
tasks:
  - {name: zeta, type: util.echo, properties: {value: 1}}
  - {name: mid, type: util.echo, properties: {value: "{{ outputs.zeta.value + 1 }}"}}
  - {name: alpha, type: util.echo, properties: {value: "{{ outputs.mid.value * 10 }}"}}
""",
    )
    rows = await stored_task_runs(node.db, execution_id)
    assert [(r.task_name, r.attempt, r.status) for r in rows] == [
        ("zeta", 1, "SUCCESS"),
        ("mid", 1, "SUCCESS"),
        ("alpha", 1, "SUCCESS"),
    ]
    assert rows[0].started_at < rows[1].started_at < rows[2].started_at
    assert [json.loads(r.outputs) for r in rows] == [{"value": 1}, {"value": 2}, {"value": 20}]
    done = await stored_execution(node.db, execution_id)
    assert (done.status, done.error, done.tasks_executed, done.tasks_total) == ("SUCCESS", None, 3, 3)
    assert done.outputs == {"zeta": {"value": 1}, "mid": {"value": 2}, "alpha": {"value": 20}}
    assert done.lease_owner is None and done.finished_at is not None and done.duration_ms is not None


async def test_a_retried_task_records_each_attempt_as_its_own_run(node: Engine) -> None:
    execution_id = await walk(
        node,
        """
name: retried
tasks:
  - name: wobbly
    type: test.flaky
    retry: {max_attempts: 3, delay: 1ms}
    properties: {succeed_on_attempt: 3}
  - {name: after, type: util.echo, properties: {value: "{{ outputs.wobbly.attempt }}"}}
""",
    )
    rows = await stored_task_runs(node.db, execution_id)
    assert by_name(rows, "wobbly") == [
        (1, "FAILED", "flaky failure on attempt 1"),
        (2, "FAILED", "flaky failure on attempt 2"),
        (3, "SUCCESS", None),
    ]
    assert len({r.id for r in rows}) == len(rows) == 4
    assert [json.loads(r.outputs) for r in rows if r.task_name == "after"] == [{"value": 3}]
    retrying = [m for m in await log_messages(node, execution_id) if "retrying in" in m]
    assert retrying == [
        "wobbly attempt 1 failed: flaky failure on attempt 1; retrying in 0.001s",
        "wobbly attempt 2 failed: flaky failure on attempt 2; retrying in 0.001s",
    ]
    assert (await stored_execution(node.db, execution_id)).status == "SUCCESS"


async def test_a_task_out_of_attempts_fails_the_execution_and_nothing_after_it_runs(node: Engine) -> None:
    execution_id = await walk(
        node,
        """
name: spent
tasks:
  - name: wobbly
    type: test.flaky
    retry: {max_attempts: 2, delay: 1ms}
    properties: {succeed_on_attempt: 99}
  - {name: never, type: util.noop}
""",
    )
    rows = await stored_task_runs(node.db, execution_id)
    assert [(a, s) for a, s, _ in by_name(rows, "wobbly")] == [(1, "FAILED"), (2, "FAILED")]
    assert by_name(rows, "never") == []
    done = await stored_execution(node.db, execution_id)
    assert (done.status, done.error) == ("FAILED", "wobbly: flaky failure on attempt 2")
    assert (await log_messages(node, execution_id))[-1] == "wobbly failed: flaky failure on attempt 2"


async def test_a_task_past_its_timeout_ends_timed_out_and_fails_the_execution(node: Engine) -> None:
    execution_id = await walk(
        node,
        """
name: slow
tasks:
  - {name: stuck, type: test.hang, timeout: 50ms}
""",
    )
    assert by_name(await stored_task_runs(node.db, execution_id), "stuck") == [(1, "TIMED_OUT", "timed out after 0.05s")]
    done = await stored_execution(node.db, execution_id)
    assert (done.status, done.error) == ("FAILED", "stuck: timed out after 0.05s")


async def test_the_execution_timeout_ends_the_running_task_then_finally_runs(node: Engine) -> None:
    execution_id = await walk(
        node,
        """
name: slow-execution
timeout: 100ms
tasks:
  - {name: stuck, type: test.hang}
  - {name: never, type: util.noop}
finally:
  - {name: report, type: util.echo, properties: {value: "{{ execution.status }}"}}
""",
    )
    rows = await stored_task_runs(node.db, execution_id)
    assert by_name(rows, "stuck") == [(1, "TIMED_OUT", "execution timed out")]
    assert by_name(rows, "never") == []
    assert [json.loads(r.outputs) for r in rows if r.task_name == "report"] == [{"value": "TIMED_OUT"}]
    done = await stored_execution(node.db, execution_id)
    assert (done.status, done.error) == ("TIMED_OUT", "execution timed out after 0.1s")


async def test_a_plugin_that_raises_or_returns_no_json_fails_its_task_not_the_runner(node: Engine) -> None:
    """Under allow_failure the walk goes on past both, and the execution succeeds."""
    execution_id = await walk(
        node,
        """
name: misbehaving
tasks:
  - {name: raises, type: test.raises, allow_failure: true}
  - {name: bad, type: test.bad_output, allow_failure: true}
  - {name: after, type: util.noop}
""",
    )
    rows = await stored_task_runs(node.db, execution_id)
    assert by_name(rows, "raises") == [(1, "FAILED", "RuntimeError: boom from plugin")]
    ((_, status, error),) = by_name(rows, "bad")
    assert status == "FAILED" and error.startswith("the plugin returned outputs that are not JSON")
    assert [s for _, s, _ in by_name(rows, "after")] == ["SUCCESS"]
    assert (await stored_execution(node.db, execution_id)).status == "SUCCESS"


async def test_a_false_when_records_the_task_skipped_and_counts_it_done(node: Engine) -> None:
    execution_id = await walk(
        node,
        """
name: conditional
tasks:
  - {name: maybe, type: util.noop, when: "{{ false }}"}
  - {name: surely, type: util.noop}
""",
    )
    rows = await stored_task_runs(node.db, execution_id)
    (skipped,) = [r for r in rows if r.task_name == "maybe"]
    assert skipped.status == "SKIPPED" and skipped.finished_at == skipped.started_at and skipped.duration_ms == 0
    assert (await stored_execution(node.db, execution_id)).tasks_executed == 2


async def test_outputs_over_max_output_bytes_fail_the_task_naming_the_setting(make_node: NodeFactory) -> None:
    node = await make_node(limits=RunLimits(max_output_bytes=64))
    execution_id = await walk(
        node,
        """
name: big
tasks:
  - {name: small, type: util.echo, properties: {value: ok}}
  - {name: large, type: util.echo, properties: {value: "{{ 'x' * 100 }}"}}
""",
    )
    rows = await stored_task_runs(node.db, execution_id)
    assert [s for _, s, _ in by_name(rows, "small")] == ["SUCCESS"]
    ((_, status, error),) = by_name(rows, "large")
    assert status == "FAILED" and "max_output_bytes" in error and "the limit per task is 64" in error


async def test_the_task_past_max_task_runs_fails_without_a_run_and_finally_still_runs(make_node: NodeFactory) -> None:
    node = await make_node(limits=RunLimits(max_task_runs=2))
    execution_id = await walk(
        node,
        """
name: bounded
tasks:
  - {name: one, type: util.noop}
  - {name: two, type: util.noop}
  - {name: three, type: util.noop}
finally:
  - {name: report, type: util.noop}
""",
    )
    rows = await stored_task_runs(node.db, execution_id)
    assert [r.task_name for r in rows] == ["one", "two", "report"], "three fails without a run of its own"
    done = await stored_execution(node.db, execution_id)
    assert done.status == "FAILED" and done.error.startswith("three: the execution has recorded 2 task runs")
    assert "(max_task_runs)" in done.error


async def test_cancel_ends_the_running_task_cancelled_then_finally_runs(node: Engine) -> None:
    execution_id = await queued(
        node,
        """
name: cancellable
tasks:
  - {name: stuck, type: test.hang}
finally:
  - {name: cleanup, type: util.noop}
""",
    )
    runner = await walk_for(node, execution_id)
    walking = asyncio.create_task(runner.run())
    await until_task_runs(node, execution_id, "stuck")
    runner.stop("cancel")
    runner.stop("timeout")  # the first reason wins
    await walking
    rows = await stored_task_runs(node.db, execution_id)
    assert by_name(rows, "stuck") == [(1, "CANCELLED", "cancelled")]
    assert [s for _, s, _ in by_name(rows, "cleanup")] == ["SUCCESS"]
    done = await stored_execution(node.db, execution_id)
    assert (done.status, done.error, done.lease_owner) == ("CANCELLED", "cancelled", None)


async def test_a_shutdown_records_nothing_and_the_next_walk_resumes_without_repeating_finished_work(
    node: Engine,
) -> None:
    """Walk 1 stops at shutdown inside `slow`; walk 2 (a new grant) reuses `first`'s outputs
    (a fresh uuid() would differ), closes the run left open as interrupted, and runs `slow`
    again as attempt 2 (mocked: it would hang again)."""
    execution_id = await queued(
        node,
        """
name: resumable
tasks:
  - {name: first, type: util.echo, properties: {value: "{{ uuid() }}"}}
  - {name: slow, type: test.hang}
  - {name: last, type: util.echo, properties: {value: "{{ outputs.first.value }}/{{ outputs.slow.done }}"}}
""",
    )
    runner = await walk_for(node, execution_id)
    walking = asyncio.create_task(runner.run())
    open_run = await until_task_runs(node, execution_id, "slow")
    runner.stop("shutdown")
    await walking
    stopped = await stored_execution(node.db, execution_id)
    assert (stopped.status, stopped.finished_at, stopped.lease_owner) == ("RUNNING", None, OWNER)
    assert by_name(await stored_task_runs(node.db, execution_id), "slow") == [(1, "RUNNING", None)]
    async with node.db.write() as conn:  # what `Dispatcher.stop` does once its runners stopped
        await store.expire_leases_of(conn, OWNER, node.deps.clock(), stopping=True)
    handed_back = await stored_execution(node.db, execution_id)

    node.deps.mocks["slow"] = TaskMock(outputs={"done": True})
    await (await walk_for(node, execution_id)).run()
    rows = await stored_task_runs(node.db, execution_id)
    (first,) = [r for r in rows if r.task_name == "first"]
    assert [(a, s) for a, s, _ in by_name(rows, "slow")] == [(1, "CANCELLED"), (2, "SUCCESS")]
    (interrupted,) = [r for r in rows if r.task_name == "slow" and r.attempt == 1]
    assert interrupted.id == open_run.id and interrupted.error.startswith("interrupted")
    assert interrupted.finished_at == handed_back.alive_at, "it ended when its node stopped, not when resumed"
    assert [json.loads(r.outputs) for r in rows if r.task_name == "last"] == [
        {"value": f"{json.loads(first.outputs)['value']}/True"}
    ]
    done = await stored_execution(node.db, execution_id)
    assert (done.status, done.tasks_executed) == ("SUCCESS", 3)
    assert done.started_at == stopped.started_at, "started_at is kept from the first start"


async def test_a_runner_whose_lease_was_granted_again_stops_and_records_nothing_more(node: Engine) -> None:
    """Its next write is refused (another node claimed it): it stops as "lost", the execution
    stays the new holder's, and no attempt after the refusal is recorded."""
    execution_id = await queued(
        node,
        """
name: persistent
tasks:
  - name: wobbly
    type: test.flaky
    retry: {max_attempts: 100, delay: 20ms}
    properties: {succeed_on_attempt: 100}
""",
    )
    runner = await walk_for(node, execution_id)
    walking = asyncio.create_task(runner.run())

    async def two_attempts() -> bool:
        return len(await stored_task_runs(node.db, execution_id)) >= 2

    await eventually(two_attempts, timeout=20, what="two attempts")
    later = node.deps.clock() + timedelta(minutes=10)

    async def taken_over() -> bool:
        """node-b's claim, retried: on PostgreSQL it skips the row while the journal holds it."""
        async with node.db.write() as conn:
            return bool(
                await store.claim(conn, owner="node-b", now=later, lease_until=later, limit=1, token=new_lease_token())
            )

    await eventually(taken_over, timeout=20, what="node-b's claim")
    at_takeover = [tuple(r) for r in await stored_task_runs(node.db, execution_id)]
    async with asyncio.timeout(5):
        await walking
    assert runner.stop_reason == "lost", "a write of its was refused, and it stopped"
    assert [tuple(r) for r in await stored_task_runs(node.db, execution_id)] == at_takeover
    done = await stored_execution(node.db, execution_id)
    assert (done.status, done.lease_owner, done.finished_at) == ("RUNNING", "node-b", None)


async def test_a_crashed_walk_ends_the_execution_failed_rather_than_leaving_it_running(node: Engine) -> None:
    """Left RUNNING, every later claim would crash the same way."""
    execution_id = await queued(node, "name: crash\ntasks:\n  - {name: t, type: util.noop}\n")
    runner = await walk_for(node, execution_id)
    await runner.crashed(KeyError("the bug"))
    done = await stored_execution(node.db, execution_id)
    assert (done.status, done.error, done.lease_owner) == ("FAILED", "internal error: KeyError: 'the bug'", None)


async def test_a_task_sees_its_idempotency_key(node: Engine) -> None:
    execution_id = await walk(
        node, "name: keyed\ntasks:\n  - {name: t, type: util.echo, properties: {value: '{{ task.idempotencyKey }}'}}\n"
    )
    (run,) = await stored_task_runs(node.db, execution_id)
    assert json.loads(run.outputs) == {"value": idempotency_key(execution_id, "t")}


@hsettings(max_examples=50, deadline=None)
@given(
    execution_id=st.uuids().map(str),
    keys=st.lists(st.text(min_size=1, max_size=30), min_size=2, max_size=4, unique=True),
)
def test_idempotency_keys_are_stable_per_task_key_and_distinct_between_keys(execution_id: str, keys: list[str]) -> None:
    made = [idempotency_key(execution_id, key) for key in keys]
    assert made == [idempotency_key(execution_id, key) for key in keys]
    assert len(set(made)) == len(keys)
    assert all(uuid.UUID(k).version == 5 for k in made)
    assert idempotency_key(str(uuid.uuid4()), keys[0]) != made[0]


moments = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC))


@hsettings(max_examples=80, deadline=None)
@given(started=moments | st.none(), alive=moments | st.none(), now=moments)
def test_an_interrupted_run_ends_at_its_nodes_last_sign_of_life_within_its_span(
    started: datetime | None, alive: datetime | None, now: datetime
) -> None:
    """Never before the run began, never after now (for a run that began by now), now if unknown."""
    ended = interrupted_at(started, alive, now)
    if alive is None:
        assert ended == now
        return
    if started is not None:
        assert ended >= started
        if started <= now:
            assert ended <= now
    else:
        assert ended <= now
    if (started is None or started <= alive) and alive <= now:
        assert ended == alive
