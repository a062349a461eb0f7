"""Cancelling executions (running, queued, twice) and retrying failed ones."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.conftest import Api
from tests.engine.flows_helpers import detail
from tests.engine.flows_helpers import eventually
from tests.engine.flows_helpers import outputs
from tests.engine.flows_helpers import run
from tests.engine.flows_helpers import save_flow
from tests.engine.flows_helpers import start
from tests.engine.flows_helpers import tasks_by_name
from tests.engine.flows_helpers import wait_status


async def task_running(api: Api, execution_id: str, name: str) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        body = await detail(api, execution_id)
        runs = tasks_by_name(body).get(name, [])
        return body if runs and runs[-1]["status"] == "RUNNING" else None

    return await eventually(check, timeout=10, what=f"{name} to be running")


@pytest.mark.parametrize(
    "task",
    [
        "{name: stuck, type: test.hang}",
        "{name: stuck, type: util.sleep, properties: {duration: 60s}}",
        "{name: stuck, type: test.busy}",
    ],
    ids=["hang", "sleep", "busy"],
)
async def test_cancel_stops_the_running_task_promptly(api: Api, task: str) -> None:
    execution_id = await start(api, await save_flow(api, f"""
name: cancellable
tasks:
  - {task}
  - {{name: never, type: util.noop}}
finally:
  - name: report
    type: util.echo
    properties: {{value: "{{{{ execution.status }}}}"}}
"""))
    await task_running(api, execution_id, "stuck")
    reply = await api.post(f"/api/v1/executions/{execution_id}/cancel")
    assert reply.status == 200, reply.body
    assert reply.body["id"] == execution_id and reply.body["status"] == "CANCELLED"
    body = await wait_status(api, execution_id, timeout=5)
    execution = body["execution"]
    assert execution["status"] == "CANCELLED", execution
    assert execution["finishedAt"] is not None
    by_name = tasks_by_name(body)
    assert by_name["stuck"][0]["status"] == "CANCELLED"
    assert by_name["stuck"][0]["finishedAt"] is not None
    assert "never" not in by_name
    assert outputs(by_name["report"][0]) == {"value": "CANCELLED"}
    again = await api.post(f"/api/v1/executions/{execution_id}/cancel")
    assert again.status == 409 and again.error["code"] == "conflict"


async def test_cancel_stops_children_of_a_container(api: Api) -> None:
    execution_id = await start(api, await save_flow(api, """
name: cancellable-parallel
tasks:
  - name: fan_out
    type: flow.parallel
    properties:
      tasks:
        - {name: one, type: test.hang}
        - {name: two, type: util.sleep, properties: {duration: 60s}}
"""))
    await task_running(api, execution_id, "two")
    assert (await api.post(f"/api/v1/executions/{execution_id}/cancel")).status == 200
    body = await wait_status(api, execution_id, timeout=5)
    assert body["execution"]["status"] == "CANCELLED"
    assert {r["taskName"]: r["status"] for r in body["tasks"]} == {
        "fan_out": "CANCELLED",
        "one": "CANCELLED",
        "two": "CANCELLED",
    }


async def test_cancelling_the_parent_cancels_its_subflow(api: Api) -> None:
    await save_flow(api, "name: slow-child\ntasks:\n  - {name: stuck, type: test.hang}\n")
    execution_id = await start(api, await save_flow(api, """
name: waits-for-child
tasks:
  - {name: call, type: flow.subflow, properties: {flow: slow-child}}
"""))
    await task_running(api, execution_id, "call")

    async def child_running() -> str | None:
        listed = (await api.get("/api/v1/executions", params={"status": "RUNNING"})).body
        return next((e["id"] for e in listed if e["flowName"] == "slow-child"), None)

    child_id = await eventually(child_running, timeout=10, what="the child execution to run")
    await task_running(api, child_id, "stuck")
    assert (await api.post(f"/api/v1/executions/{execution_id}/cancel")).status == 200
    parent = await wait_status(api, execution_id, timeout=5)
    assert parent["execution"]["status"] == "CANCELLED"
    assert tasks_by_name(parent)["call"][0]["status"] == "CANCELLED"
    child = await wait_status(api, child_id, timeout=5)
    assert child["execution"]["status"] == "CANCELLED"
    assert tasks_by_name(child)["stuck"][0]["status"] == "CANCELLED"


async def test_cancel_unknown_execution_is_not_found(api: Api) -> None:
    reply = await api.post(f"/api/v1/executions/{uuid.uuid4()}/cancel")
    assert reply.status == 404 and reply.error["code"] == "not_found"
    reply = await api.post(f"/api/v1/executions/{uuid.uuid4()}/retry")
    assert reply.status == 404


async def test_cancel_a_finished_execution_conflicts(api: Api) -> None:
    body = await run(api, "name: quick\ntasks:\n  - {name: a, type: util.noop}\n")
    reply = await api.post(f"/api/v1/executions/{body['execution']['id']}/cancel")
    assert reply.status == 409
    assert (await detail(api, body["execution"]["id"]))["execution"]["status"] == "SUCCESS"


async def test_cancel_a_queued_execution(api: Api) -> None:
    flow_id = await save_flow(api, """
