"""Triggers over HTTP: CRUD, webhooks (signatures, wait, idempotency), schedules, flow chains."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import delete

from tests.conftest import Api
from tests.engine.flows_helpers import eventually
from tests.engine.flows_helpers import outputs
from tests.engine.flows_helpers import save_flow
from tests.engine.flows_helpers import tasks_by_name
from tests.engine.flows_helpers import wait_status
from workflowdev.engine.services.triggers import IDEMPOTENCY_WINDOW
from workflowdev.engine.services.triggers import TriggerService
from workflowdev.store import triggers as triggers_store
from workflowdev.store.models import TriggerFiring

ECHO = """
name: echo
tasks:
  - name: got
    type: util.echo
    properties:
      value: {body: "{{ trigger.body }}", query: "{{ trigger.query }}", type: "{{ trigger.type }}",
              agent: "{{ trigger.headers['X-Test'] | default('none') }}"}
"""
SCHEDULED = """
name: ticking
inputs:
  - {name: n, type: integer, default: 0}
tasks:
  - name: tick
    type: util.log
    properties: {message: "tick {{ trigger.scheduledAt }} n={{ inputs.n }}"}
"""


async def create_trigger(api: Api, flow_id: str, kind: str, config: dict[str, Any], **extra: Any) -> dict[str, Any]:
    reply = await api.post("/api/v1/triggers", json={"flowId": flow_id, "type": kind, "config": config, **extra})
    assert reply.status == 201, reply.body
    return reply.body


async def executions_of(api: Api, flow_id: str) -> list[dict[str, Any]]:
    reply = await api.get(f"/api/v1/executions?flowId={flow_id}&limit=1000")
    assert reply.status == 200
    return reply.body


async def test_webhook_crud_and_generated_key(api: Api) -> None:
    flow_id = await save_flow(api, ECHO)
    trigger = await create_trigger(api, flow_id, "webhook", {}, name="incoming")
    assert trigger["name"] == "incoming" and trigger["enabled"] is True and trigger["type"] == "webhook"
    assert len(trigger["config"]["key"]) >= 32 and trigger["nextFireAt"] is None
    listed = await api.get(f"/api/v1/triggers?flowId={flow_id}")
    assert [t["id"] for t in listed.body] == [trigger["id"]] and listed.headers["X-Total-Count"] == "1"
    renamed = await api.put(f"/api/v1/triggers/{trigger['id']}", json={"name": "renamed", "enabled": False})
    assert renamed.status == 200 and renamed.body["name"] == "renamed" and renamed.body["enabled"] is False
    assert (await api.delete(f"/api/v1/triggers/{trigger['id']}")).status == 204
    assert (await api.get(f"/api/v1/triggers/{trigger['id']}")).status == 404


@pytest.mark.parametrize(
    ("body", "status", "path"),
    [
        ({"type": "schedule", "config": {"cron": "61 * * * *"}}, 400, "config.cron"),
        ({"type": "schedule", "config": {"cron": "* * * *"}}, 400, "config.cron"),
        ({"type": "schedule", "config": {"cron": "0 * * * *", "timezone": "Nowhere/City"}}, 400, "config.timezone"),
        ({"type": "schedule", "config": {"cron": "0 * * * *", "inputs": {"n": "x"}}}, 400, "config.inputs.n"),
        ({"type": "cron", "config": {}}, 400, "type"),
        ({"type": "webhook", "config": {"key": "short"}}, 400, "config.key"),
        ({"type": "flow", "config": {"upstreamFlowId": "nope"}}, 400, "config.upstreamFlowId"),
        ({"type": "flow", "config": {}}, 400, "config.upstreamFlowId"),
    ],
)
async def test_bad_triggers_are_400_and_create_nothing(api: Api, body: dict, status: int, path: str) -> None:
    flow_id = await save_flow(api, SCHEDULED)
    reply = await api.post("/api/v1/triggers", json={"flowId": flow_id, **body})
    assert reply.status == status, reply.body
    assert any(d["path"] == path for d in reply.error["details"]), reply.error
    assert (await api.get("/api/v1/triggers")).body == []


async def test_unknown_flow_and_duplicate_key(api: Api) -> None:
    unknown = await api.post("/api/v1/triggers", json={"flowId": "nope", "type": "webhook"})
    assert unknown.status == 400 and "not found" in unknown.error["message"]
    flow_id = await save_flow(api, ECHO)
    await create_trigger(api, flow_id, "webhook", {"key": "k" * 32})
    again = await api.post("/api/v1/triggers", json={"flowId": flow_id, "type": "webhook", "config": {"key": "k" * 32}})
    assert again.status == 409


async def test_webhook_body_headers_and_query_reach_the_flow(api: Api) -> None:
    flow_id = await save_flow(api, ECHO)
    key = (await create_trigger(api, flow_id, "webhook", {}))["config"]["key"]
    reply = await api.post(
        f"/api/v1/webhook/{key}?source=test", json={"customerId": 42, "note": "{{ 7*7 }} ${SECRET}"},
        headers={"X-Test": "yes", "Authorization": "Bearer hidden"},
    )
    assert reply.status == 201 and reply.body["status"] == "QUEUED"
    body = await wait_status(api, reply.body["executionId"])
    assert body["execution"]["status"] == "SUCCESS", body["execution"]
    value = outputs(tasks_by_name(body)["got"][0])["value"]
    assert value["body"] == {"customerId": 42, "note": "{{ 7*7 }} ${SECRET}"}  # data is never rendered
    assert value["query"] == {"source": "test"} and value["type"] == "webhook" and value["agent"] == "yes"
    trigger = body["execution"]["trigger"]
    assert "Authorization" not in trigger["headers"] and trigger["id"]


async def test_webhook_form_and_text_bodies(api: Api) -> None:
    flow_id = await save_flow(api, ECHO)
    key = (await create_trigger(api, flow_id, "webhook", {}))["config"]["key"]
    form = await api.post(f"/api/v1/webhook/{key}?wait=true", data={"a": "1", "b": "two"})
    assert form.status == 200 and form.body["status"] == "SUCCESS"
    assert form.body["outputs"]["got"]["value"]["body"] == {"a": "1", "b": "two"}
    text = await api.post(f"/api/v1/webhook/{key}?wait=true", data="plain words", headers={"Content-Type": "text/plain"})
    assert text.body["outputs"]["got"]["value"]["body"] == "plain words"


async def test_webhook_unknown_disabled_and_oversized(api: Api) -> None:
    assert (await api.post("/api/v1/webhook/" + "x" * 40, json={})).status == 404
    flow_id = await save_flow(api, ECHO)
    trigger = await create_trigger(api, flow_id, "webhook", {})
    key = trigger["config"]["key"]
    await api.put(f"/api/v1/triggers/{trigger['id']}", json={"enabled": False})
    assert (await api.post(f"/api/v1/webhook/{key}", json={})).status == 404
    await api.put(f"/api/v1/triggers/{trigger['id']}", json={"enabled": True})
    big = await api.post(f"/api/v1/webhook/{key}", data="x" * (api.runtime.settings.body_limit + 1))
    assert big.status == 413
    assert await executions_of(api, flow_id) == []


async def test_webhook_signature(api: Api) -> None:
    flow_id = await save_flow(api, ECHO)
    trigger = await create_trigger(api, flow_id, "webhook", {"secret": "s3cret-value"})
    assert trigger["config"]["secret"] == "***"
    assert "s3cret-value" not in json.dumps((await api.get(f"/api/v1/triggers/{trigger['id']}")).body)
    key = trigger["config"]["key"]
    raw = json.dumps({"customerId": 7}).encode()
    good = "sha256=" + hmac.new(b"s3cret-value", raw, hashlib.sha256).hexdigest()
    headers = {"Content-Type": "application/json"}
    assert (await api.post(f"/api/v1/webhook/{key}", data=raw, headers=headers)).status == 401
    wrong = {**headers, "X-Workflowdev-Signature": "sha256=" + "0" * 64}
    assert (await api.post(f"/api/v1/webhook/{key}", data=raw, headers=wrong)).status == 401
    assert await executions_of(api, flow_id) == []
    ok = await api.post(f"/api/v1/webhook/{key}", data=raw, headers={**headers, "X-Workflowdev-Signature": good})
    assert ok.status == 201


def stamped(secret: str, raw: bytes, at: float) -> str:
    """The timestamped scheme, written out here independently of the server's code."""
    t = int(at)
    return f"t={t},v1=" + hmac.new(secret.encode(), f"{t}.".encode() + raw, hashlib.sha256).hexdigest()


