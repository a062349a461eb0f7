"""`/api/v1/events`: the live stream of everything that changes, for consoles and scripts."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from workflowdev.api.docs import ERRORS
from workflowdev.api.docs import Schema
from workflowdev.api.keys import ENGINE
from workflowdev.api.streams import serve_stream
from workflowdev.api.streams import stream_socket
from workflowdev.engine.events import APPROVAL_CREATED
from workflowdev.engine.events import APPROVAL_DECIDED
from workflowdev.engine.events import EXECUTION_UPDATED
from workflowdev.engine.events import TASK_UPDATED
from workflowdev.engine.events import Event

routes = web.RouteTableDef()
STREAMED = (EXECUTION_UPDATED, TASK_UPDATED, APPROVAL_CREATED, APPROVAL_DECIDED)


@routes.get("/api/v1/events", name="events")
async def events(request: web.Request) -> web.StreamResponse:
    ws = stream_socket(request)
    if ws is None:
        raise web.HTTPBadRequest(text="this endpoint is a WebSocket; connect with an Upgrade request")
    subscription = request.app[ENGINE].bus.subscribe(execution_id=request.query.get("executionId"), types=STREAMED)
    lagged = "too slow to follow; reconnect and re-read state"
    return await serve_stream(request, ws, subscription, _event_json, lagged=lagged)


def _event_json(event: Event) -> dict[str, Any]:
    return {"type": event.type, "executionId": event.execution_id, "data": event.data}


SCHEMAS: dict[str, Schema] = {}
OPERATIONS: dict[str, Schema] = {
    "events": {
        "summary": "WebSocket of execution.updated, task.updated, approval.created and approval.decided events",
        "parameters": [{"name": "executionId", "in": "query", "schema": {"type": "string"}}],
        "responses": {"101": {"description": "Switching to WebSocket"}, **ERRORS},
    },
}
