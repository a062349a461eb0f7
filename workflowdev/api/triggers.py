"""Triggers: CRUD, and the webhook endpoint that fires them."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from workflowdev.api.actors import actor_of
from workflowdev.api.bodies import bool_param
from workflowdev.api.bodies import bounded_int
from workflowdev.api.bodies import field
from workflowdev.api.bodies import paging
from workflowdev.api.bodies import parse_json
from workflowdev.api.bodies import parse_seconds
from workflowdev.api.bodies import read_object
from workflowdev.api.bodies import reject_unknown
from workflowdev.api.bodies import time_field
from workflowdev.api.bodies import time_param
from workflowdev.api.docs import ERRORS
from workflowdev.api.docs import ID_PARAM
from workflowdev.api.docs import PAGING
from workflowdev.api.docs import TIMESTAMP
from workflowdev.api.docs import Schema
from workflowdev.api.docs import array
from workflowdev.api.docs import error
from workflowdev.api.docs import json_body
from workflowdev.api.docs import ok
from workflowdev.api.docs import ref
from workflowdev.api.keys import ENGINE
from workflowdev.api.replies import page_reply
from workflowdev.engine.clock import rfc3339
from workflowdev.engine.errors import Invalid
from workflowdev.engine.language.trigger_config import TRIGGER_TYPES
from workflowdev.engine.run.lifecycle import ENDED
from workflowdev.engine.services.schedules import MAX_BACKFILL
from workflowdev.engine.services.schedules import MAX_BACKFILL_CONCURRENCY
from workflowdev.engine.services.schedules import MAX_SLOTS_LISTED
from workflowdev.engine.services.triggers import WebhookCall
from workflowdev.engine.services.triggers import trigger_json
from workflowdev.store.statuses import UNRUN_SLOTS
from workflowdev.store.statuses import SlotState

routes = web.RouteTableDef()
WAIT_DEFAULT_SECONDS = 30.0
WAIT_MAX_SECONDS = 300.0
MAX_IDEMPOTENCY_KEY = 255


@routes.get("/api/v1/triggers", name="triggers.list")
async def list_triggers(request: web.Request) -> web.Response:
    limit, offset = paging(request)
    kind = request.query.get("type")
    if kind is not None and kind not in TRIGGER_TYPES:
        raise Invalid(f"type must be one of {', '.join(TRIGGER_TYPES)}")
    rows, total = await request.app[ENGINE].triggers.list(
        flow_id=request.query.get("flowId"), kind=kind, limit=limit, offset=offset
    )
    return page_reply([trigger_json(r) for r in rows], total)


@routes.post("/api/v1/triggers", name="triggers.create")
async def create_trigger(request: web.Request) -> web.Response:
    body = await read_object(request)
    reject_unknown(body, {"flowId", "type", "name", "enabled", "config"})
    enabled = field(body, "enabled", bool)
    row = await request.app[ENGINE].triggers.create(
        flow_id=field(body, "flowId", str, required=True),
        kind=field(body, "type", str, required=True),
        name=field(body, "name", str),
        enabled=True if enabled is None else enabled,
        config=field(body, "config", dict) or {},
        actor=actor_of(request),
    )
    return web.json_response(trigger_json(row), status=201)


@routes.get("/api/v1/triggers/{id}", name="triggers.get")
async def get_trigger(request: web.Request) -> web.Response:
    return web.json_response(trigger_json(await request.app[ENGINE].triggers.get(request.match_info["id"])))


@routes.put("/api/v1/triggers/{id}", name="triggers.update")
async def update_trigger(request: web.Request) -> web.Response:
    body = await read_object(request)
    reject_unknown(body, {"name", "enabled", "config", "id", "flowId", "type"})
    current = await request.app[ENGINE].triggers.get(request.match_info["id"])
    for fixed, value in (("flowId", current.flow_id), ("type", current.type)):
        if fixed in body and body[fixed] != value:
            raise Invalid(f"{fixed} cannot change; create another trigger instead")
    row = await request.app[ENGINE].triggers.update(
        current.id,
        actor=actor_of(request),
        name=field(body, "name", str),
        enabled=field(body, "enabled", bool),
        config=field(body, "config", dict),
    )
    request.app[ENGINE].scheduler.wake()
    return web.json_response(trigger_json(row))


@routes.delete("/api/v1/triggers/{id}", name="triggers.delete")
async def delete_trigger(request: web.Request) -> web.Response:
    await request.app[ENGINE].triggers.delete(request.match_info["id"], actor=actor_of(request))
    return web.Response(status=204)


@routes.get("/api/v1/triggers/{id}/slots", name="triggers.slots")
async def list_slots(request: web.Request) -> web.Response:
    engine = request.app[ENGINE]
    trigger = await engine.triggers.get(request.match_info["id"])
    raw_limit = request.query.get("limit")
    limit = MAX_SLOTS_LISTED if raw_limit is None else bounded_int(raw_limit, "query parameter limit", 1, MAX_SLOTS_LISTED)
    rows = await engine.schedules.slots(trigger, time_param(request, "from"), time_param(request, "to"), limit)
    return web.json_response([
        {
            "instant": rfc3339(row.scheduled_at),
            "state": row.state,
            "executionId": row.execution_id,
            "firedAt": None if row.state in UNRUN_SLOTS else rfc3339(row.fired_at),
        }
        for row in rows
    ])


@routes.post("/api/v1/triggers/{id}/backfill", name="triggers.backfill")
async def backfill(request: web.Request) -> web.Response:
    body = await read_object(request)
    reject_unknown(body, {"from", "to", "concurrency", "dryRun"})
    concurrency = field(body, "concurrency", int)
    if concurrency is not None and not 1 <= concurrency <= MAX_BACKFILL_CONCURRENCY:
        raise Invalid(
            f"concurrency must be between 1 and {MAX_BACKFILL_CONCURRENCY}",
            [{"path": "concurrency", "message": f"must be between 1 and {MAX_BACKFILL_CONCURRENCY}"}],
        )
    engine = request.app[ENGINE]
    trigger = await engine.triggers.get(request.match_info["id"])
    dry_run = bool(field(body, "dryRun", bool))
    plan = await engine.schedules.backfill(
        trigger,
        time_field(body, "from", required=True),
        time_field(body, "to", required=True),
        concurrency=concurrency,
        dry_run=dry_run,
        actor=actor_of(request),
    )
    instants = [rfc3339(i) for i in plan.instants]
    if dry_run:
        return web.json_response({"dryRun": True, "instants": instants, "executionIds": []})
    return web.json_response({"executionIds": plan.execution_ids, "instants": instants}, status=201 if plan.execution_ids else 200)


async def _webhook_body(request: web.Request, raw: bytes) -> Any:
    """JSON when it says JSON, a form as an object, anything else as text."""
    if not raw:
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Invalid("webhook body is not UTF-8 text") from None
    if request.content_type == "application/json":
        return parse_json(text)
    if request.content_type == "application/x-www-form-urlencoded":
        return dict(parse_qsl(text, keep_blank_values=True))
    return text


def _wait_seconds(request: web.Request) -> float:
    raw = request.query.get("timeout")
    if raw is None:
        return WAIT_DEFAULT_SECONDS
    value = parse_seconds(raw, "timeout")
    if not 0 < value <= WAIT_MAX_SECONDS:
        raise Invalid(f"timeout must be between 0 and {WAIT_MAX_SECONDS:g} seconds")
    return value


@routes.post("/api/v1/webhook/{key}", name="webhook.fire")
async def fire_webhook(request: web.Request) -> web.Response:
    raw = await request.read()
    idempotency_key = request.headers.get("Idempotency-Key")
    if idempotency_key is not None and not 0 < len(idempotency_key) <= MAX_IDEMPOTENCY_KEY:
        raise Invalid(f"Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} characters")
    wait = bool_param(request, "wait")
    timeout = _wait_seconds(request)
    call = WebhookCall(
        key=request.match_info["key"],
        body=await _webhook_body(request, raw),
        raw_body=raw,
        headers=dict(request.headers),
        query={k: request.query.getall(k) if len(request.query.getall(k)) > 1 else v for k, v in request.query.items()},
        signature=request.headers.get("X-Workflowdev-Signature"),
        idempotency_key=idempotency_key,
    )
    engine = request.app[ENGINE]
    started, created = await engine.triggers.fire_webhook(call)
    if not wait:
        return web.json_response(started, status=201 if created else 200)
    try:
        ended = await asyncio.wait_for(engine.executions.wait(started["executionId"]), timeout)
    except TimeoutError:
        current = await engine.executions.get_row(started["executionId"])
        return web.json_response({"executionId": current.id, "status": current.status}, status=202)
    return web.json_response(
        {"executionId": ended.id, "status": ended.status, "outputs": ended.outputs, "error": ended.error},
        status=200 if ended.status in ENDED else 202,
    )


SCHEMAS: dict[str, Schema] = {
    "Trigger": {
        "type": "object",
        "required": ["id", "flowId", "type", "name", "enabled", "config"],
        "properties": {
            "id": {"type": "string"},
            "flowId": {"type": "string"},
            "type": {"enum": list(TRIGGER_TYPES)},
            "name": {"type": "string"},
            "enabled": {"type": "boolean"},
            "config": {
                "type": "object",
                "description": "webhook: {key, secret (always shown as ***), signature: body | timestamped "
                "(default body), tolerance (seconds, timestamped only, 1–3600, default 300)}; schedule: {cron, timezone, inputs, "
                "catchUp}; flow: {upstreamFlowId, statuses}",
            },
            "fromYaml": {"type": "boolean", "description": "declared in the flow's YAML; change it there"},
            "createdAt": TIMESTAMP,
            "updatedAt": TIMESTAMP,
            "lastFiredAt": {"type": ["string", "null"], "format": "date-time"},
            "nextFireAt": {"type": ["string", "null"], "format": "date-time"},
        },
    },
    "TriggerCreate": {
        "type": "object",
        "required": ["flowId", "type"],
        "additionalProperties": False,
        "properties": {
            "flowId": {"type": "string"},
            "type": {"enum": list(TRIGGER_TYPES)},
            "name": {"type": "string"},
            "enabled": {"type": "boolean", "default": True},
            "config": {"type": "object"},
        },
    },
    "TriggerUpdate": {
        "type": "object",
        "properties": {"name": {"type": "string"}, "enabled": {"type": "boolean"}, "config": {"type": "object"}},
    },
    "Slot": {
        "type": "object",
        "required": ["instant", "state", "executionId", "firedAt"],
        "properties": {
            "instant": TIMESTAMP,
            "state": {
                "enum": [str(s) for s in SlotState],
                "description": "fired; late (fired more than schedule_late_after after its instant); skipped (catch-up "
                "off: passed over after downtime); missed (past the catch-up limit, or the flow refused to start); "
                "backfilled. Only skipped and missed slots have no execution, and only they are backfilled.",
            },
            "executionId": {"type": ["string", "null"]},
            "firedAt": {"type": ["string", "null"], "format": "date-time"},
        },
    },
    "BackfillRequest": {
        "type": "object",
        "required": ["from", "to"],
        "additionalProperties": False,
        "properties": {
            "from": {**TIMESTAMP, "description": "the first instant considered (included)"},
            "to": {**TIMESTAMP, "description": "the end of the range (excluded); instants after now are left to the schedule"},
            "concurrency": {"type": "integer", "minimum": 1, "maximum": MAX_BACKFILL_CONCURRENCY,
                            "description": "executions of this backfill running at once; unset: no limit of its own"},
            "dryRun": {"type": "boolean", "description": "answer the instants it would run, start nothing"},
        },
    },
    "BackfillResult": {
        "type": "object",
        "required": ["executionIds", "instants"],
        "properties": {
            "executionIds": array({"type": "string"}),
            "instants": {**array(TIMESTAMP), "description": "the slots of the range that had no execution"},
            "dryRun": {"type": "boolean"},
        },
    },
    "WebhookResult": {
        "type": "object",
        "required": ["executionId", "status"],
        "properties": {
            "executionId": {"type": "string"},
            "status": {"type": "string"},
            "outputs": {"type": ["object", "null"]},
            "error": {"type": ["string", "null"]},
        },
    },
}
OPERATIONS: dict[str, Schema] = {
    "triggers.list": {
        "summary": "List triggers, newest first",
        "parameters": [
            {"name": "flowId", "in": "query", "schema": {"type": "string"}},
            {"name": "type", "in": "query", "schema": {"enum": list(TRIGGER_TYPES)}},
            *PAGING,
        ],
        "responses": {**ok(array(ref("Trigger"))), **ERRORS},
    },
    "triggers.create": {
        "summary": "Create a trigger",
        "requestBody": json_body(ref("TriggerCreate")),
        "responses": {**ok(ref("Trigger"), "201", "Created"), **ERRORS},
    },
    "triggers.get": {"summary": "A trigger", "parameters": [ID_PARAM], "responses": {**ok(ref("Trigger")), **ERRORS}},
    "triggers.update": {
        "summary": "Change a trigger; re-enabling a schedule fires next at its next future instant",
        "parameters": [ID_PARAM],
        "requestBody": json_body(ref("TriggerUpdate")),
        "responses": {**ok(ref("Trigger")), **ERRORS},
    },
    "triggers.delete": {"summary": "Delete a trigger", "parameters": [ID_PARAM], "responses": {"204": {"description": "Deleted"}, **ERRORS}},
    "triggers.slots": {
        "summary": "A schedule's slot ledger: what became of each instant, oldest first",
        "parameters": [
            ID_PARAM,
            {"name": "from", "in": "query", "schema": TIMESTAMP, "description": "included; default: a day before `to`"},
            {"name": "to", "in": "query", "schema": TIMESTAMP, "description": "excluded; default: now"},
            {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": MAX_SLOTS_LISTED},
             "description": f"default {MAX_SLOTS_LISTED}; for more, ask again from the last slot's instant"},
        ],
        "responses": {**ok(array(ref("Slot"))), **ERRORS},
    },
    "triggers.backfill": {
        "summary": f"Run every slot in [from, to) that has no execution, each once (at most {MAX_BACKFILL} instants)",
        "parameters": [ID_PARAM],
        "requestBody": json_body(ref("BackfillRequest")),
        "responses": {
            **ok(ref("BackfillResult"), "201", "Started"),
            **ok(ref("BackfillResult"), "200", "Nothing was missing, or a dry run"),
            **ERRORS,
        },
    },
    "webhook.fire": {
        "summary": "Fire a webhook trigger: the body, headers and query reach the flow as trigger.*",
        "parameters": [
            {"name": "key", "in": "path", "required": True, "schema": {"type": "string"}},
            {"name": "wait", "in": "query", "schema": {"type": "boolean"}, "description": "answer when the execution ends"},
            {"name": "timeout", "in": "query", "schema": {"type": "number", "maximum": WAIT_MAX_SECONDS}},
            {
                "name": "X-Workflowdev-Signature",
                "in": "header",
                "schema": {"type": "string"},
                "description": "Required when the trigger has a secret. Scheme `body` (the default): "
                "`sha256=<hex HMAC-SHA256 of the raw body>`. Scheme `timestamped`: `t=<unix seconds>,"
                "v1=<hex HMAC-SHA256 of '<t>.<raw body>'>`, refused when t is more than the trigger's "
                "`tolerance` (300 s by default) from the server's clock; a verbatim resend inside the "
                "tolerance answers the first call's execution (200). Several v1 entries may be sent.",
            },
            {"name": "Idempotency-Key", "in": "header", "schema": {"type": "string"}},
        ],
        "requestBody": {"required": False, "content": {"application/json": {"schema": {}}, "text/plain": {"schema": {"type": "string"}}}},
        "responses": {
            **ok(ref("WebhookResult"), "201", "Queued"),
            **ok(ref("WebhookResult"), "200", "Finished (wait=true), or the first call's execution (Idempotency-Key)"),
            **ok(ref("WebhookResult"), "202", "Still running when the wait ended"),
            "401": error("Missing or wrong signature, or a timestamped signature outside the tolerance"),
            **ERRORS,
        },
    },
}