async def test_timestamped_webhook_signature_refuses_stale_and_tampered_calls(api: Api) -> None:
    flow_id = await save_flow(api, ECHO)
    config = {"secret": "s3cret-value", "signature": "timestamped", "tolerance": 60}
    trigger = await create_trigger(api, flow_id, "webhook", config)
    assert trigger["config"] == {**config, "secret": "***", "key": trigger["config"]["key"]}
    url = f"/api/v1/webhook/{trigger['config']['key']}"
    raw = json.dumps({"order": 7}).encode()
    now = time.time()

    async def send(signature: str | None, body: bytes = raw) -> Any:
        headers = {"Content-Type": "application/json"}
        if signature is not None:
            headers["X-Workflowdev-Signature"] = signature
        return await api.post(url, data=body, headers=headers)

    fresh = stamped("s3cret-value", raw, now)
    refused = {
        "missing": await send(None),
        "body-only scheme": await send("sha256=" + hmac.new(b"s3cret-value", raw, hashlib.sha256).hexdigest()),
        "stale": await send(stamped("s3cret-value", raw, now - 90)),
        "from the future": await send(stamped("s3cret-value", raw, now + 90)),
        "other body": await send(fresh, json.dumps({"order": 8}).encode()),
        "timestamp moved": await send(fresh.replace(f"t={int(now)}", f"t={int(now) + 1}")),
        "other secret": await send(stamped("another-secret", raw, now)),
        "not a number": await send(fresh.replace(f"t={int(now)}", "t=1e9")),
    }
    assert {name: r.status for name, r in refused.items()} == dict.fromkeys(refused, 401)
    assert all(r.error["code"] for r in refused.values())
    assert await executions_of(api, flow_id) == []

    first = await send(fresh)
    replayed = await send(fresh)
    rolling = await send(f"v1={'0' * 64},{fresh}")  # a sender signing with an old and a new secret
    later = await send(stamped("s3cret-value", raw, now + 1))
    assert (first.status, replayed.status, rolling.status, later.status) == (201, 200, 200, 201)
    assert replayed.body["executionId"] == rolling.body["executionId"] == first.body["executionId"]
    assert later.body["executionId"] != first.body["executionId"]
    assert len(await executions_of(api, flow_id)) == 2


