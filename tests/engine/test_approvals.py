"""Approval gates: parking, listing, approving, rejecting, expiring and cancelling."""

from __future__ import annotations

import uuid
from typing import Any

from tests.conftest import Api
from tests.engine.flows_helpers import detail
from tests.engine.flows_helpers import eventually
from tests.engine.flows_helpers import outputs
from tests.engine.flows_helpers import save_flow
from tests.engine.flows_helpers import start
from tests.engine.flows_helpers import tasks_by_name
from tests.engine.flows_helpers import wait_status

GATED = """
name: gated
inputs:
  - {name: count, type: integer, default: 3}
tasks:
  - name: prepare
    type: util.echo
    properties: {value: "{{ inputs.count }}"}
  - name: gate
    type: flow.approval
    properties: {message: "Sync {{ outputs.prepare.value }} orders?", context: {target: production}}
  - name: after
    type: util.echo
    properties: {value: "{{ outputs.gate.comment }}"}
"""


async def paused_at_gate(api: Api, yaml: str = GATED) -> tuple[str, dict[str, Any]]:
    """Start the flow, wait until it is PAUSED; returns (execution id, its pending approval)."""
    execution_id = await start(api, await save_flow(api, yaml))
    await wait_status(api, execution_id, {"PAUSED"})
    pending = await api.get("/api/v1/approvals", params={"status": "PENDING"})
    assert pending.status == 200
    mine = [a for a in pending.body if a["executionId"] == execution_id]
    assert len(mine) == 1, pending.body
    return execution_id, mine[0]


async def test_gate_pauses_the_execution_and_lists_the_approval(api: Api) -> None:
    execution_id, approval = await paused_at_gate(api)
    body = await detail(api, execution_id)
    assert body["execution"]["status"] == "PAUSED"
    gate = tasks_by_name(body)["gate"]
    assert len(gate) == 1 and gate[0]["status"] == "WAITING"
    assert "after" not in tasks_by_name(body)
    assert approval["message"] == "Sync 3 orders?"
    assert approval["taskName"] == "gate" and approval["status"] == "PENDING"
    assert approval["flowId"] == body["execution"]["flowId"]
    assert approval["expiresAt"] is None and approval["decidedAt"] is None
    one = await api.get(f"/api/v1/approvals/{approval['id']}")
    assert one.status == 200 and one.body["id"] == approval["id"] and one.body["status"] == "PENDING"
    assert (await api.get("/api/v1/approvals", params={"status": "APPROVED"})).body == []


async def test_approve_with_comment_lets_the_execution_go_on(api: Api) -> None:
    execution_id, approval = await paused_at_gate(api)
    reply = await api.post(f"/api/v1/approvals/{approval['id']}/approve", json={"comment": "ship it"})
    assert reply.status == 200, reply.body
    assert reply.body["status"] == "APPROVED" and reply.body["comment"] == "ship it"
    assert reply.body["decidedBy"] and reply.body["decidedAt"]
    body = await wait_status(api, execution_id)
    assert body["execution"]["status"] == "SUCCESS", body["execution"]
    gate = tasks_by_name(body)["gate"]
    assert len(gate) == 1 and gate[0]["status"] == "SUCCESS"
    assert outputs(gate[0]) == {"approved": True, "decidedBy": reply.body["decidedBy"], "comment": "ship it"}
    assert outputs(tasks_by_name(body)["after"][0]) == {"value": "ship it"}
    assert len(tasks_by_name(body)["prepare"]) == 1, "the task before the gate does not run again"
    assert body["execution"]["tasksExecuted"] == body["execution"]["tasksTotal"] == 3
    assert (await api.get("/api/v1/approvals", params={"status": "PENDING"})).body == []


