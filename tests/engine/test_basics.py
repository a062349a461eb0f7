"""Sequential flows end to end: statuses, outputs, logs, when, allow_failure, errors/finally."""

from __future__ import annotations

from tests.conftest import Api
from tests.engine.flows_helpers import outputs
from tests.engine.flows_helpers import run
from tests.engine.flows_helpers import tasks_by_name

HELLO = """
name: hello
tasks:
  - name: greet
    type: util.log
    properties: {message: "Hello {{ inputs.who }}"}
  - name: echo
    type: util.echo
    properties: {value: "{{ outputs.greet.message }}"}
inputs:
  - {name: who, type: string, default: world}
"""


async def test_sequential_flow_succeeds_with_outputs(api: Api) -> None:
    body = await run(api, HELLO)
    execution = body["execution"]
    assert execution["status"] == "SUCCESS", execution
    assert execution["tasksTotal"] == 2 and execution["tasksExecuted"] == 2
    assert execution["inputs"] == {"who": "world"}
    assert execution["startedAt"] and execution["finishedAt"] and execution["durationMs"] >= 0
    tasks = tasks_by_name(body)
    assert [t["status"] for t in body["tasks"]] == ["SUCCESS", "SUCCESS"]
    assert outputs(tasks["greet"][0]) == {"message": "Hello world"}
    assert outputs(tasks["echo"][0]) == {"value": "Hello world"}
    logs = await api.get(f"/api/v1/executions/{execution['id']}/logs")
    assert any(line["message"] == "Hello world" and line["taskName"] == "greet" for line in logs.body)