@pytest.mark.parametrize(
    ("config", "path"),
    [
        ({"signature": "timestamped"}, "config.signature"),
        ({"secret": "s3cret-value", "signature": "hmac"}, "config.signature"),
        ({"secret": "s3cret-value", "tolerance": 60}, "config.tolerance"),
        ({"secret": "s3cret-value", "signature": "timestamped", "tolerance": 0}, "config.tolerance"),
        ({"secret": "s3cret-value", "signature": "timestamped", "tolerance": "300"}, "config.tolerance"),
        ({"secret": "s3cret-value", "signature": "timestamped", "tolerance": 3601}, "config.tolerance"),
    ],
)
async def test_bad_signature_settings_are_refused(api: Api, config: dict[str, Any], path: str) -> None:
    flow_id = await save_flow(api, ECHO)
    reply = await api.post("/api/v1/triggers", json={"flowId": flow_id, "type": "webhook", "config": config})
    assert reply.status == 400
    assert [d["path"] for d in reply.error["details"]] == [path]
    assert (await api.get(f"/api/v1/triggers?flowId={flow_id}")).body == []


async def test_webhook_wait_returns_outputs(api: Api) -> None:
    flow_id = await save_flow(api, ECHO)
    key = (await create_trigger(api, flow_id, "webhook", {}))["config"]["key"]
    reply = await api.post(f"/api/v1/webhook/{key}?wait=true&timeout=20", json={"x": 1})
    assert reply.status == 200
    assert reply.body["status"] == "SUCCESS" and reply.body["outputs"]["got"]["value"]["body"] == {"x": 1}


async def test_webhook_idempotency_key(api: Api) -> None:
    flow_id = await save_flow(api, ECHO)
    key = (await create_trigger(api, flow_id, "webhook", {}))["config"]["key"]
    first = await api.post(f"/api/v1/webhook/{key}", json={}, headers={"Idempotency-Key": "order-1"})
    second = await api.post(f"/api/v1/webhook/{key}", json={}, headers={"Idempotency-Key": "order-1"})
    other = await api.post(f"/api/v1/webhook/{key}", json={}, headers={"Idempotency-Key": "order-2"})
    assert (first.status, second.status, other.status) == (201, 200, 201)
    assert first.body["executionId"] == second.body["executionId"] != other.body["executionId"]
    assert len(await executions_of(api, flow_id)) == 2


