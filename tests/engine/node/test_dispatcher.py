"""The dispatcher's own contract, driven directly (no HTTP): what it claims, how many, under
which lease, and what it does with the leases it holds.

Executions are queued the way the API queues them (`ExecutionService.start`) on a node without
the `worker` role, so they wait unleased; the dispatchers under test are built as
`engine.node.engine.Engine` builds its own, on that node's deps (journal, bus, services).
Negative claims ("still queued") are asserted only after a later execution of another flow
ran: claims go oldest first, so the dispatcher has demonstrably looked past the held one.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
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
from workflowdev.engine.node.dispatcher import LISTENING_POLL
from workflowdev.engine.node.dispatcher import Dispatcher
from workflowdev.engine.node.dispatcher import DispatcherSettings
from workflowdev.engine.node.dispatcher import new_lease_token
from workflowdev.engine.node.engine import Engine
from workflowdev.engine.node.engine import EngineSettings
from workflowdev.engine.services.actor import SYSTEM
from workflowdev.engine.services.executions import Batch
from workflowdev.engine.services.executions import CompiledFlows
from workflowdev.plugins import build_registry
from workflowdev.store import executions as store
from workflowdev.store.database import Database

REGISTRY = registry_with_test_plugins()
WITHOUT_TEST_PLUGINS = build_registry(entry_points=False)
"""What a node has once the test plugins are gone: their flows' revisions no longer parse."""
HANG = "name: {name}\ntasks:\n  - {{name: stuck, type: test.hang}}\n"
QUICK = "name: {name}\ntasks:\n  - {{name: tick, type: util.noop}}\n"
IDLE = 60.0
"""A poll interval no test waits for: whatever happens, a wake-up or a renewal caused it."""


@pytest.fixture
async def engine(db: Database, tmp_path: Path) -> AsyncIterator[Engine]:
    """An API-only node: it queues executions (unleased) and runs none itself."""
    node = Engine(db, REGISTRY, EngineSettings(node_id="api-node", workdir_root=tmp_path, roles=frozenset({"api"})))
    await node.journal.start()
    yield node
    await node.journal.stop()


@pytest.fixture
async def nodes(engine: Engine) -> AsyncIterator[list[Dispatcher]]:
    """Dispatchers a test starts; each is stopped at the end (before the journal)."""
    started: list[Dispatcher] = []
    yield started
    for each in started:
        await each.stop()


async def worker(
    engine: Engine,
    nodes: list[Dispatcher],
    node_id: str = "node-a",
    *,
    flows: CompiledFlows | None = None,
    **settings: Any,
) -> Dispatcher:
    """A worker's dispatcher, wired as `Engine` wires its own, started."""
    settings.setdefault("poll_interval", IDLE)
    dispatcher = Dispatcher(engine.db, engine.deps, flows or engine.flows, node_id, DispatcherSettings(**settings))
    await dispatcher.start()
    nodes.append(dispatcher)
    dispatcher.wake()
    return dispatcher


async def flow_id(engine: Engine, yaml: str) -> str:
    return (await engine.flow_service.create(yaml_content=yaml, actor=SYSTEM)).id


async def queue(engine: Engine, flow: str, n: int = 1, batch: Batch | None = None) -> list[str]:
    return [(await engine.executions.start(flow, actor=SYSTEM, batch=batch))["executionId"] for _ in range(n)]


async def held(engine: Engine, execution_id: str, owner: str, lease: timedelta = timedelta(minutes=5)) -> None:
    """The (oldest queued) execution RUNNING under `owner`'s lease, as a node that died mid-walk leaves it."""
    now = engine.deps.clock()
    async with engine.db.write() as conn:
        assert await store.claim(conn, owner=owner, now=now, lease_until=now + lease, limit=1, token="t1")
        assert await store.set_status_if(conn, execution_id, expected=["QUEUED"], status="RUNNING")