async def test_reject_fails_the_gate_and_the_execution(api: Api) -> None:
    execution_id, approval = await paused_at_gate(api)
    reply = await api.post(f"/api/v1/approvals/{approval['id']}/reject", json={"comment": "not today"})
    assert reply.status == 200, reply.body
    assert reply.body["status"] == "REJECTED"
    body = await wait_status(api, execution_id)
    assert body["execution"]["status"] == "FAILED"
    gate = tasks_by_name(body)["gate"][0]
    assert gate["status"] == "FAILED"
    assert gate["error"].startswith(f"rejected by {reply.body['decidedBy']}") and "not today" in gate["error"]
    assert "gate" in body["execution"]["error"] and "rejected by" in body["execution"]["error"]
    assert "after" not in tasks_by_name(body)


async def test_gate_nobody_decides_expires(api: Api) -> None:
    execution_id, approval = await paused_at_gate(api, """
name: gated-briefly
tasks:
  - name: gate
    type: flow.approval
    properties: {message: quick decision, timeout: 500ms}
finally:
  - name: report
    type: util.echo
    properties: {value: "{{ execution.status }}"}
""")
    assert approval["expiresAt"] is not None
    body = await wait_status(api, execution_id, timeout=10)
    assert body["execution"]["status"] == "FAILED"
    gate = tasks_by_name(body)["gate"][0]
    assert gate["status"] == "TIMED_OUT" and "expired" in gate["error"]
    assert outputs(tasks_by_name(body)["report"][0]) == {"value": "FAILED"}
    expired = await api.get(f"/api/v1/approvals/{approval['id']}")
    assert expired.body["status"] == "EXPIRED"
    late = await api.post(f"/api/v1/approvals/{approval['id']}/approve")
    assert late.status == 409


async def test_deciding_twice_conflicts(api: Api) -> None:
    execution_id, approval = await paused_at_gate(api)
    assert (await api.post(f"/api/v1/approvals/{approval['id']}/approve")).status == 200
    again = await api.post(f"/api/v1/approvals/{approval['id']}/approve")
    assert again.status == 409 and again.error["code"] == "conflict"
    reject = await api.post(f"/api/v1/approvals/{approval['id']}/reject")
    assert reject.status == 409
    body = await wait_status(api, execution_id)
    assert body["execution"]["status"] == "SUCCESS"
    assert (await api.get(f"/api/v1/approvals/{approval['id']}")).body["status"] == "APPROVED"


async def test_unknown_approval_is_not_found(api: Api) -> None:
    unknown = str(uuid.uuid4())
    assert (await api.post(f"/api/v1/approvals/{unknown}/approve")).status == 404
    assert (await api.post(f"/api/v1/approvals/{unknown}/reject")).status == 404
    missing = await api.get(f"/api/v1/approvals/{unknown}")
    assert missing.status == 404 and missing.error["code"] == "not_found"


async def test_cancelling_a_paused_execution_closes_its_gate(api: Api) -> None:
    execution_id, approval = await paused_at_gate(api)
    reply = await api.post(f"/api/v1/executions/{execution_id}/cancel")
    assert reply.status == 200, reply.body
    assert reply.body["status"] == "CANCELLED"
    body = await detail(api, execution_id)
    assert body["execution"]["status"] == "CANCELLED" and body["execution"]["finishedAt"]
    assert tasks_by_name(body)["gate"][0]["status"] == "CANCELLED"
    late = await api.post(f"/api/v1/approvals/{approval['id']}/approve")
    assert late.status == 409
    assert (await api.get(f"/api/v1/approvals/{approval['id']}")).body["status"] != "PENDING"
    assert (await detail(api, execution_id))["execution"]["status"] == "CANCELLED"


