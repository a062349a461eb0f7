"""The audit log, read-only: who changed what, from where, and when.

Only GET is routed, so every other method on /api/v1/audit is a 405: no request can change or
remove an entry. Filters are strict (an unknown or empty parameter is a 400), because an auditor
whose misspelt filter silently returned the whole log would draw the wrong conclusions.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy import Row

from workflowdev.api.bodies import paging
from workflowdev.api.bodies import time_param
from workflowdev.api.docs import PAGING
from workflowdev.api.docs import TIMESTAMP
from workflowdev.api.docs import Schema
from workflowdev.api.docs import array
from workflowdev.api.docs import error
from workflowdev.api.docs import ok
from workflowdev.api.docs import ref
from workflowdev.api.keys import DATABASE
from workflowdev.api.replies import page_reply
from workflowdev.engine.clock import rfc3339
from workflowdev.engine.errors import Invalid
from workflowdev.store import audit

routes = web.RouteTableDef()

TEXT_FILTERS = {"actor": "actor", "action": "action", "resourceType": "resource_type", "resourceId": "resource_id"}
"""Query parameter → AuditFilter field, for the filters that match a value exactly."""
PARAMETERS = {*TEXT_FILTERS, "since", "limit", "offset"}


def _filter(request: web.Request) -> audit.AuditFilter:
    unknown = sorted(set(request.query) - PARAMETERS)
    if unknown:
        raise Invalid(f"unknown query parameter {unknown[0]!r}; allowed: {', '.join(sorted(PARAMETERS))}")
    values: dict[str, Any] = {}
    for name, field_name in TEXT_FILTERS.items():
        raw = request.query.get(name)
        if raw is not None and not raw.strip():
            raise Invalid(f"query parameter {name} must not be empty")
        values[field_name] = raw
    return audit.AuditFilter(**values, since=time_param(request, "since"))


def entry_json(row: Row[Any]) -> dict[str, Any]:
    return {
        "id": row.id,
        "at": rfc3339(row.at),
        "actor": row.actor,
        "action": row.action,
        "resourceType": row.resource_type,
        "resourceId": row.resource_id,
        "details": row.details,
        "remoteAddr": row.remote_addr,
    }


@routes.get("/api/v1/audit", name="audit.list")
async def list_audit(request: web.Request) -> web.Response:
    where = _filter(request)
    limit, offset = paging(request)
    async with request.app[DATABASE].read() as conn:
        rows = await audit.list_entries(conn, where, limit=limit, offset=offset)
        total = await audit.count_entries(conn, where)
    return page_reply([entry_json(r) for r in rows], total)


SCHEMAS: dict[str, Schema] = {
    "AuditEntry": {
        "type": "object",
        "required": ["id", "at", "actor", "action", "resourceType", "resourceId", "details", "remoteAddr"],
        "properties": {
            "id": {"type": "string"},
            "at": TIMESTAMP,
            "actor": {"type": "string", "description": "The user, `anonymous` without authentication, or `system`."},
            "action": {"type": "string", "examples": ["flow.create", "execution.cancel", "approval.approve"]},
            "resourceType": {"type": "string", "examples": ["flow", "execution", "approval", "kv", "credential"]},
            "resourceId": {"type": ["string", "null"]},
            "details": {"description": "What changed, never a secret value."},
            "remoteAddr": {"type": ["string", "null"], "description": "The client's address, when over HTTP."},
        },
    },
}


def _text_param(name: str, description: str) -> Schema:
    return {"name": name, "in": "query", "description": description, "schema": {"type": "string", "minLength": 1}}


OPERATIONS: dict[str, Schema] = {
    "audit.list": {
        "summary": "The audit log, newest first; entries cannot be changed or deleted",
        "parameters": [
            _text_param("actor", "Only changes made by this user."),
            _text_param("action", "Only this action, such as `flow.update`."),
            _text_param("resourceType", "Only changes to this kind of resource, such as `flow`."),
            _text_param("resourceId", "Only changes to this resource (for kv: `namespace/key`)."),
            {
                "name": "since",
                "in": "query",
                "description": "Only entries made at or after this RFC 3339 instant.",
                "schema": TIMESTAMP,
            },
            *PAGING,
        ],
        "responses": {**ok(array(ref("AuditEntry"))), "400": error("Invalid filter or paging")},
    },
}
