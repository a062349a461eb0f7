"""Inputs checked at execute time, and tasks that break: plugin bugs, bad outputs, bad expressions."""

from __future__ import annotations

from typing import Any

from tests.conftest import Api
from tests.engine.flows_helpers import outputs
from tests.engine.flows_helpers import run
from tests.engine.flows_helpers import save_flow
from tests.engine.flows_helpers import start
from tests.engine.flows_helpers import tasks_by_name
from tests.engine.flows_helpers import wait_status

TYPED = """
name: typed
inputs:
  - {name: customer_id, type: integer, required: true}
  - {name: dry_run, type: boolean, default: false}
  - {name: tags, type: array, default: [a, b]}
  - {name: note, type: string}
tasks:
  - name: show
    type: util.echo
    properties: {value: "{{ inputs }}"}
"""


async def execution_count(api: Api) -> int:
    reply = await api.get("/api/v1/executions")
    assert reply.status == 200
    return int(reply.headers["X-Total-Count"])


async def test_defaults_are_filled_and_the_inputs_recorded(api: Api) -> None:
    flow_id = await save_flow(api, TYPED)
    body = await wait_status(api, await start(api, flow_id, {"customer_id": 42}))
    assert body["execution"]["status"] == "SUCCESS", body["execution"]
    expected = {"customer_id": 42, "dry_run": False, "tags": ["a", "b"], "note": None}
    assert body["execution"]["inputs"] == expected
    assert outputs(tasks_by_name(body)["show"][0]) == {"value": expected}


BAD_INPUTS: list[tuple[dict[str, Any], str, str]] = [
    ({}, "inputs.customer_id", "required"),
    ({"customer_id": "42"}, "inputs.customer_id", "integer"),
    ({"customer_id": 4.5}, "inputs.customer_id", "integer"),
    ({"customer_id": 1, "dry_run": "yes"}, "inputs.dry_run", "boolean"),
    ({"customer_id": 1, "custmer": 2}, "inputs.custmer", "unknown input"),
]


async def test_inputs_that_do_not_match_are_refused(api: Api) -> None:
    flow_id = await save_flow(api, TYPED)
    for inputs, path, words in BAD_INPUTS:
        reply = await api.post(f"/api/v1/flows/{flow_id}/execute", json={"inputs": inputs})
        assert reply.status == 400, (inputs, reply.body)
        assert reply.error["code"] == "invalid"
        matching = [d for d in reply.error["details"] if d["path"] == path]
        assert matching and words in matching[0]["message"], (inputs, reply.error)
    assert await execution_count(api) == 0


async def test_execute_with_a_malformed_body_is_refused(api: Api) -> None:
    flow_id = await save_flow(api, TYPED)
    for body in ([1, 2], "just text", {"inputs": [1, 2]}, {"inputs": {"customer_id": 1}, "extra": True}):
        reply = await api.post(f"/api/v1/flows/{flow_id}/execute", json=body)
        assert reply.status == 400, (body, reply.body)
        assert reply.error["message"]
    assert await execution_count(api) == 0


async def test_execute_a_deleted_flow_is_not_found(api: Api) -> None:
    flow_id = await save_flow(api, TYPED)
    assert (await api.delete(f"/api/v1/flows/{flow_id}")).status == 204
    reply = await api.post(f"/api/v1/flows/{flow_id}/execute", json={"inputs": {"customer_id": 1}})
    assert reply.status == 404 and reply.error["code"] == "not_found"
    assert await execution_count(api) == 0


async def test_a_plugin_that_raises_fails_its_task(api: Api) -> None:
    body = await run(api, """
name: buggy-plugin
tasks:
  - {name: bug, type: test.raises}
""")
    assert body["execution"]["status"] == "FAILED"
    bug = tasks_by_name(body)["bug"][0]
    assert bug["status"] == "FAILED" and bug["error"] == "RuntimeError: boom from plugin"
    assert "bug" in body["execution"]["error"] and "boom from plugin" in body["execution"]["error"]
    assert (await api.get("/healthz")).status == 200


async def test_outputs_that_are_not_json_fail_the_task(api: Api) -> None:
    body = await run(api, """
name: bad-outputs
tasks:
  - {name: weird, type: test.bad_output}
""")
    assert body["execution"]["status"] == "FAILED"
    weird = tasks_by_name(body)["weird"][0]
    assert weird["status"] == "FAILED" and "JSON" in weird["error"] and weird["outputs"] is None
    assert (await api.get("/healthz")).status == 200


async def test_an_expression_that_raises_fails_its_task(api: Api) -> None:
    body = await run(api, """
name: bad-expression
tasks:
  - name: compute
    type: util.echo
    properties: {value: "{{ no_such_name + 1 }}"}
""")
    assert body["execution"]["status"] == "FAILED"
    compute = tasks_by_name(body)["compute"][0]
    assert compute["status"] == "FAILED"
    assert "{{ no_such_name + 1 }}" in compute["error"] and "undefined" in compute["error"], compute["error"]
    assert "compute" in body["execution"]["error"]
    assert (await api.get("/healthz")).status == 200


async def test_a_when_that_raises_fails_its_task(api: Api) -> None:
    body = await run(api, """
name: bad-when
tasks:
  - name: guarded
    type: util.noop
    when: "{{ no_such_name.field > 1 }}"
""")
    assert body["execution"]["status"] == "FAILED"
    guarded = tasks_by_name(body)["guarded"][0]
    assert guarded["status"] == "FAILED" and guarded["error"].startswith("when:")
    assert "no_such_name" in guarded["error"]


async def test_variables_that_raise_fail_the_execution(api: Api) -> None:
    body = await run(api, """
name: bad-variables
variables:
  broken: "{{ no_such_name * 2 }}"
tasks:
  - {name: never, type: util.noop}
""")
    assert body["execution"]["status"] == "FAILED"
    assert body["execution"]["error"].startswith("variables:") and "no_such_name" in body["execution"]["error"]
    assert body["tasks"] == []
