"""A flow's `concurrency`: queue, fail or cancel the newcomer once `limit` executions are active.

"Still QUEUED" is asserted only after the dispatcher has demonstrably looked at the queue: a
barrier execution of another flow, created later, has finished (claims go oldest first).
"""

from __future__ import annotations

from typing import Any

import aiohttp

from tests.conftest import Api
from tests.engine.flows_helpers import detail
from tests.engine.flows_helpers import eventually
from tests.engine.flows_helpers import run
from tests.engine.flows_helpers import save_flow
from tests.engine.flows_helpers import start
from tests.engine.flows_helpers import tasks_by_name
from tests.engine.flows_helpers import wait_status
from tests.support_plugins import registry_with_test_plugins
from workflowdev.runtime import Runtime


async def status_of(api: Api, execution_id: str) -> str:
    return (await detail(api, execution_id))["execution"]["status"]


async def barrier(api: Api) -> None:
    """Returns once the dispatcher has claimed everything queued before this call."""
    body = await run(api, "name: barrier\ntasks:\n  - {name: tick, type: util.noop}\n")
    assert body["execution"]["status"] == "SUCCESS"
    await api.delete(f"/api/v1/flows/{body['execution']['flowId']}")


async def running(api: Api, execution_id: str) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        body = await detail(api, execution_id)
        runs = body["tasks"]
        return body if runs and runs[-1]["status"] == "RUNNING" else None

    return await eventually(check, timeout=10, what=f"execution {execution_id} to run its task")


def limited(behavior: str, task: str = "{name: stuck, type: test.hang}", limit: int = 1) -> str:
    return f"""
name: limited-{behavior}
concurrency: {{limit: {limit}, behavior: {behavior}}}
tasks:
  - {task}
"""


async def test_queue_waits_for_a_paused_execution_to_end(api: Api) -> None:
    flow_id = await save_flow(api, limited("queue", "{name: gate, type: flow.approval, properties: {message: go?}}"))
    first = await start(api, flow_id)
    await wait_status(api, first, {"PAUSED"})
    second = await start(api, flow_id)
    await barrier(api)
    assert await status_of(api, second) == "QUEUED"
    assert (await detail(api, second))["tasks"] == []

    gates = (await api.get("/api/v1/approvals", params={"status": "PENDING"})).body
    assert [g["executionId"] for g in gates] == [first]
    assert (await api.post(f"/api/v1/approvals/{gates[0]['id']}/approve")).status == 200
    done = await wait_status(api, first)
    assert done["execution"]["status"] == "SUCCESS"

    paused = await wait_status(api, second, {"PAUSED"})
    assert paused["execution"]["startedAt"] >= done["execution"]["finishedAt"]
    gates = (await api.get("/api/v1/approvals", params={"status": "PENDING"})).body
    assert [g["executionId"] for g in gates] == [second]
    assert (await api.post(f"/api/v1/approvals/{gates[0]['id']}/approve")).status == 200
    assert (await wait_status(api, second))["execution"]["status"] == "SUCCESS"


async def test_queue_starts_the_oldest_waiting_execution_first(api: Api) -> None:
    flow_id = await save_flow(api, limited("queue"))
    first = await start(api, flow_id)
    await running(api, first)
    second = await start(api, flow_id)
    third = await start(api, flow_id)
    await barrier(api)
    assert [await status_of(api, e) for e in (first, second, third)] == ["RUNNING", "QUEUED", "QUEUED"]

    assert (await api.post(f"/api/v1/executions/{first}/cancel")).status == 200
    await running(api, second)
    await barrier(api)
    assert await status_of(api, third) == "QUEUED"

    assert (await api.post(f"/api/v1/executions/{second}/cancel")).status == 200
    await running(api, third)
    assert (await api.post(f"/api/v1/executions/{third}/cancel")).status == 200
    assert (await wait_status(api, third, timeout=5))["execution"]["status"] == "CANCELLED"


async def test_a_limit_above_one_runs_that_many(api: Api) -> None:
    flow_id = await save_flow(api, limited("queue", limit=2))
    ids = [await start(api, flow_id) for _ in range(3)]
    await running(api, ids[0])
    await running(api, ids[1])
    await barrier(api)
    assert await status_of(api, ids[2]) == "QUEUED"
    for execution_id in ids:
        assert (await api.post(f"/api/v1/executions/{execution_id}/cancel")).status == 200
    for execution_id in ids:
        assert (await wait_status(api, execution_id, timeout=5))["execution"]["status"] == "CANCELLED"


async def test_behavior_fail_fails_the_newcomer(api: Api) -> None:
    flow_id = await save_flow(api, limited("fail"))
    first = await start(api, flow_id)
    await running(api, first)
    second = await start(api, flow_id)
    body = await wait_status(api, second, timeout=10)
    assert body["execution"]["status"] == "FAILED"
    assert "concurrency limit 1" in body["execution"]["error"]
    assert body["tasks"] == [] and body["execution"]["finishedAt"] is not None
    assert await status_of(api, first) == "RUNNING"
    assert (await api.post(f"/api/v1/executions/{first}/cancel")).status == 200
    await wait_status(api, first, timeout=5)


async def test_behavior_cancel_cancels_the_newcomer(api: Api) -> None:
    flow_id = await save_flow(api, limited("cancel"))
    first = await start(api, flow_id)
    await running(api, first)
    second = await start(api, flow_id)
    body = await wait_status(api, second, timeout=10)
    assert body["execution"]["status"] == "CANCELLED"
    assert "concurrency limit 1" in body["execution"]["error"]
    assert body["tasks"] == []
    assert await status_of(api, first) == "RUNNING"
    assert (await api.post(f"/api/v1/executions/{first}/cancel")).status == 200
    await wait_status(api, first, timeout=5)
    # The limit frees up once the first has ended.
    third = await start(api, flow_id)
    await running(api, third)
    assert tasks_by_name(await detail(api, third))["stuck"][0]["status"] == "RUNNING"
    assert (await api.post(f"/api/v1/executions/{third}/cancel")).status == 200
    await wait_status(api, third, timeout=5)


async def test_executions_held_back_by_a_limit_do_not_starve_other_flows(make_settings: Any) -> None:
    """With the node full, the oldest queued executions may all be held back by their flow's
    limit; the free slot must still go to work that can run."""
    runtime = Runtime(make_settings(max_running=2), registry=registry_with_test_plugins())
    await runtime.start()
    try:
        async with aiohttp.ClientSession() as session:
            api = Api(runtime.base_url, session, runtime)
            limited_id = await save_flow(api, limited("queue"))
            other_id = await save_flow(api, "name: other\ntasks:\n  - {name: stuck, type: test.hang}\n")
            quick_id = await save_flow(api, "name: quick\ntasks:\n  - {name: tick, type: util.noop}\n")
            first = await start(api, limited_id)
            await running(api, first)
            filler = await start(api, other_id)
            await running(api, filler)
            held = [await start(api, limited_id) for _ in range(2)]
            quick = await start(api, quick_id)
            assert (await api.post(f"/api/v1/executions/{filler}/cancel")).status == 200
            body = await wait_status(api, quick, timeout=10)
            assert body["execution"]["status"] == "SUCCESS"
            assert [await status_of(api, e) for e in held] == ["QUEUED", "QUEUED"]
            for execution_id in (first, *held):
                assert (await api.post(f"/api/v1/executions/{execution_id}/cancel")).status == 200
    finally:
        await runtime.stop()
