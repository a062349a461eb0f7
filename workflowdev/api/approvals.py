"""Approvals: the gates people decide."""

from __future__ import annotations

from aiohttp import web

from workflowdev.api.actors import actor_of
from workflowdev.api.bodies import field
from workflowdev.api.bodies import paging
from workflowdev.api.bodies import read_object
from workflowdev.api.bodies import reject_unknown
from workflowdev.api.docs import ERRORS
from workflowdev.api.docs import ID_PARAM
from workflowdev.api.docs import PAGING
from workflowdev.api.docs import TIMESTAMP
from workflowdev.api.docs import Schema
from workflowdev.api.docs import array
from workflowdev.api.docs import json_body
from workflowdev.api.docs import ok
from workflowdev.api.docs import ref
from workflowdev.api.keys import ENGINE
from workflowdev.api.replies import page_reply
from workflowdev.engine.errors import Invalid
from workflowdev.engine.run.gates import approval_json
from workflowdev.engine.run.lifecycle import GateStatus

routes = web.RouteTableDef()
STATUSES = [status.value for status in GateStatus]


@routes.get("/api/v1/approvals", name="approvals.list")
async def list_approvals(request: web.Request) -> web.Response:
    limit, offset = paging(request)
    status = request.query.get("status")
    if status is not None and status.upper() not in STATUSES:
        raise Invalid(f"unknown status {status}; one of {', '.join(STATUSES)}")
    rows, total = await request.app[ENGINE].approvals.list(
        status=status.upper() if status else None,
        execution_id=request.query.get("executionId"),
        limit=limit,
        offset=offset,
    )
    return page_reply([approval_json(r) for r in rows], total)


@routes.get("/api/v1/approvals/{id}", name="approvals.get")
async def get_approval(request: web.Request) -> web.Response:
    return web.json_response(approval_json(await request.app[ENGINE].approvals.get(request.match_info["id"])))


async def _decide(request: web.Request, approve: bool) -> web.Response:
    body = await read_object(request, optional=True)
    reject_unknown(body, {"comment"})
    row = await request.app[ENGINE].approvals.decide(
        request.match_info["id"], approve=approve, actor=actor_of(request), comment=field(body, "comment", str)
    )
    return web.json_response(approval_json(row))


@routes.post("/api/v1/approvals/{id}/approve", name="approvals.approve")
async def approve(request: web.Request) -> web.Response:
    return await _decide(request, True)


@routes.post("/api/v1/approvals/{id}/reject", name="approvals.reject")
async def reject(request: web.Request) -> web.Response:
    return await _decide(request, False)


SCHEMAS: dict[str, Schema] = {
    "Approval": {
        "type": "object",
        "required": ["id", "executionId", "taskName", "status", "createdAt"],
        "properties": {
            "id": {"type": "string"},
            "executionId": {"type": "string"},
            "flowId": {"type": "string"},
            "taskName": {"type": "string"},
            "message": {"type": ["string", "null"]},
            "context": {},
            "status": {"enum": STATUSES},
            "createdAt": TIMESTAMP,
            "expiresAt": {"type": ["string", "null"], "format": "date-time"},
            "decidedAt": {"type": ["string", "null"], "format": "date-time"},
            "decidedBy": {"type": ["string", "null"]},
            "comment": {"type": ["string", "null"]},
        },
    },
    "Decision": {"type": "object", "additionalProperties": False, "properties": {"comment": {"type": "string"}}},
}
OPERATIONS: dict[str, Schema] = {
    "approvals.list": {
        "summary": "List approvals, newest first",
        "parameters": [
            {"name": "status", "in": "query", "schema": {"enum": STATUSES}},
            {"name": "executionId", "in": "query", "schema": {"type": "string"}},
            *PAGING,
        ],
        "responses": {**ok(array(ref("Approval"))), **ERRORS},
    },
    "approvals.get": {"summary": "An approval", "parameters": [ID_PARAM], "responses": {**ok(ref("Approval")), **ERRORS}},
    "approvals.approve": {
        "summary": "Approve a pending gate; its execution goes on",
        "parameters": [ID_PARAM],
        "requestBody": json_body(ref("Decision"), required=False),
        "responses": {**ok(ref("Approval")), **ERRORS},
    },
    "approvals.reject": {
        "summary": "Reject a pending gate; its task fails",
        "parameters": [ID_PARAM],
        "requestBody": json_body(ref("Decision"), required=False),
        "responses": {**ok(ref("Approval")), **ERRORS},
    },
}