async def reaches(
    engine: Engine, execution_id: str, status: str, *, owner: str | None = None, timeout: float = 20
) -> Any:
    """The row once it has `status` (and, if given, is leased to `owner`)."""

    async def check() -> Any:
        found = await stored_execution(engine.db, execution_id)
        return found if found.status == status and (owner is None or found.lease_owner == owner) else None

    return await eventually(check, timeout=timeout, what=f"{execution_id} to be {status}")


async def task_running(engine: Engine, execution_id: str) -> Any:
    """Once its (only) task run is RUNNING: the runner is inside the plugin."""

    async def check() -> Any:
        found = await stored_task_runs(engine.db, execution_id)
        return found[-1] if found and found[-1].status == "RUNNING" else None

    return await eventually(check, timeout=20, what=f"{execution_id}'s task to run")


async def runs_exactly(node: Dispatcher, n: int) -> bool:
    return node.running == n


async def barrier(engine: Engine, node: Dispatcher) -> None:
    """Returns once `node` has claimed past everything queued before this call (this API-only
    node's queueing wakes no dispatcher: the test does, as NOTIFY would)."""
    (tick,) = await queue(engine, await flow_id(engine, QUICK.format(name=f"barrier-{new_lease_token()[:8]}")))
    node.wake()
    await reaches(engine, tick, "SUCCESS")


async def test_claims_queued_executions_oldest_first_up_to_max_running(engine: Engine, nodes: list[Dispatcher]) -> None:
    """Room is the cap: the newest waits unleased, for any node to take."""
    first, second, third = await queue(engine, await flow_id(engine, HANG.format(name="hang")), 3)
    node = await worker(engine, nodes, max_running=2)
    for execution_id in (first, second):
        await reaches(engine, execution_id, "RUNNING", owner="node-a")
    await eventually(lambda: runs_exactly(node, 2), what="two runners")
    waiting = await stored_execution(engine.db, third)
    assert (waiting.status, waiting.lease_owner, waiting.lease_token) == ("QUEUED", None, None)
    assert node.running == 2


async def test_a_runner_ending_claims_the_work_there_was_no_room_for(engine: Engine, nodes: list[Dispatcher]) -> None:
    """No poll is due (60 s): only the end of a runner can have woken the claim."""
    first, second = await queue(engine, await flow_id(engine, HANG.format(name="hang")), 2)
    node = await worker(engine, nodes, max_running=1)
    await task_running(engine, first)
    assert (await stored_execution(engine.db, second)).lease_owner is None
    assert node.cancel_local(first)
    assert (await reaches(engine, first, "CANCELLED")).lease_owner is None
    await reaches(engine, second, "RUNNING", owner="node-a")
    assert not node.cancel_local("no-such-execution")


async def test_a_claim_leases_for_the_lease_length_and_a_new_claim_fences_the_old_grant(
    engine: Engine, nodes: list[Dispatcher]
) -> None:
    """Even on the same node, a claim after the lease was handed back is a new grant with a new
    token: the guard of the runner that held the old one no longer matches."""
    (execution_id,) = await queue(engine, await flow_id(engine, HANG.format(name="hang")))
    node = await worker(engine, nodes, lease_seconds=30.0)
    first = await reaches(engine, execution_id, "RUNNING", owner="node-a")
    now = engine.deps.clock()
    assert now < first.lease_expires_at <= now + timedelta(seconds=30)
    await node.stop()
    nodes.remove(node)
    await worker(engine, nodes, "node-a")

    async def granted_again() -> Any:
        found = await stored_execution(engine.db, execution_id)
        return found if found.lease_token != first.lease_token else None

    again = await eventually(granted_again, timeout=20, what="a new grant")
    assert again.lease_owner == "node-a" and again.lease_token