name: one-at-a-time
concurrency: {limit: 1, behavior: queue}
tasks:
  - {name: stuck, type: test.hang}
""")
    first = await start(api, flow_id)
    await task_running(api, first, "stuck")
    second = await start(api, flow_id)
    assert (await detail(api, second))["execution"]["status"] == "QUEUED"
    reply = await api.post(f"/api/v1/executions/{second}/cancel")
    assert reply.status == 200 and reply.body["status"] == "CANCELLED", reply.body
    assert (await api.post(f"/api/v1/executions/{first}/cancel")).status == 200
    await wait_status(api, first, timeout=5)
    body = await detail(api, second)
    assert body["execution"]["status"] == "CANCELLED" and body["tasks"] == []
    assert body["execution"]["startedAt"] is None and body["execution"]["finishedAt"] is not None


RETRYABLE = """
name: retryable
tasks:
  - name: token
    type: util.echo
    properties: {value: "{{ uuid() }}"}
  - name: wobbly
    type: test.flaky
    properties: {succeed_on_attempt: 2}
  - name: use
    type: util.echo
    properties: {value: "{{ outputs.token.value }}"}
finally:
  - name: report
    type: util.echo
    properties: {value: "{{ execution.status }}"}
"""


async def test_retry_resumes_a_failed_execution(api: Api) -> None:
    first = await run(api, RETRYABLE)
    execution_id = first["execution"]["id"]
    assert first["execution"]["status"] == "FAILED"
    token_before = outputs(tasks_by_name(first)["token"][0])
    assert "use" not in tasks_by_name(first)

    reply = await api.post(f"/api/v1/executions/{execution_id}/retry")
    assert reply.status == 200, reply.body
    assert reply.body == {"executionId": execution_id, "status": "QUEUED"}
    body = await wait_status(api, execution_id)
    execution = body["execution"]
    assert execution["status"] == "SUCCESS", execution
    assert execution["error"] is None and execution["finishedAt"] is not None
    by_name = tasks_by_name(body)
    assert len(by_name["token"]) == 1 and outputs(by_name["token"][0]) == token_before
    wobbly = sorted(by_name["wobbly"], key=lambda r: r["attempt"])
    assert [(r["attempt"], r["status"]) for r in wobbly] == [(1, "FAILED"), (2, "SUCCESS")]
    assert outputs(by_name["use"][0]) == token_before
    assert execution["tasksExecuted"] == execution["tasksTotal"] == 3
    latest_report = max(by_name["report"], key=lambda r: r["attempt"])
    assert outputs(latest_report) == {"value": "SUCCESS"}, "finally runs again and sees the new outcome"
    assert (await api.post(f"/api/v1/executions/{execution_id}/retry")).status == 409


async def test_retry_of_a_running_execution_conflicts(api: Api) -> None:
    execution_id = await start(api, await save_flow(api, "name: hanging\ntasks:\n  - {name: stuck, type: test.hang}\n"))
    await task_running(api, execution_id, "stuck")
    reply = await api.post(f"/api/v1/executions/{execution_id}/retry")
    assert reply.status == 409 and reply.error["code"] == "conflict"
    assert (await api.post(f"/api/v1/executions/{execution_id}/cancel")).status == 200
    await wait_status(api, execution_id, timeout=5)


async def test_retry_of_a_cancelled_execution_runs_the_cancelled_task_again(api: Api) -> None:
    execution_id = await start(api, await save_flow(api, """
name: cancel-then-retry
tasks:
  - {name: first, type: util.echo, properties: {value: "{{ uuid() }}"}}
  - {name: stuck, type: test.hang}
"""))
    await task_running(api, execution_id, "stuck")
    assert (await api.post(f"/api/v1/executions/{execution_id}/cancel")).status == 200
    await wait_status(api, execution_id, timeout=5)
    assert (await api.post(f"/api/v1/executions/{execution_id}/retry")).status == 200
    body = await eventually(
        lambda: _second_attempt_running(api, execution_id), timeout=10, what="the cancelled task to run again"
    )
    assert len(tasks_by_name(body)["first"]) == 1
    assert (await api.post(f"/api/v1/executions/{execution_id}/cancel")).status == 200
    body = await wait_status(api, execution_id, timeout=5)
    assert [r["status"] for r in sorted(tasks_by_name(body)["stuck"], key=lambda r: r["attempt"])] == ["CANCELLED"] * 2


async def _second_attempt_running(api: Api, execution_id: str) -> dict[str, Any] | None:
    body = await detail(api, execution_id)
    runs = tasks_by_name(body).get("stuck", [])
    return body if any(r["attempt"] == 2 and r["status"] == "RUNNING" for r in runs) else None


async def test_retry_after_a_failed_subflow_starts_a_new_child(api: Api) -> None:
    child_id = await save_flow(api, """