async def test_concurrent_calls_with_one_idempotency_key_start_exactly_one(api: Api) -> None:
    flow_id = await save_flow(api, ECHO)
    key = (await create_trigger(api, flow_id, "webhook", {}))["config"]["key"]

    async def call() -> Any:
        return await api.post(f"/api/v1/webhook/{key}", json={}, headers={"Idempotency-Key": "order-7"})

    replies = await asyncio.gather(*(call() for _ in range(20)))
    assert sorted(r.status for r in replies) == [200] * 19 + [201]
    assert len({r.body["executionId"] for r in replies}) == 1
    assert len(await executions_of(api, flow_id)) == 1


async def test_idempotency_key_is_reused_once_past_its_window(api: Api) -> None:
    flow_id = await save_flow(api, ECHO)
    trigger = await create_trigger(api, flow_id, "webhook", {})
    url = f"/api/v1/webhook/{trigger['config']['key']}"
    first = await api.post(url, json={}, headers={"Idempotency-Key": "order-9"})
    assert first.status == 201
    service = api.runtime.engine.triggers
    now = service.clock
    service.clock = lambda: now() + IDEMPOTENCY_WINDOW + timedelta(minutes=1)

    async def call() -> Any:
        return await api.post(url, json={}, headers={"Idempotency-Key": "order-9"})

    replies = await asyncio.gather(*(call() for _ in range(20)))
    assert sorted(r.status for r in replies) == [200] * 19 + [201]
    again = {r.body["executionId"] for r in replies}
    assert len(again) == 1 and first.body["executionId"] not in again
    assert len(await executions_of(api, flow_id)) == 2
    async with api.runtime.db.read() as conn:
        history = await triggers_store.firings_of(conn, trigger["id"])
    assert sorted(f.execution_id for f in history) == sorted([first.body["executionId"], *again])


async def test_per_second_schedule_fires_each_instant_once(api: Api) -> None:
    flow_id = await save_flow(api, SCHEDULED)
    trigger = await create_trigger(api, flow_id, "schedule", {"cron": "* * * * * *", "inputs": {"n": 3}})
    assert trigger["nextFireAt"] is not None

    async def three() -> list[dict[str, Any]] | None:
        found = await executions_of(api, flow_id)
        return found if len(found) >= 3 else None

    found = await eventually(three, timeout=15, what="three scheduled executions")
    instants = [e["trigger"]["scheduledAt"] for e in found]
    assert len(instants) == len(set(instants))
    assert all(e["trigger"]["type"] == "schedule" and e["inputs"] == {"n": 3} for e in found)
    await api.put(f"/api/v1/triggers/{trigger['id']}", json={"enabled": False})
    disabled = await api.get(f"/api/v1/triggers/{trigger['id']}")
    assert disabled.body["nextFireAt"] is None and disabled.body["lastFiredAt"] is not None


async def test_flow_trigger_chain(api: Api) -> None:
    first = await save_flow(api, "name: first\ntasks:\n  - {name: a, type: util.noop}\n")
    second = await save_flow(api, "name: second\ntasks:\n  - name: b\n    type: util.echo\n    properties: {value: '{{ trigger.execution.id }}'}\n")
    third = await save_flow(api, "name: third\ntasks:\n  - {name: c, type: util.noop}\n")
    await create_trigger(api, second, "flow", {"upstreamFlowId": first})
    await create_trigger(api, third, "flow", {"upstreamFlowId": second, "statuses": ["SUCCESS", "FAILED"]})
    started = await api.post(f"/api/v1/flows/{first}/execute")

    async def chained() -> list[dict[str, Any]] | None:
        done = [e for e in await executions_of(api, third) if e["status"] == "SUCCESS"]
        return done or None

    last = await eventually(chained, timeout=15, what="the third flow to run")
    middle = (await executions_of(api, second))[0]
    assert middle["trigger"]["execution"]["id"] == started.body["executionId"]
    assert last[0]["trigger"]["execution"]["id"] == middle["id"]
    body = await wait_status(api, middle["id"])
    assert outputs(tasks_by_name(body)["b"][0])["value"] == started.body["executionId"]
    assert len(await executions_of(api, second)) == 1