async def test_two_nodes_claiming_one_queue_run_each_execution_once(engine: Engine, nodes: list[Dispatcher]) -> None:
    """Concurrent claimers (SKIP LOCKED on PostgreSQL, the writer lock on SQLite) never share a row."""
    ids = await queue(engine, await flow_id(engine, QUICK.format(name="quick")), 12)
    await asyncio.gather(worker(engine, nodes, "node-a", max_running=3), worker(engine, nodes, "node-b", max_running=3))
    for execution_id in ids:
        await reaches(engine, execution_id, "SUCCESS")
    for execution_id in ids:
        assert [(r.task_name, r.attempt) for r in await stored_task_runs(engine.db, execution_id)] == [("tick", 1)]


async def test_a_lease_granted_again_elsewhere_stops_the_runner_without_a_word(
    engine: Engine, nodes: list[Dispatcher]
) -> None:
    """At the next renewal the runner finds its grant gone: it records nothing more (its task
    is not ended CANCELLED here); the new holder carries on."""
    (execution_id,) = await queue(engine, await flow_id(engine, HANG.format(name="hang")))
    node = await worker(engine, nodes, lease_seconds=0.3)
    task = await task_running(engine, execution_id)
    later = engine.deps.clock() + timedelta(minutes=1)  # node-b sees the lease expired

    async def taken_over() -> bool:
        """node-b's claim, retried: on PostgreSQL it skips the row while a renewal locks it."""
        async with engine.db.write() as conn:
            return bool(await store.claim(conn, owner="node-b", now=later, lease_until=later, limit=1, token="b"))

    await eventually(taken_over, timeout=20, what="node-b's claim")
    await eventually(lambda: runs_exactly(node, 0), what="the runner to stop")
    assert (await stored_execution(engine.db, execution_id)).lease_owner == "node-b"
    assert [(r.id, r.status) for r in await stored_task_runs(engine.db, execution_id)] == [(task.id, "RUNNING")]


async def test_a_cancel_requested_through_the_database_is_acted_on_at_renewal(
    engine: Engine, nodes: list[Dispatcher]
) -> None:
    """The API node cannot reach this runner (no NOTIFY here): the renewal reads the flag."""
    (execution_id,) = await queue(engine, await flow_id(engine, HANG.format(name="hang")))
    await worker(engine, nodes, lease_seconds=0.3)
    await task_running(engine, execution_id)
    final = await engine.executions.cancel(execution_id, actor=SYSTEM)
    assert final.status == "CANCELLED"
    assert [r.status for r in await stored_task_runs(engine.db, execution_id)] == ["CANCELLED"]


async def test_stopping_hands_the_leases_back_for_another_node_to_resume_at_once(
    engine: Engine, nodes: list[Dispatcher]
) -> None:
    """Shutdown records nothing (the task stays RUNNING) and expires the lease now, noting when
    the work ended, so the next claimer need not wait out the lease."""
    (execution_id,) = await queue(engine, await flow_id(engine, HANG.format(name="hang")))
    node = await worker(engine, nodes, lease_seconds=300)
    await task_running(engine, execution_id)
    await node.stop()
    nodes.remove(node)
    handed = await stored_execution(engine.db, execution_id)
    now = engine.deps.clock()
    assert handed.status == "RUNNING" and handed.lease_owner == "node-a"
    assert handed.lease_expires_at <= now
    assert handed.alive_at is not None
    assert [r.status for r in await stored_task_runs(engine.db, execution_id)] == ["RUNNING"]
    await worker(engine, nodes, "node-b")
    await reaches(engine, execution_id, "RUNNING", owner="node-b")


async def test_a_node_restarting_under_its_id_resumes_what_it_held_without_waiting_for_the_lease(
    engine: Engine, nodes: list[Dispatcher]
) -> None:
    """Its last life held the lease for minutes more; its new life hands it back and claims it."""
    (execution_id,) = await queue(engine, await flow_id(engine, QUICK.format(name="quick")))
    await held(engine, execution_id, "node-a")
    await worker(engine, nodes, "node-a")
    done = await reaches(engine, execution_id, "SUCCESS")
    assert done.lease_owner is None