name: sometimes-broken
tasks:
  - {name: work, type: flow.fail, properties: {message: broken for now}}
""")
    first = await run(api, """
name: calls-broken
tasks:
  - {name: call, type: flow.subflow, properties: {flow: sometimes-broken}}
""")
    assert first["execution"]["status"] == "FAILED"
    repaired = "name: sometimes-broken\ntasks:\n  - {name: work, type: util.echo, properties: {value: fixed}}\n"
    fixed = await api.put(f"/api/v1/flows/{child_id}", json={"yamlContent": repaired})
    assert fixed.status == 200, fixed.body
    execution_id = first["execution"]["id"]
    assert (await api.post(f"/api/v1/executions/{execution_id}/retry")).status == 200
    body = await wait_status(api, execution_id)
    assert body["execution"]["status"] == "SUCCESS", body["execution"]
    call = max(tasks_by_name(body)["call"], key=lambda r: r["attempt"])
    assert outputs(call)["outputs"] == {"work": {"value": "fixed"}}


async def test_retry_of_a_timed_out_execution_gets_a_fresh_timeout(api: Api) -> None:
    await api.runtime.engine.kv.set("default", "nap", "30s")  # only the first run is slow
    execution_id = await start(api, await save_flow(api, """
name: slow-once
timeout: 500ms
tasks:
  - {name: nap, type: util.sleep, properties: {duration: "{{ kv('nap') or '10ms' }}"}}
"""))
    first = await wait_status(api, execution_id)
    assert first["execution"]["status"] == "TIMED_OUT"
    await api.runtime.engine.kv.delete("default", "nap")
    assert (await api.post(f"/api/v1/executions/{execution_id}/retry")).status == 200
    body = await wait_status(api, execution_id)
    assert body["execution"]["status"] == "SUCCESS", body["execution"]
    naps = sorted(tasks_by_name(body)["nap"], key=lambda r: r["attempt"])
    assert [(r["attempt"], r["status"]) for r in naps] == [(1, "TIMED_OUT"), (2, "SUCCESS")]


async def test_retry_inside_a_loop_keeps_the_iterations_that_succeeded(api: Api) -> None:
    execution_id = await start(api, await save_flow(api, """
name: loop-retried
tasks:
  - name: each
    type: flow.foreach
    properties:
      items: [1, 2, 3]
      tasks:
        - {name: stamp, type: util.echo, properties: {value: "{{ item }}-{{ uuid() }}"}}
        - name: check
          type: util.assert
          properties: {condition: "{{ item != 2 or kv('fixed') == true }}", message: "item {{ item }} is not ready"}
  - {name: stamps, type: util.echo, properties: {value: "{{ outputs.stamp }}"}}
"""))
    first = await wait_status(api, execution_id)
    assert first["execution"]["status"] == "FAILED"
    assert "iteration 1" in first["execution"]["error"] and "item 2 is not ready" in first["execution"]["error"]
    before = {r["iteration"]: outputs(r) for r in tasks_by_name(first)["stamp"]}
    assert sorted(before) == [0, 1]

    await api.runtime.engine.kv.set("default", "fixed", True)
    assert (await api.post(f"/api/v1/executions/{execution_id}/retry")).status == 200
    body = await wait_status(api, execution_id)
    assert body["execution"]["status"] == "SUCCESS", body["execution"]
    stamps = tasks_by_name(body)["stamp"]
    assert sorted(r["iteration"] for r in stamps) == [0, 1, 2], "finished iterations do not run again"
    checks = sorted(tasks_by_name(body)["check"], key=lambda r: (r["iteration"], r["attempt"]))
    assert [(r["iteration"], r["attempt"], r["status"]) for r in checks] == [
        (0, 1, "SUCCESS"),
        (1, 1, "FAILED"),
        (1, 2, "SUCCESS"),
        (2, 1, "SUCCESS"),
    ]
    collected = outputs(tasks_by_name(body)["stamps"][0])["value"]
    assert collected[:2] == [before[0], before[1]] and collected[2]["value"].startswith("3-")
    assert body["execution"]["tasksExecuted"] == body["execution"]["tasksTotal"] == 4


async def test_cancel_while_finally_runs(api: Api) -> None:
    execution_id = await start(api, await save_flow(api, """
name: slow-cleanup
tasks:
  - {name: work, type: util.noop}
finally:
  - {name: cleanup, type: test.hang}
"""))
    await task_running(api, execution_id, "cleanup")
    reply = await api.post(f"/api/v1/executions/{execution_id}/cancel")
    assert reply.status == 200 and reply.body["status"] == "CANCELLED", reply.body
    body = await detail(api, execution_id)
    assert tasks_by_name(body)["cleanup"][0]["status"] == "CANCELLED"
    assert tasks_by_name(body)["work"][0]["status"] == "SUCCESS"