async def test_yaml_triggers_follow_the_flow(api: Api) -> None:
    yaml = ECHO + "triggers:\n  - name: hook\n    type: webhook\n  - name: nightly\n    type: schedule\n    config: {cron: '0 3 * * *', timezone: Europe/Paris}\n"
    flow_id = await save_flow(api, yaml)
    listed = {t["name"]: t for t in (await api.get(f"/api/v1/triggers?flowId={flow_id}")).body}
    assert set(listed) == {"hook", "nightly"} and all(t["fromYaml"] for t in listed.values())
    assert listed["nightly"]["nextFireAt"] is not None
    key = listed["hook"]["config"]["key"]
    assert (await api.delete(f"/api/v1/triggers/{listed['hook']['id']}")).status == 409
    # a new revision that drops the schedule keeps the webhook and its key
    updated = yaml.split("  - name: nightly")[0]
    assert (await api.put(f"/api/v1/flows/{flow_id}", json={"yamlContent": updated})).status == 200
    after = (await api.get(f"/api/v1/triggers?flowId={flow_id}")).body
    assert [(t["name"], t["config"]["key"]) for t in after] == [("hook", key)]
    await api.delete(f"/api/v1/flows/{flow_id}")
    assert (await api.get("/api/v1/triggers")).body == []
    assert (await api.post(f"/api/v1/webhook/{key}", json={})).status == 404


async def test_export_carries_api_triggers_without_secrets(api: Api) -> None:
    flow_id = await save_flow(api, ECHO)
    await create_trigger(api, flow_id, "webhook", {"key": "w" * 32, "secret": "very-secret"}, name="hook")
    await create_trigger(api, flow_id, "schedule", {"cron": "0 3 * * *"}, name="nightly")
    exported = (await api.get(f"/api/v1/flows/{flow_id}/export")).body
    assert "very-secret" not in json.dumps(exported)
    assert {t["name"] for t in exported["triggers"]} == {"hook", "nightly"}
    await api.delete(f"/api/v1/flows/{flow_id}")
    imported = await api.post("/api/v1/flows/import", json=exported)
    assert imported.status == 201
    again = {t["name"]: t for t in (await api.get(f"/api/v1/triggers?flowId={imported.body['id']}")).body}
    assert set(again) == {"hook", "nightly"} and again["hook"]["config"]["key"] == "w" * 32


async def test_the_flow_trigger_sweep_fires_nothing_that_was_not_due(api: Api) -> None:
    """A node's first look goes a day back: ends from before the trigger existed, ends in a
    status it does not want, and ends it already fired stay as they are."""
    upstream = await save_flow(api, "name: up\ntasks:\n  - {name: a, type: util.noop}\n")
    downstream = await save_flow(api, "name: down\ntasks:\n  - {name: b, type: util.noop}\n")
    before = await wait_status(api, (await api.post(f"/api/v1/flows/{upstream}/execute")).body["executionId"])
    assert before["execution"]["status"] == "SUCCESS"
    await create_trigger(api, downstream, "flow", {"upstreamFlowId": upstream, "statuses": ["FAILED"]})
    await create_trigger(api, downstream, "flow", {"upstreamFlowId": upstream})
    after = await wait_status(api, (await api.post(f"/api/v1/flows/{upstream}/execute")).body["executionId"])

    async def one() -> list[dict[str, Any]] | None:
        found = await executions_of(api, downstream)
        return found or None

    fired = await eventually(one, timeout=15, what="the downstream execution")
    live = api.runtime.engine.triggers
    first_look = TriggerService(live.db, live.executions, live.flows, live.bus, live.clock)  # a node just started
    assert await first_look.fire_missed_flow_triggers() == 0
    assert [e["trigger"]["execution"]["id"] for e in fired] == [after["execution"]["id"]]

    async with api.runtime.db.write() as conn:  # as if the node died before the firing
        firings = TriggerFiring.__table__
        await conn.execute(delete(firings).where(firings.c.idempotency_key == after["execution"]["id"]))
    another_first_look = TriggerService(live.db, live.executions, live.flows, live.bus, live.clock)
    assert await another_first_look.fire_missed_flow_triggers() == 1
    assert await another_first_look.fire_missed_flow_triggers() == 0  # within its interval: no second look
    refired = await executions_of(api, downstream)
    assert sorted(e["trigger"]["execution"]["id"] for e in refired) == [after["execution"]["id"]] * 2
