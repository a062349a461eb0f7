"""Executions: start one, read them, follow their logs, cancel, retry and replay."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from workflowdev.api.actors import actor_of
from workflowdev.api.bodies import MAX_OFFSET
from workflowdev.api.bodies import field
from workflowdev.api.bodies import int_param
from workflowdev.api.bodies import paging
from workflowdev.api.bodies import read_object
from workflowdev.api.bodies import reject_unknown
from workflowdev.api.bodies import time_param
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
from workflowdev.api.streams import serve_stream
from workflowdev.api.streams import stream_socket
from workflowdev.engine.errors import Invalid
from workflowdev.engine.run.lifecycle import ExecutionStatus
from workflowdev.engine.run.lifecycle import TaskStatus
from workflowdev.engine.run.recorder import log_json
from workflowdev.engine.services.executions import execution_json
from workflowdev.engine.services.executions import task_run_json
from workflowdev.engine.services.follow import LogEnded
from workflowdev.engine.services.follow import LogLine
from workflowdev.engine.services.follow import follow_logs

routes = web.RouteTableDef()
STATUSES = tuple(s.value for s in ExecutionStatus)
TASK_STATUSES = tuple(s.value for s in TaskStatus)
DETAIL_TASK_RUNS = 1000
LOG_PAGE = 10_000
"""Lines a plain GET of an execution's log answers at most; the next page starts after the
last line's seq (`afterSeq`). The WebSocket has no such limit: it reads the store a page at a
time itself."""
"""Task runs `GET /executions/{id}` carries: a long foreach records 100,000 and more, which one
response must not hold; `GET /executions/{id}/tasks` pages through them all."""


@routes.post("/api/v1/flows/{id}/execute", name="flows.execute")
async def execute_flow(request: web.Request) -> web.Response:
    body = await read_object(request, optional=True)
    reject_unknown(body, {"inputs", "labels"})
    started = await request.app[ENGINE].executions.start(
        request.match_info["id"],
        actor=actor_of(request),
        inputs=field(body, "inputs", dict),
        labels=field(body, "labels", dict),
        trigger={"type": "manual", "by": actor_of(request).name},
    )
    return web.json_response(started, status=201)


def _statuses(request: web.Request, known: tuple[str, ...] = STATUSES) -> list[str]:
    wanted = [s.strip().upper() for raw in request.query.getall("status", []) for s in raw.split(",") if s.strip()]
    unknown = [s for s in wanted if s not in known]
    if unknown:
        raise Invalid(f"unknown status {unknown[0]}; one of {', '.join(known)}")
    return wanted


@routes.get("/api/v1/executions", name="executions.list")
async def list_executions(request: web.Request) -> web.Response:
    limit, offset = paging(request)
    rows, total = await request.app[ENGINE].executions.list(
        flow_id=request.query.get("flowId"),
        namespace=request.query.get("namespace"),
        status=_statuses(request),
        since=time_param(request, "since"),
        limit=limit,
        offset=offset,
    )
    return page_reply([execution_json(r) for r in rows], total)


@routes.get("/api/v1/executions/{id}", name="executions.get")
async def get_execution(request: web.Request) -> web.Response:
    row, tasks, total = await request.app[ENGINE].executions.get(request.match_info["id"], task_runs=DETAIL_TASK_RUNS)
    body = {"execution": execution_json(row), "tasks": [task_run_json(t) for t in tasks], "taskRunsTotal": total}
    return web.json_response(body)


@routes.get("/api/v1/executions/{id}/tasks", name="executions.tasks")
async def list_task_runs(request: web.Request) -> web.Response:
    limit, offset = paging(request)
    rows, total = await request.app[ENGINE].executions.task_runs(
        request.match_info["id"],
        status=_statuses(request, TASK_STATUSES),
        task_name=request.query.get("taskName"),
        limit=limit,
        offset=offset,
    )
    return page_reply([task_run_json(r) for r in rows], total)


@routes.post("/api/v1/executions/{id}/cancel", name="executions.cancel")
async def cancel_execution(request: web.Request) -> web.Response:
    row = await request.app[ENGINE].executions.cancel(request.match_info["id"], actor=actor_of(request))
    return web.json_response(execution_json(row))


@routes.post("/api/v1/executions/{id}/retry", name="executions.retry")
async def retry_execution(request: web.Request) -> web.Response:
    return web.json_response(await request.app[ENGINE].executions.retry(request.match_info["id"], actor=actor_of(request)))


@routes.post("/api/v1/executions/{id}/replay", name="executions.replay")
async def replay_execution(request: web.Request) -> web.Response:
    body = await read_object(request)
    reject_unknown(body, {"fromTask", "inputs", "revision", "dryRun"})
    revision = field(body, "revision", int)
    if revision is not None and revision < 1:
        raise Invalid("revision must be 1 or more", [{"path": "revision", "message": "must be 1 or more"}])
    started = await request.app[ENGINE].executions.replay(
        request.match_info["id"],
        from_task=field(body, "fromTask", str, required=True),
        inputs=field(body, "inputs", dict),
        revision=revision,
        dry_run=bool(field(body, "dryRun", bool)),
        actor=actor_of(request),
    )
    return web.json_response(started, status=200 if started.get("dryRun") else 201)


@routes.get("/api/v1/executions/{id}/logs", name="executions.logs")
async def execution_logs(request: web.Request) -> web.StreamResponse:
    """History then live lines over a WebSocket, ending with `{type: end}`; plain GET: JSON."""
    engine = request.app[ENGINE]
    execution_id = request.match_info["id"]
    ws = stream_socket(request)
    if ws is None:
        after = int_param(request, "afterSeq", 0, 0, MAX_OFFSET)
        limit = int_param(request, "limit", LOG_PAGE, 1, LOG_PAGE)
        rows = await engine.executions.logs(execution_id, after_seq=after, limit=limit)
        return web.json_response([log_json(r) for r in rows])
    await engine.executions.get_row(execution_id)  # 404 before upgrading
    lines = follow_logs(engine.db, engine.bus, execution_id)
    return await serve_stream(request, ws, lines, _log_message, lagged="too slow to follow; reconnect to continue")


def _log_message(item: LogLine | LogEnded) -> dict[str, Any]:
    if isinstance(item, LogEnded):
        return {"type": "end", "status": item.status}
    return log_json(item)


SCHEMAS: dict[str, Schema] = {
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
            "status": {"const": ExecutionStatus.QUEUED.value},
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
            "status": {"enum": list(STATUSES)},
            "tasksTotal": {"type": "integer"},
            "tasksExecuted": {
                "type": "integer",
                "description": "Declared tasks that ended; kept up to date within half a second while it runs",
            },
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
            "status": {"enum": list(TASK_STATUSES)},
            "attempt": {"type": "integer"},
            "outputs": {"type": ["string", "null"], "description": "JSON-encoded outputs"},
            "error": {"type": ["string", "null"]},
            "startedAt": {"type": ["string", "null"], "format": "date-time"},
            "finishedAt": {"type": ["string", "null"], "format": "date-time"},
            "durationMs": {"type": ["integer", "null"]},
            "replayedFrom": {
                "type": ["string", "null"],
                "description": "the execution a replay copied this run from (it did not run again); null when it ran here",
            },
        },
    },
    "ReplayRequest": {
        "type": "object",
        "additionalProperties": False,
        "required": ["fromTask"],
        "properties": {
            "fromTask": {
                "type": "string",
                "description": "a task name, or a run's path with loop iterations (`each[2].save`, or `each[2]` for one whole iteration)",
            },
            "inputs": {"type": "object", "description": "override the original's inputs"},
            "revision": {"type": "integer", "minimum": 1, "description": "the flow revision to run; the original's by default"},
            "dryRun": {"type": "boolean", "description": "answer what would be kept (200, ReplayDryRun) and start nothing"},
        },
    },
    "ReplayDryRun": {
        "type": "object",
        "required": ["dryRun", "kept", "keptTasks"],
        "properties": {
            "dryRun": {"const": True},
            "kept": {"type": "integer", "description": "task runs that would be copied from the original"},
            "keptTasks": {**array({"type": "string"}), "description": "their paths (`each[0].save`), the first 100"},
        },
    },
    "ReplayStarted": {
        "type": "object",
        "required": ["executionId", "status", "kept"],
        "properties": {
            "executionId": {"type": "string", "format": "uuid"},
            "status": {"const": ExecutionStatus.QUEUED.value},
            "kept": {"type": "integer", "description": "task runs copied from the original instead of run again"},
        },
    },
    "ExecutionDetail": {
        "type": "object",
        "required": ["execution", "tasks", "taskRunsTotal"],
        "properties": {
            "execution": ref("Execution"),
            "tasks": {
                **array(ref("TaskRun")),
                "description": f"the first {DETAIL_TASK_RUNS} task runs in the order they started",
            },
            "taskRunsTotal": {
                "type": "integer",
                "description": "all the execution's task runs; more than `tasks` holds: page through /executions/{id}/tasks",
            },
        },
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
}
OPERATIONS: dict[str, Schema] = {
    "flows.execute": {
        "summary": "Start an execution; answers once it is durably QUEUED",
        "parameters": [ID_PARAM],
        "requestBody": json_body(ref("ExecuteRequest"), required=False),
        "responses": {**ok(ref("ExecutionStarted"), "201", "Queued"), **ERRORS},
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
        "responses": {**ok(array(ref("Execution"))), **ERRORS},
    },
    "executions.get": {
        "summary": f"An execution with its first {DETAIL_TASK_RUNS} task runs and how many it has",
        "parameters": [ID_PARAM],
        "responses": {**ok(ref("ExecutionDetail")), **ERRORS},
    },
    "executions.tasks": {
        "summary": "An execution's task runs in the order they started, a page at a time",
        "parameters": [
            ID_PARAM,
            {"name": "status", "in": "query", "schema": {"type": "string"}, "description": "one or more, comma-separated"},
            {"name": "taskName", "in": "query", "schema": {"type": "string"}},
            *PAGING,
        ],
        "responses": {**ok(array(ref("TaskRun"))), **ERRORS},
    },
    "executions.logs": {
        "summary": "Log lines: a WebSocket (history, then live, then {type: end}), or a JSON array on plain GET",
        "parameters": [
            ID_PARAM,
            {"name": "afterSeq", "in": "query", "schema": {"type": "integer", "minimum": 0, "default": 0},
             "description": "plain GET: the lines after this seq"},
            {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": LOG_PAGE, "default": LOG_PAGE},
             "description": f"plain GET: at most this many lines ({LOG_PAGE:,}); ask again after the last one's seq"},
        ],
        "responses": {**ok(array(ref("LogLine"))), "101": {"description": "Switching to WebSocket"}, **ERRORS},
    },
    "executions.cancel": {"summary": "Cancel a queued, paused or running execution", "parameters": [ID_PARAM], "responses": {**ok(ref("Execution")), **ERRORS}},
    "executions.retry": {
        "summary": "Resume a FAILED, CANCELLED or TIMED_OUT execution; finished tasks keep their outputs",
        "parameters": [ID_PARAM],
        "responses": {**ok(ref("ExecutionStarted")), **ERRORS},
    },
    "executions.replay": {
        "summary": "A new execution of an ended one's flow from a chosen task; the tasks before it are copied, not run",
        "parameters": [ID_PARAM],
        "requestBody": json_body(ref("ReplayRequest")),
        "responses": {
            **ok(ref("ReplayStarted"), "201", "Queued"),
            **ok(ref("ReplayDryRun"), "200", "What a replay would keep (dryRun)"),
            **ERRORS,
        },
    },
}