async def test_a_lease_held_by_another_node_is_taken_over_only_once_it_expires(
    engine: Engine, nodes: list[Dispatcher]
) -> None:
    """A dead node keeps its executions until its lease runs out; then the claim takes them."""
    (execution_id,) = await queue(engine, await flow_id(engine, QUICK.format(name="quick")))
    await held(engine, execution_id, "dead")
    node = await worker(engine, nodes, "node-b")
    await barrier(engine, node)
    assert (await stored_execution(engine.db, execution_id)).lease_owner == "dead"
    async with engine.db.write() as conn:
        await store.expire_leases_of(conn, "dead", engine.deps.clock())
    node.wake()
    await reaches(engine, execution_id, "SUCCESS")


async def test_a_flow_at_its_concurrency_limit_keeps_newcomers_queued_until_a_place_frees(
    engine: Engine, nodes: list[Dispatcher]
) -> None:
    """behavior queue: the held-back one is handed back unleased, the claim reaches past it."""
    yaml = "name: limited\nconcurrency: {limit: 1, behavior: queue}\ntasks:\n  - {name: stuck, type: test.hang}\n"
    first, second = await queue(engine, await flow_id(engine, yaml), 2)
    node = await worker(engine, nodes)
    await task_running(engine, first)
    await barrier(engine, node)
    held = await stored_execution(engine.db, second)
    assert (held.status, held.lease_owner) == ("QUEUED", None)
    node.cancel_local(first)
    await reaches(engine, second, "RUNNING", owner="node-a")


@pytest.mark.parametrize(("behavior", "ended"), [("cancel", "CANCELLED"), ("fail", "FAILED")])
async def test_a_flow_at_its_concurrency_limit_ends_newcomers_as_its_behavior_says(
    engine: Engine, nodes: list[Dispatcher], behavior: str, ended: str
) -> None:
    yaml = f"name: limited\nconcurrency: {{limit: 1, behavior: {behavior}}}\ntasks:\n  - {{name: stuck, type: test.hang}}\n"
    first, second = await queue(engine, await flow_id(engine, yaml), 2)
    await worker(engine, nodes)
    refused = await reaches(engine, second, ended)
    assert refused.error == "concurrency limit 1 reached for flow limited"
    assert refused.lease_owner is None and refused.finished_at is not None
    assert await stored_task_runs(engine.db, second) == []
    assert (await stored_execution(engine.db, first)).status == "RUNNING"


async def test_a_batch_runs_at_most_its_limit_at_once(engine: Engine, nodes: list[Dispatcher]) -> None:
    """A backfill's batch limit is applied at the claim like a flow's concurrency."""
    ids = await queue(engine, await flow_id(engine, HANG.format(name="hang")), 3, batch=Batch("b1", 2))
    node = await worker(engine, nodes)
    for execution_id in ids[:2]:
        await task_running(engine, execution_id)
    await barrier(engine, node)
    assert ((await stored_execution(engine.db, ids[2])).status, (await stored_execution(engine.db, ids[2])).lease_owner) == ("QUEUED", None)
    node.cancel_local(ids[0])
    await reaches(engine, ids[2], "RUNNING", owner="node-a")


async def test_a_queued_execution_whose_revision_no_longer_loads_fails_instead_of_blocking_the_queue(
    engine: Engine, nodes: list[Dispatcher]
) -> None:
    """A node whose plugins no longer parse an old revision (its plugin was removed) must fail
    that execution (CONTRACTS: QUEUED -> FAILED, "its revision cannot be loaded") and go on
    claiming the work queued after it."""
    (broken,) = await queue(engine, await flow_id(engine, HANG.format(name="needs-test-plugins")))
    (fine,) = await queue(engine, await flow_id(engine, QUICK.format(name="plain")))
    await worker(engine, nodes, flows=CompiledFlows(WITHOUT_TEST_PLUGINS), poll_interval=0.05)
    failed = await reaches(engine, broken, "FAILED")
    assert "could not be loaded" in failed.error
    await reaches(engine, fine, "SUCCESS")