async def test_gates_in_parallel_branches_are_decided_one_by_one(api: Api) -> None:
    execution_id = await start(api, await save_flow(api, """
name: two-gates
tasks:
  - name: both
    type: flow.parallel
    properties:
      tasks:
        - {name: legal, type: flow.approval, properties: {message: legal ok?}}
        - {name: finance, type: flow.approval, properties: {message: finance ok?}}
  - name: after
    type: util.noop
"""))
    await wait_status(api, execution_id, {"PAUSED"})

    async def pending() -> list[dict[str, Any]]:
        return (await api.get("/api/v1/approvals", params={"status": "PENDING", "executionId": execution_id})).body

    gates = await eventually(lambda: _when_count(pending, 2), what="two pending gates")
    by_task = {g["taskName"]: g for g in gates}
    assert (await api.post(f"/api/v1/approvals/{by_task['legal']['id']}/approve")).status == 200
    await eventually(lambda: _paused_with_one_left(api, execution_id), what="paused again at the other gate")
    assert (await api.post(f"/api/v1/approvals/{by_task['finance']['id']}/approve")).status == 200
    body = await wait_status(api, execution_id)
    assert body["execution"]["status"] == "SUCCESS", body["execution"]
    assert [r["status"] for r in tasks_by_name(body)["legal"]] == ["SUCCESS"]
    assert [r["status"] for r in tasks_by_name(body)["finance"]] == ["SUCCESS"]
    assert [r["status"] for r in tasks_by_name(body)["both"]] == ["SUCCESS"]


async def _when_count(fetch: Any, count: int) -> list[dict[str, Any]] | None:
    items = await fetch()
    return items if len(items) == count else None


async def _paused_with_one_left(api: Api, execution_id: str) -> bool:
    body = await detail(api, execution_id)
    statuses = {r["taskName"]: r["status"] for r in body["tasks"]}
    return body["execution"]["status"] == "PAUSED" and statuses.get("legal") == "SUCCESS"


async def pending_of(api: Api, execution_id: str) -> list[dict[str, Any]]:
    reply = await api.get("/api/v1/approvals", params={"status": "PENDING", "executionId": execution_id})
    assert reply.status == 200
    return reply.body


async def test_a_gate_can_be_approved_while_its_siblings_still_run(api: Api) -> None:
    execution_id = await start(api, await save_flow(api, """
name: gate-beside-work
tasks:
  - name: both
    type: flow.parallel
    properties:
      tasks:
        - {name: gate, type: flow.approval, properties: {message: go?}}
        - {name: work, type: util.sleep, properties: {duration: 600ms}}
"""))
    gates = await eventually(lambda: pending_of(api, execution_id), what="the gate to be listed")
    assert (await detail(api, execution_id))["execution"]["status"] == "RUNNING"
    reply = await api.post(f"/api/v1/approvals/{gates[0]['id']}/approve", json={"comment": "early"})
    assert reply.status == 200, reply.body
    body = await wait_status(api, execution_id)
    assert body["execution"]["status"] == "SUCCESS", body["execution"]
    gate = tasks_by_name(body)["gate"]
    assert [g["status"] for g in gate] == ["SUCCESS"]
    assert outputs(gate[0])["comment"] == "early"


async def test_cancelling_a_running_execution_closes_its_pending_gate(api: Api) -> None:
    execution_id = await start(api, await save_flow(api, """
name: gate-beside-hang
tasks:
  - name: both
    type: flow.parallel
    properties:
      tasks:
        - {name: gate, type: flow.approval, properties: {message: go?}}
        - {name: stuck, type: test.hang}
"""))
    gates = await eventually(lambda: pending_of(api, execution_id), what="the gate to be listed")
    reply = await api.post(f"/api/v1/executions/{execution_id}/cancel")
    assert reply.status == 200 and reply.body["status"] == "CANCELLED", reply.body
    body = await detail(api, execution_id)
    statuses = {r["taskName"]: r["status"] for r in body["tasks"]}
    assert statuses == {"both": "CANCELLED", "gate": "CANCELLED", "stuck": "CANCELLED"}
    assert await pending_of(api, execution_id) == []
    assert (await api.post(f"/api/v1/approvals/{gates[0]['id']}/approve")).status == 409


async def test_a_failing_sibling_closes_the_pending_gate(api: Api) -> None:
    execution_id = await start(api, await save_flow(api, """
name: gate-beside-failure
tasks:
  - name: both
    type: flow.parallel
    properties:
      tasks:
        - {name: gate, type: flow.approval, properties: {message: go?}}
        - name: doomed
          type: flow.sequential
          properties:
            tasks:
              - {name: nap, type: util.sleep, properties: {duration: 300ms}}
              - {name: boom, type: flow.fail, properties: {message: sibling failed}}
"""))
    await eventually(lambda: pending_of(api, execution_id), what="the gate to be listed")
    body = await wait_status(api, execution_id)
    assert body["execution"]["status"] == "FAILED"
    assert "sibling failed" in body["execution"]["error"]
    assert not any(r["status"] in ("WAITING", "RUNNING", "QUEUED") for r in body["tasks"]), body["tasks"]
    assert await pending_of(api, execution_id) == []


