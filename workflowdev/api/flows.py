"""The Flows resource: CRUD, validate, import/export, revisions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aiohttp import web
from sqlalchemy import Row

from workflowdev.api import serialize
from workflowdev.api.actors import actor_of
from workflowdev.api.bodies import MAX_REVISION
from workflowdev.api.bodies import UnsupportedMediaType
from workflowdev.api.bodies import bool_param
from workflowdev.api.bodies import bounded_int
from workflowdev.api.bodies import field
from workflowdev.api.bodies import paging
from workflowdev.api.bodies import read_object
from workflowdev.api.bodies import read_text
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
from workflowdev.api.keys import FLOWS
from workflowdev.api.replies import page_reply
from workflowdev.engine.clock import rfc3339
from workflowdev.engine.services.flows import FlowSummary

routes = web.RouteTableDef()
YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/plain")


async def _flows_json(request: web.Request, rows: Sequence[Row[Any]]) -> list[dict[str, Any]]:
    """Flows as the API shows them: the stored flow plus its read-only summary (last run, triggers)."""
    summaries = await request.app[FLOWS].summaries([row.id for row in rows])
    return [{**serialize.flow(row), **_summary_json(summaries[row.id])} for row in rows]


async def _flow_json(request: web.Request, row: Row[Any]) -> dict[str, Any]:
    return (await _flows_json(request, [row]))[0]


def _summary_json(summary: FlowSummary) -> dict[str, Any]:
    last = summary.last_execution
    return {
        "lastExecution": None
        if last is None
        else {"id": last.id, "status": last.status, "createdAt": rfc3339(last.created_at)},
        "triggersCount": summary.triggers_count,
    }


@routes.get("/api/v1/flows", name="flows.list")
async def list_flows(request: web.Request) -> web.Response:
    limit, offset = paging(request)
    rows, total = await request.app[FLOWS].list(
        namespace=request.query.get("namespace"), text=request.query.get("q"), limit=limit, offset=offset
    )
    return page_reply(await _flows_json(request, rows), total)


@routes.post("/api/v1/flows", name="flows.create")
async def create_flow(request: web.Request) -> web.Response:
    body = await read_object(request)
    reject_unknown(body, {"name", "namespace", "description", "yamlContent"})
    row = await request.app[FLOWS].create(
        yaml_content=field(body, "yamlContent", str, required=True),
        name=field(body, "name", str),
        namespace=field(body, "namespace", str),
        description=field(body, "description", str),
        actor=actor_of(request),
    )
    return web.json_response(await _flow_json(request, row), status=201)


@routes.post("/api/v1/flows/validate", name="flows.validate")
async def validate_flow(request: web.Request) -> web.Response:
    if request.content_type in YAML_TYPES:
        yaml_content = await read_text(request)
    elif request.content_type == "application/json":
        body = await read_object(request)
        yaml_content = field(body, "yamlContent", str, required=True)
    else:
        raise UnsupportedMediaType(
            'send {"yamlContent": ...} as application/json, or the YAML itself as application/yaml'
        )
    return web.json_response(request.app[FLOWS].validate(yaml_content).to_json())


@routes.post("/api/v1/flows/import", name="flows.import_flow")
async def import_flow(request: web.Request) -> web.Response:
    document = await read_object(request)
    row, created = await request.app[FLOWS].import_(
        document, overwrite=bool_param(request, "overwrite"), actor=actor_of(request)
    )
    return web.json_response(await _flow_json(request, row), status=201 if created else 200)


@routes.get("/api/v1/flows/{id}", name="flows.get")
async def get_flow(request: web.Request) -> web.Response:
    return web.json_response(await _flow_json(request, await request.app[FLOWS].get(request.match_info["id"])))


@routes.put("/api/v1/flows/{id}", name="flows.update")
async def update_flow(request: web.Request) -> web.Response:
    body = await read_object(request)
    reject_unknown(body, {"yamlContent", "namespace", "description", "name", "id"})
    row = await request.app[FLOWS].update(
        request.match_info["id"],
        yaml_content=field(body, "yamlContent", str),
        namespace=field(body, "namespace", str),
        description=field(body, "description", str),
        actor=actor_of(request),
    )
    return web.json_response(await _flow_json(request, row))


@routes.delete("/api/v1/flows/{id}", name="flows.delete")
async def delete_flow(request: web.Request) -> web.Response:
    await request.app[FLOWS].delete(request.match_info["id"], actor=actor_of(request))
    return web.Response(status=204)


@routes.get("/api/v1/flows/{id}/export", name="flows.export")
async def export_flow(request: web.Request) -> web.Response:
    return web.json_response(await request.app[FLOWS].export(request.match_info["id"]))


@routes.get("/api/v1/flows/{id}/revisions", name="flows.revisions")
async def list_revisions(request: web.Request) -> web.Response:
    rows = await request.app[FLOWS].revisions(request.match_info["id"])
    return page_reply([serialize.revision(r) for r in rows], len(rows))


@routes.post("/api/v1/flows/{id}/revisions/{rev}/restore", name="flows.restore")
async def restore_revision(request: web.Request) -> web.Response:
    revision = bounded_int(request.match_info["rev"], "revision", 1, MAX_REVISION)
    row = await request.app[FLOWS].restore(request.match_info["id"], revision, actor=actor_of(request))
    return web.json_response(await _flow_json(request, row))


SCHEMAS: dict[str, Schema] = {
    "Flow": {
        "type": "object",
        "required": ["id", "name", "namespace", "yamlContent", "revision", "createdAt", "updatedAt"],
        "properties": {
            "id": {"type": "string", "format": "uuid"},
            "name": {"type": "string"},
            "namespace": {"type": "string"},
            "description": {"type": ["string", "null"]},
            "yamlContent": {"type": "string"},
            "revision": {"type": "integer", "minimum": 1},
            "tasksTotal": {"type": "integer"},
            "createdAt": TIMESTAMP,
            "updatedAt": TIMESTAMP,
            "lastExecution": {
                "description": "Read-only, beyond the reference: the flow's newest execution, null if it never ran",
                "oneOf": [
                    {"type": "null"},
                    {
                        "type": "object",
                        "required": ["id", "status", "createdAt"],
                        "properties": {
                            "id": {"type": "string", "format": "uuid"},
                            "status": {"type": "string"},
                            "createdAt": TIMESTAMP,
                        },
                    },
                ],
            },
            "triggersCount": {
                "description": "Read-only, beyond the reference: how many triggers (enabled or not) the flow has",
                "type": "integer",
                "minimum": 0,
            },
        },
    },
    "FlowCreate": {
        "type": "object",
        "required": ["yamlContent"],
        "additionalProperties": False,
        "properties": {
            "name": {"type": "string"},
            "namespace": {"type": "string"},
            "description": {"type": "string"},
            "yamlContent": {"type": "string"},
        },
    },
    "FlowUpdate": {
        "type": "object",
        "properties": {
            "yamlContent": {"type": "string"},
            "namespace": {"type": "string"},
            "description": {"type": "string"},
        },
    },
    "ValidationReport": {
        "type": "object",
        "required": ["valid", "errors", "tasksTotal"],
        "properties": {
            "valid": {"type": "boolean"},
            "errors": array(
                {
                    "type": "object",
                    "required": ["line", "column", "path", "message"],
                    "properties": {
                        "line": {"type": "integer"},
                        "column": {"type": "integer"},
                        "path": {"type": "string"},
                        "message": {"type": "string"},
                    },
                }
            ),
            "tasksTotal": {"type": "integer"},
        },
    },
    "FlowExport": {
        "type": "object",
        "required": ["formatVersion", "yamlContent"],
        "properties": {
            "formatVersion": {"const": 1},
            "name": {"type": "string"},
            "namespace": {"type": "string"},
            "description": {"type": ["string", "null"]},
            "yamlContent": {"type": "string"},
            "triggers": array({"type": "object"}),
            "exportedAt": TIMESTAMP,
        },
    },
    "Revision": {
        "type": "object",
        "required": ["revision", "yamlContent", "createdAt"],
        "properties": {
            "revision": {"type": "integer"},
            "yamlContent": {"type": "string"},
            "createdAt": TIMESTAMP,
            "createdBy": {"type": ["string", "null"]},
        },
    },
}
OPERATIONS: dict[str, Schema] = {
    "flows.list": {
        "summary": "List flows, newest first",
        "parameters": [
            {"name": "namespace", "in": "query", "schema": {"type": "string"}},
            {"name": "q", "in": "query", "schema": {"type": "string"}, "description": "text in name or description"},
            *PAGING,
        ],
        "responses": ok(array(ref("Flow"))),
    },
    "flows.create": {
        "summary": "Create a flow",
        "requestBody": json_body(ref("FlowCreate")),
        "responses": {**ok(ref("Flow"), "201", "Created"), **ERRORS},
    },
    "flows.validate": {
        "summary": "Validate flow YAML without saving it",
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["yamlContent"],
                        "properties": {"yamlContent": {"type": "string"}},
                    }
                },
                "application/yaml": {"schema": {"type": "string"}},
                "text/plain": {"schema": {"type": "string"}},
            },
        },
        "responses": {**ok(ref("ValidationReport")), **ERRORS},
    },
    "flows.import_flow": {
        "summary": "Import a flow from its export document",
        "parameters": [{"name": "overwrite", "in": "query", "schema": {"type": "boolean", "default": False}}],
        "requestBody": json_body(ref("FlowExport")),
        "responses": {
            **ok(ref("Flow"), "201", "Created"),
            **ok(ref("Flow"), "200", "Overwritten as a new revision"),
            **ERRORS,
        },
    },
    "flows.get": {"summary": "Get a flow", "parameters": [ID_PARAM], "responses": {**ok(ref("Flow")), **ERRORS}},
    "flows.update": {
        "summary": "Update a flow; changed YAML becomes a new revision",
        "parameters": [ID_PARAM],
        "requestBody": json_body(ref("FlowUpdate")),
        "responses": {**ok(ref("Flow")), **ERRORS},
    },
    "flows.delete": {
        "summary": "Delete a flow and its triggers; its executions stay readable",
        "parameters": [ID_PARAM],
        "responses": {"204": {"description": "Deleted"}, **ERRORS},
    },
    "flows.export": {
        "summary": "Export a flow as JSON",
        "parameters": [ID_PARAM],
        "responses": {**ok(ref("FlowExport")), **ERRORS},
    },
    "flows.revisions": {
        "summary": "List revisions, newest first",
        "parameters": [ID_PARAM],
        "responses": {**ok(array(ref("Revision"))), **ERRORS},
    },
    "flows.restore": {
        "summary": "Restore a revision, saved as a new revision",
        "parameters": [
            ID_PARAM,
            {"name": "rev", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}},
        ],
        "responses": {**ok(ref("Flow")), **ERRORS},
    },
}