async def test_a_resumed_execution_whose_revision_no_longer_loads_fails(
    engine: Engine, nodes: list[Dispatcher]
) -> None:
    """The RUNNING case of the same rule: it ends FAILED instead of being claimed forever."""
    (execution_id,) = await queue(engine, await flow_id(engine, HANG.format(name="needs-test-plugins")))
    await held(engine, execution_id, "dead", lease=timedelta(0))
    await worker(engine, nodes, flows=CompiledFlows(WITHOUT_TEST_PLUGINS))
    failed = await reaches(engine, execution_id, "FAILED")
    assert failed.error.startswith("the flow revision could not be loaded: ")
    assert "test.hang" in failed.error and failed.lease_owner is None


async def test_an_execution_queued_on_a_worker_with_room_starts_without_a_claim(db: Database, tmp_path: Path) -> None:
    """The fast path: inserted already leased to this node and adopted; the claim loop never runs."""
    node = Engine(db, REGISTRY, EngineSettings(node_id="solo", workdir_root=tmp_path, poll_interval=IDLE))
    await node.journal.start()
    try:
        flow = await flow_id(node, QUICK.format(name="quick"))
        (execution_id,) = await queue(node, flow)
        done = await reaches(node, execution_id, "SUCCESS")
        assert done.started_at is not None

        async def let_go() -> bool:  # the runner leaves the dispatcher just after its end commits
            return node.dispatcher.running == 0

        await eventually(let_go, timeout=20, what="the runner to leave the dispatcher")
    finally:
        await node.dispatcher.stop()
        await node.journal.stop()


async def test_reserve_grants_a_lease_only_while_there_is_room(tmp_path: Path) -> None:
    """Reservations count against `max_running` until released or adopted; a flow with a
    concurrency limit always goes through the claim; a stopping node reserves nothing. No
    database is involved (the file is never written) until `stop` hands leases back."""
    database = Database(f"sqlite:///{tmp_path / 'unused.db'}")
    node = Engine(database, REGISTRY, EngineSettings("solo", tmp_path, max_running=1))
    dispatcher = node.dispatcher
    plain = node.flow_service.parse(QUICK.format(name="quick"))
    limited = node.flow_service.parse("name: l\nconcurrency: {limit: 5}\ntasks:\n  - {name: t, type: util.noop}\n")
    try:
        assert dispatcher.reserve(limited) is None
        lease = dispatcher.reserve(plain)
        assert lease is not None and lease["lease_owner"] == "solo" and len(lease["lease_token"]) == 32
        assert timedelta(0) < lease["lease_expires_at"] - node.deps.clock() <= timedelta(seconds=30)
        assert dispatcher.reserve(plain) is None, "the one place is reserved"
        dispatcher.release()
        again = dispatcher.reserve(plain)
        assert again is not None and again["lease_token"] != lease["lease_token"]
        dispatcher.release()
        await dispatcher.stop()
        assert dispatcher.reserve(plain) is None
    finally:
        await database.close()


@hsettings(max_examples=60, deadline=None)
@given(poll=st.floats(0.01, 120), lease=st.floats(0.1, 600))
def test_the_claim_poll_is_slower_while_listening_but_never_longer_than_a_lease(poll: float, lease: float) -> None:
    """Takeover of a dead node's leases (which nobody announces) within about two lease lengths."""
    settings = DispatcherSettings(poll_interval=poll, lease_seconds=lease)
    assert settings.claim_poll(False) == poll
    listening = settings.claim_poll(True)
    assert poll <= listening <= max(poll, LISTENING_POLL)
    assert listening <= max(poll, lease)
