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
    "ExecuteRequest": {
        "type": "object",
        "additionalProperties": False,
        "properties": {"inputs": {"type": "object"}, "labels": {"type": "object"}},
    },
    "ExecutionStarted": {
        "type": "object",
        "required": ["executionId", "status"],
        "properties": {
            "executionId": {"type": "string", "format": "uuid"},
            "status": {"const": "QUEUED"},
            "tasksTotal": {"type": "integer"},
        },
    },
    "Execution": {
        "type": "object",
        "required": ["id", "flowId", "status", "tasksTotal", "tasksExecuted", "createdAt"],
        "properties": {
            "id": {"type": "string", "format": "uuid"},
            "flowId": {"type": "string"},
            "flowName": {"type": "string"},
            "namespace": {"type": "string"},
            "flowRevision": {"type": "integer"},
            "status": {"enum": ["QUEUED", "RUNNING", "PAUSED", "SUCCESS", "FAILED", "CANCELLED", "TIMED_OUT"]},
            "tasksTotal": {"type": "integer"},
            "tasksExecuted": {"type": "integer"},
            "inputs": {"type": "object"},
            "labels": {"type": "object"},
            "trigger": {"type": "object"},
            "error": {"type": ["string", "null"]},
            "createdAt": TIMESTAMP,
            "startedAt": {"type": ["string", "null"], "format": "date-time"},
            "finishedAt": {"type": ["string", "null"], "format": "date-time"},
            "durationMs": {"type": ["integer", "null"]},
        },
    },
    "TaskRun": {
        "type": "object",
        "required": ["id", "taskName", "taskType", "status", "attempt"],
        "properties": {
            "id": {"type": "string"},
            "taskName": {"type": "string"},
            "taskType": {"type": "string"},
            "parentId": {"type": ["string", "null"]},
            "iteration": {"type": ["integer", "null"]},
            "status": {"enum": ["QUEUED", "RUNNING", "WAITING", "SUCCESS", "FAILED", "SKIPPED", "CANCELLED", "TIMED_OUT"]},
            "attempt": {"type": "integer"},
            "outputs": {"type": ["string", "null"], "description": "JSON-encoded outputs"},
            "error": {"type": ["string", "null"]},
            "startedAt": {"type": ["string", "null"], "format": "date-time"},
            "finishedAt": {"type": ["string", "null"], "format": "date-time"},
            "durationMs": {"type": ["integer", "null"]},
        },
    },
    "ExecutionDetail": {
        "type": "object",
        "required": ["execution", "tasks"],
        "properties": {"execution": _ref("Execution"), "tasks": _array(_ref("TaskRun"))},
    },
    "LogLine": {
        "type": "object",
        "properties": {
            "type": {"const": "log"},
            "seq": {"type": "integer"},
            "ts": TIMESTAMP,
            "level": {"enum": ["debug", "info", "warning", "error"]},
            "taskName": {"type": ["string", "null"]},
            "attempt": {"type": ["integer", "null"]},
            "message": {"type": "string"},
        },
    },
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
            "status": {"enum": ["PENDING", "APPROVED", "REJECTED", "EXPIRED"]},
            "createdAt": TIMESTAMP,
            "expiresAt": {"type": ["string", "null"], "format": "date-time"},
            "decidedAt": {"type": ["string", "null"], "format": "date-time"},
            "decidedBy": {"type": ["string", "null"]},
            "comment": {"type": ["string", "null"]},
        },
    },
    "Decision": {"type": "object", "additionalProperties": False, "properties": {"comment": {"type": "string"}}},
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
ID = FLOW_ID


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
    "flows.execute": {
        "summary": "Start an execution; answers once it is durably QUEUED",
        "parameters": [FLOW_ID],
        "requestBody": _json_body(_ref("ExecuteRequest"), required=False),
        "responses": {**_ok(_ref("ExecutionStarted"), "201", "Queued"), **ERRORS},
    },
    "executions.list": {
        "summary": "List executions, newest first",
        "parameters": [
            {"name": "flowId", "in": "query", "schema": {"type": "string"}},
            {"name": "namespace", "in": "query", "schema": {"type": "string"}},
            {"name": "status", "in": "query", "schema": {"type": "string"}, "description": "one or more, comma-separated"},
            {"name": "since", "in": "query", "schema": {"type": "string", "format": "date-time"}},
            *PAGING,
        ],
        "responses": {**_ok(_array(_ref("Execution"))), **ERRORS},
    },
    "executions.get": {"summary": "An execution with its task runs", "parameters": [ID], "responses": {**_ok(_ref("ExecutionDetail")), **ERRORS}},
    "executions.logs": {
        "summary": "Log lines: a WebSocket (history, then live, then {type: end}), or a JSON array on plain GET",
        "parameters": [ID],
        "responses": {**_ok(_array(_ref("LogLine"))), "101": {"description": "Switching to WebSocket"}, **ERRORS},
    },
    "executions.cancel": {"summary": "Cancel a queued, paused or running execution", "parameters": [ID], "responses": {**_ok(_ref("Execution")), **ERRORS}},
    "executions.retry": {
        "summary": "Resume a FAILED, CANCELLED or TIMED_OUT execution; finished tasks keep their outputs",
        "parameters": [ID],
        "responses": {**_ok(_ref("ExecutionStarted")), **ERRORS},
    },
    "approvals.list": {
        "summary": "List approvals, newest first",
        "parameters": [
            {"name": "status", "in": "query", "schema": {"enum": ["PENDING", "APPROVED", "REJECTED", "EXPIRED"]}},
            {"name": "executionId", "in": "query", "schema": {"type": "string"}},
            *PAGING,
        ],
        "responses": {**_ok(_array(_ref("Approval"))), **ERRORS},
    },
    "approvals.get": {"summary": "An approval", "parameters": [ID], "responses": {**_ok(_ref("Approval")), **ERRORS}},
    "approvals.approve": {
        "summary": "Approve a pending gate; its execution goes on",
        "parameters": [ID],
        "requestBody": _json_body(_ref("Decision"), required=False),
        "responses": {**_ok(_ref("Approval")), **ERRORS},
    },
    "approvals.reject": {
        "summary": "Reject a pending gate; its task fails",
        "parameters": [ID],
        "requestBody": _json_body(_ref("Decision"), required=False),
        "responses": {**_ok(_ref("Approval")), **ERRORS},
    },
    "events": {
        "summary": "WebSocket of execution.updated, task.updated, approval.created and approval.decided events",
        "parameters": [{"name": "executionId", "in": "query", "schema": {"type": "string"}}],
        "responses": {"101": {"description": "Switching to WebSocket"}, **ERRORS},
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
