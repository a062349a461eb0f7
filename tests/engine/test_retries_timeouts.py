"""Task retries (constant and exponential backoff), task timeouts and execution timeouts.

Backoff delays are read from the runner's own log lines ("retrying in …"), not measured.
"""

from __future__ import annotations

import re
from typing import Any

from tests.conftest import Api
from tests.engine.flows_helpers import outputs
from tests.engine.flows_helpers import run
from tests.engine.flows_helpers import tasks_by_name


async def retry_delays(api: Api, execution_id: str) -> list[str]:
    logs = await api.get(f"/api/v1/executions/{execution_id}/logs")
    assert logs.status == 200
    return [m.group(1) for line in logs.body if (m := re.search(r"retrying in (\S+)s", line["message"]))]


def attempts(body: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return sorted(tasks_by_name(body)[name], key=lambda r: r["attempt"])


async def test_flaky_task_succeeds_on_its_third_attempt(api: Api) -> None:
    body = await run(api, """
name: flaky
tasks:
  - name: wobbly
    type: test.flaky
    retry: {max_attempts: 5, delay: 10ms}
    properties: {succeed_on_attempt: 3}
  - name: after
    type: util.echo
    properties: {value: "{{ outputs.wobbly.attempt }}"}
""")
    assert body["execution"]["status"] == "SUCCESS", body["execution"]
    runs = attempts(body, "wobbly")
    assert [r["attempt"] for r in runs] == [1, 2, 3]
    assert [r["status"] for r in runs] == ["FAILED", "FAILED", "SUCCESS"]
    assert runs[0]["error"] == "flaky failure on attempt 1"
    assert len({r["id"] for r in runs}) == 3, "each attempt is a task run of its own"
    assert outputs(runs[2]) == {"attempt": 3}
    assert outputs(tasks_by_name(body)["after"][0]) == {"value": 3}
    assert body["execution"]["tasksExecuted"] == body["execution"]["tasksTotal"] == 2


async def test_constant_backoff_spends_max_attempts_then_fails(api: Api) -> None:
    body = await run(api, """
name: constant
tasks:
  - name: wobbly
    type: test.flaky
    retry: {max_attempts: 3, delay: 10ms, backoff: constant}
    properties: {succeed_on_attempt: 99}
""")
    execution = body["execution"]
    assert execution["status"] == "FAILED"
    assert "wobbly" in execution["error"] and "flaky failure on attempt 3" in execution["error"]
    runs = attempts(body, "wobbly")
    assert [r["attempt"] for r in runs] == [1, 2, 3]
    assert all(r["status"] == "FAILED" for r in runs)
    assert await retry_delays(api, execution["id"]) == ["0.01", "0.01"]


async def test_exponential_backoff_doubles_the_delay(api: Api) -> None:
    body = await run(api, """
name: exponential
tasks:
  - name: wobbly
    type: test.flaky
    retry: {max_attempts: 4, delay: 10ms, backoff: exponential}
    properties: {succeed_on_attempt: 99}
""")
    assert body["execution"]["status"] == "FAILED"
    assert [r["attempt"] for r in attempts(body, "wobbly")] == [1, 2, 3, 4]
    assert await retry_delays(api, body["execution"]["id"]) == ["0.01", "0.02", "0.04"]


async def test_exponential_backoff_is_capped_by_max_delay(api: Api) -> None:
    body = await run(api, """
name: capped
tasks:
  - name: wobbly
    type: test.flaky
    retry: {max_attempts: 5, delay: 10ms, backoff: exponential, max_delay: 20ms}
    properties: {succeed_on_attempt: 5}
""")
    assert body["execution"]["status"] == "SUCCESS", body["execution"]
    assert [r["status"] for r in attempts(body, "wobbly")] == ["FAILED"] * 4 + ["SUCCESS"]
    assert await retry_delays(api, body["execution"]["id"]) == ["0.01", "0.02", "0.02", "0.02"]


async def test_task_timeout(api: Api) -> None:
    body = await run(api, """
name: slow-task
tasks:
  - name: slow
    type: util.sleep
    timeout: 100ms
    properties: {duration: 30s}
  - name: never
    type: util.noop
""")
    execution = body["execution"]
    assert execution["status"] == "FAILED"
    slow = tasks_by_name(body)["slow"]
    assert len(slow) == 1 and slow[0]["status"] == "TIMED_OUT"
    assert "timed out" in slow[0]["error"]
    assert "slow" in execution["error"] and "timed out" in execution["error"]
    assert "never" not in tasks_by_name(body)


async def test_task_timeout_is_retried(api: Api) -> None:
    body = await run(api, """
name: slow-retried
tasks:
  - name: slow
    type: test.hang
    timeout: 50ms
    retry: {max_attempts: 2, delay: 10ms}
""")
    assert body["execution"]["status"] == "FAILED"
    runs = attempts(body, "slow")
    assert [(r["attempt"], r["status"]) for r in runs] == [(1, "TIMED_OUT"), (2, "TIMED_OUT")]


async def test_execution_timeout_stops_the_running_task_then_finally_runs(api: Api) -> None:
    body = await run(api, """
name: slow-execution
timeout: 300ms
tasks:
  - name: first
    type: util.noop
  - name: slow
    type: util.sleep
    properties: {duration: 60s}
  - name: never
    type: util.noop
finally:
  - name: report
    type: util.echo
    properties: {value: "{{ execution.status }}"}
""")
    execution = body["execution"]
    assert execution["status"] == "TIMED_OUT", execution
    assert "timed out" in execution["error"]
    by_name = tasks_by_name(body)
    assert by_name["first"][0]["status"] == "SUCCESS"
    assert by_name["slow"][0]["status"] == "TIMED_OUT"
    assert "never" not in by_name
    assert by_name["report"][0]["status"] == "SUCCESS"
    assert outputs(by_name["report"][0]) == {"value": "TIMED_OUT"}
    assert execution["finishedAt"] is not None


async def test_execution_timeout_stops_children_of_a_container(api: Api) -> None:
    body = await run(api, """
name: slow-parallel
timeout: 300ms
tasks:
  - name: fan_out
    type: flow.parallel
    properties:
      tasks:
        - {name: stuck, type: test.hang}
        - {name: busy, type: test.busy}
""")
    assert body["execution"]["status"] == "TIMED_OUT", body["execution"]
    by_name = tasks_by_name(body)
    assert by_name["stuck"][0]["status"] == "TIMED_OUT"
    assert by_name["busy"][0]["status"] == "TIMED_OUT"
    assert by_name["fan_out"][0]["status"] == "TIMED_OUT"


async def test_container_retry_keeps_children_that_succeeded(api: Api) -> None:
    body = await run(api, """
name: group-retried
tasks:
  - name: group
    type: flow.sequential
    retry: {max_attempts: 2, delay: 10ms}
    properties:
      tasks:
        - {name: token, type: util.echo, properties: {value: "{{ uuid() }}"}}
        - {name: wobbly, type: test.flaky, properties: {succeed_on_attempt: 2}}
""")
    assert body["execution"]["status"] == "SUCCESS", body["execution"]
    assert [(r["attempt"], r["status"]) for r in attempts(body, "group")] == [(1, "FAILED"), (2, "SUCCESS")]
    assert len(tasks_by_name(body)["token"]) == 1, "a child that succeeded is not run again"
    assert [(r["attempt"], r["status"]) for r in attempts(body, "wobbly")] == [(1, "FAILED"), (2, "SUCCESS")]
    assert body["execution"]["tasksExecuted"] == body["execution"]["tasksTotal"] == 3