async def test_gates_in_a_loop_are_asked_one_iteration_at_a_time(api: Api) -> None:
    execution_id = await start(api, await save_flow(api, """
name: gates-in-loop
tasks:
  - name: each
    type: flow.foreach
    properties:
      items: [a, b]
      tasks:
        - {name: gate, type: flow.approval, properties: {message: "ok {{ item }}?"}}
        - {name: after, type: util.echo, properties: {value: "{{ item }} {{ outputs.gate.comment }}"}}
  - name: summary
    type: util.echo
    properties: {value: "{{ outputs.after }}"}
"""))
    for item in "ab":
        await wait_status(api, execution_id, {"PAUSED"})
        gates = await pending_of(api, execution_id)
        assert [g["message"] for g in gates] == [f"ok {item}?"], "the next item waits for this one"
        reply = await api.post(f"/api/v1/approvals/{gates[0]['id']}/approve", json={"comment": item * 2})
        assert reply.status == 200
    body = await wait_status(api, execution_id)
    assert body["execution"]["status"] == "SUCCESS", body["execution"]
    gates_run = sorted(tasks_by_name(body)["gate"], key=lambda r: r["iteration"])
    assert [(r["iteration"], r["status"]) for r in gates_run] == [(0, "SUCCESS"), (1, "SUCCESS")]
    assert outputs(tasks_by_name(body)["summary"][0]) == {"value": [{"value": "a aa"}, {"value": "b bb"}]}
    assert [r["status"] for r in tasks_by_name(body)["each"]] == ["SUCCESS"]
    assert body["execution"]["tasksExecuted"] == body["execution"]["tasksTotal"] == 4


async def test_the_execution_timeout_runs_on_while_paused(api: Api) -> None:
    # Not paused_at_gate: on a busy machine the half second may be over before the gate is read.
    execution_id = await start(api, await save_flow(api, """
name: paused-too-long
timeout: 500ms
tasks:
  - {name: gate, type: flow.approval, properties: {message: "ok?"}}
finally:
  - {name: report, type: util.echo, properties: {value: "{{ execution.status }}"}}
"""))
    body = await wait_status(api, execution_id, timeout=10)
    assert body["execution"]["status"] == "TIMED_OUT", body["execution"]
    assert tasks_by_name(body)["gate"][0]["status"] == "TIMED_OUT"
    assert outputs(tasks_by_name(body)["report"][0]) == {"value": "TIMED_OUT"}
    expired = [a for a in (await api.get("/api/v1/approvals", params={"status": "EXPIRED"})).body if a["executionId"] == execution_id]
    assert len(expired) == 1 and expired[0]["expiresAt"] is not None, "the gate expired with the execution"


async def test_two_gates_can_be_approved_back_to_back(api: Api) -> None:
    execution_id = await start(api, await save_flow(api, """
name: two-gates-quick
tasks:
  - name: both
    type: flow.parallel
    properties:
      tasks:
        - {name: legal, type: flow.approval, properties: {message: legal ok?}}
        - {name: finance, type: flow.approval, properties: {message: finance ok?}}
"""))
    await wait_status(api, execution_id, {"PAUSED"})
    gates = await pending_of(api, execution_id)
    assert len(gates) == 2
    for gate in gates:  # the second decision may land while the first one's resume is under way
        reply = await api.post(f"/api/v1/approvals/{gate['id']}/approve")
        assert reply.status == 200, reply.body
    body = await wait_status(api, execution_id)
    assert body["execution"]["status"] == "SUCCESS", body["execution"]
    assert sorted(r["status"] for r in body["tasks"]) == ["SUCCESS"] * 3
