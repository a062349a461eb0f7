"""The OpenAPI 3.1 document, built from one table of operations keyed by route name.

Every named route of the app must have an entry here; a test walks the router to make sure,
so a new endpoint cannot ship undocumented.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

import workflowdev

routes = web.RouteTableDef()

Schema = dict[str, Any]


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _array(item: Schema) -> Schema:
    return {"type": "array", "items": item}


TIMESTAMP: Schema = {"type": "string", "format": "date-time"}
SCHEMAS: dict[str, Schema] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message", "details"],
                "properties": {
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                    "details": _array(
                        {
                            "type": "object",
                            "properties": {
                                "line": {"type": "integer"},
                                "column": {"type": "integer"},
                                "path": {"type": "string"},
                                "message": {"type": "string"},
                            },
                        }
                    ),
                },
            }
        },
    },
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
            "errors": _array(
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
            "triggers": _array({"type": "object"}),
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
    "Health": {"type": "object", "properties": {"status": {"type": "string"}}},
    "Ready": {
        "type": "object",
        "properties": {"status": {"type": "string"}, "database": {"type": "string"}},
    },
}

PAGING = [
    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}},
    {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0, "default": 0}},
]
FLOW_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}


def _json_body(schema: Schema, required: bool = True) -> Schema:
    return {"required": required, "content": {"application/json": {"schema": schema}}}


def _ok(schema: Schema | None, status: str = "200", description: str = "OK") -> dict[str, Any]:
    response: dict[str, Any] = {"description": description}
    if schema is not None:
        response["content"] = {"application/json": {"schema": schema}}
    return {status: response}


def _error(description: str) -> Schema:
    return {"description": description, "content": {"application/json": {"schema": _ref("Error")}}}


ERRORS = {
    "400": _error("Invalid input"),
    "404": _error("Not found"),
    "409": _error("Conflict"),
    "413": _error("Body too large"),
    "415": _error("Wrong content type"),
}

OPERATIONS: dict[str, dict[str, Any]] = {
    "healthz": {"summary": "The process is alive", "responses": _ok(_ref("Health"))},
    "readyz": {"summary": "The database answers", "responses": {**_ok(_ref("Ready")), "503": _error("Database unavailable")}},
    "openapi": {"summary": "This document", "responses": _ok({"type": "object"})},
    "flows.list": {
        "summary": "List flows, newest first",
        "parameters": [
            {"name": "namespace", "in": "query", "schema": {"type": "string"}},
            {"name": "q", "in": "query", "schema": {"type": "string"}, "description": "text in name or description"},
            *PAGING,
        ],
        "responses": _ok(_array(_ref("Flow"))),
    },
    "flows.create": {
        "summary": "Create a flow",
        "requestBody": _json_body(_ref("FlowCreate")),
        "responses": {**_ok(_ref("Flow"), "201", "Created"), **ERRORS},
    },
    "flows.validate": {
        "summary": "Validate flow YAML without saving it",
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"type": "object", "required": ["yamlContent"], "properties": {"yamlContent": {"type": "string"}}}},
                "application/yaml": {"schema": {"type": "string"}},
                "text/plain": {"schema": {"type": "string"}},
            },
        },
        "responses": {**_ok(_ref("ValidationReport")), **ERRORS},
    },
    "flows.import_flow": {
        "summary": "Import a flow from its export document",
        "parameters": [{"name": "overwrite", "in": "query", "schema": {"type": "boolean", "default": False}}],
        "requestBody": _json_body(_ref("FlowExport")),
        "responses": {**_ok(_ref("Flow"), "201", "Created"), **_ok(_ref("Flow"), "200", "Overwritten as a new revision"), **ERRORS},
    },
    "flows.get": {"summary": "Get a flow", "parameters": [FLOW_ID], "responses": {**_ok(_ref("Flow")), **ERRORS}},
    "flows.update": {
        "summary": "Update a flow; changed YAML becomes a new revision",
        "parameters": [FLOW_ID],
        "requestBody": _json_body(_ref("FlowUpdate")),
        "responses": {**_ok(_ref("Flow")), **ERRORS},
    },
    "flows.delete": {
        "summary": "Delete a flow and its triggers; its executions stay readable",
        "parameters": [FLOW_ID],
        "responses": {"204": {"description": "Deleted"}, **ERRORS},
    },
    "flows.export": {"summary": "Export a flow as JSON", "parameters": [FLOW_ID], "responses": {**_ok(_ref("FlowExport")), **ERRORS}},
    "flows.revisions": {
        "summary": "List revisions, newest first",
        "parameters": [FLOW_ID],
        "responses": {**_ok(_array(_ref("Revision"))), **ERRORS},
    },
    "flows.restore": {
        "summary": "Restore a revision, saved as a new revision",
        "parameters": [FLOW_ID, {"name": "rev", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}}],
        "responses": {**_ok(_ref("Flow")), **ERRORS},
    },
}


def build_document(app: web.Application) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for route in app.router.routes():
        name = route.name
        if name is None or route.method == "HEAD":
            continue
        info = route.resource.get_info() if route.resource else {}
        path = info.get("formatter") or info.get("path")
        operation = {"operationId": name, **OPERATIONS[name]}
        paths.setdefault(path, {})[route.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": "workflowdev", "version": workflowdev.__version__},
        "paths": paths,
        "components": {"schemas": SCHEMAS},
    }


@routes.get("/api/v1/openapi.json", name="openapi")
async def openapi(request: web.Request) -> web.Response:
    return web.json_response(build_document(request.app))
