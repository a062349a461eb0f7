"""The audit log over HTTP: every change made through the API is in it, newest first, filterable,
without secrets, and no request can change or remove an entry."""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

import pytest

from tests.conftest import Api
from tests.engine.flows_helpers import save_flow
from tests.engine.flows_helpers import start
from tests.engine.flows_helpers import wait_status

SECRET = "tok_live_5e4d3c2b1a09"
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
GATED = """
name: audited
tasks:
  - name: gate
    type: flow.approval
    properties: {message: "Go?"}
  - name: after
    type: util.echo
    properties: {value: done}
"""


async def pending_gate(api: Api, execution_id: str) -> str:
    await wait_status(api, execution_id, {"PAUSED"})
    reply = await api.get("/api/v1/approvals", params={"status": "PENDING", "executionId": execution_id})
    assert reply.status == 200 and len(reply.body) == 1, reply.body
    return reply.body[0]["id"]


async def make_changes(api: Api) -> dict[str, str]:
    """One change of each kind through the API, in a known order; returns the ids involved."""
    flow_id = await save_flow(api, GATED)
    assert (await api.put(f"/api/v1/flows/{flow_id}", json={"description": "needs a human"})).status == 200
    approved = await start(api, flow_id)
    approval_id = await pending_gate(api, approved)
    assert (await api.post(f"/api/v1/approvals/{approval_id}/approve", json={"comment": "fine"})).status == 200
    await wait_status(api, approved)
    cancelled = await start(api, flow_id)
    await pending_gate(api, cancelled)
    assert (await api.post(f"/api/v1/executions/{cancelled}/cancel")).status == 200
    assert (await api.put("/api/v1/kv/team/owner", json={"name": "ops"})).status == 200
    assert (await api.delete("/api/v1/kv/team/owner")).status == 204
    credential = await api.post("/api/v1/credentials", json={"name": "API_TOKEN", "value": SECRET})
    assert credential.status == 201, credential.body
    assert (await api.delete(f"/api/v1/flows/{flow_id}")).status == 204
    return {
        "flow": flow_id,
        "approved": approved,
        "approval": approval_id,
        "cancelled": cancelled,
        "credential": credential.body["id"],
    }


async def audit(api: Api, **params: Any) -> tuple[list[dict[str, Any]], int]:
    reply = await api.get("/api/v1/audit", params=params)
    assert reply.status == 200, reply.body
    return reply.body, int(reply.headers["X-Total-Count"])


async def test_every_change_is_recorded_newest_first_without_secrets(api: Api) -> None:
    ids = await make_changes(api)
    entries, total = await audit(api)

    expected = [
        ("flow.delete", "flow", ids["flow"]),
        ("credential.create", "credential", ids["credential"]),
        ("kv.delete", "kv", "team/owner"),
        ("kv.set", "kv", "team/owner"),
        ("execution.cancel", "execution", ids["cancelled"]),
        ("execution.create", "execution", ids["cancelled"]),
        ("approval.approve", "approval", ids["approval"]),
        ("execution.create", "execution", ids["approved"]),
        ("flow.update", "flow", ids["flow"]),
        ("flow.create", "flow", ids["flow"]),
    ]
    assert [(e["action"], e["resourceType"], e["resourceId"]) for e in entries] == expected
    assert total == len(expected)
    for entry in entries:
        assert set(entry) == {"id", "at", "actor", "action", "resourceType", "resourceId", "details", "remoteAddr"}
        assert UUID.match(entry["id"]) and entry["at"].endswith("Z")
        assert (entry["actor"], entry["remoteAddr"]) == ("anonymous", "127.0.0.1")
    times = [datetime.fromisoformat(e["at"]) for e in entries]
    assert times == sorted(times, reverse=True)

    by_action = {e["action"]: e for e in entries}
    assert "description" in by_action["flow.update"]["details"]["changed"]
    assert by_action["approval.approve"]["details"]["executionId"] == ids["approved"]
    assert by_action["credential.create"]["details"] == {"name": "API_TOKEN"}
    assert SECRET not in json.dumps(entries)


async def test_filters_and_paging(api: Api) -> None:
    ids = await make_changes(api)
    everything, total = await audit(api)

    updates, count = await audit(api, action="flow.update")
    assert [e["id"] for e in updates] == [e["id"] for e in everything if e["action"] == "flow.update"]
    assert count == 1

    of_flow, count = await audit(api, resourceType="flow", resourceId=ids["flow"])
    assert [e["action"] for e in of_flow] == ["flow.delete", "flow.update", "flow.create"] and count == 3
    executions, _ = await audit(api, resourceType="execution")
    assert {e["resourceId"] for e in executions} == {ids["approved"], ids["cancelled"]}

    assert (await audit(api, actor="anonymous"))[1] == total
    assert await audit(api, actor="somebody-else") == ([], 0)

    cut = next(e["at"] for e in everything if e["action"] == "approval.approve")
    since, count = await audit(api, since=cut)
    assert [e["id"] for e in since] == [e["id"] for e in everything if e["at"] >= cut]
    assert "flow.create" not in {e["action"] for e in since} and count == len(since)

    page, count = await audit(api, limit=2, offset=1)
    assert [e["id"] for e in page] == [e["id"] for e in everything[1:3]] and count == total


@pytest.mark.parametrize(
    "params",
    [
        {"limit": "0"},
        {"limit": "1001"},
        {"offset": "-1"},
        {"since": "yesterday"},
        {"since": "2026-03-25T10:00:00"},
        {"actor": ""},
        {"actr": "anonymous"},
    ],
)
async def test_bad_filters_are_400(api: Api, params: dict[str, str]) -> None:
    reply = await api.get("/api/v1/audit", params=params)
    assert reply.status == 400 and reply.error["code"] == "invalid", reply.body


async def test_entries_cannot_be_changed_or_deleted_through_the_api(api: Api) -> None:
    await save_flow(api, GATED)
    before, _ = await audit(api)
    entry_id = before[0]["id"]
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        reply = await api.call(method, "/api/v1/audit", json={"action": "nothing.happened"})
        assert reply.status == 405 and reply.error["code"] == "method_not_allowed", (method, reply.body)
        assert "GET" in reply.headers["Allow"]
        gone = await api.call(method, f"/api/v1/audit/{entry_id}")
        assert gone.status == 404 and gone.error["code"] == "not_found"
    assert (await audit(api))[0] == before
