"""`/api/v1/events`: the live stream of everything that changes, for consoles and scripts."""

from __future__ import annotations

import asyncio
import contextlib

from aiohttp import web

from workflowdev.api.docs import ERRORS, Schema
from workflowdev.api.keys import ENGINE
from workflowdev.api.streams import open_stream, watch_client
from workflowdev.engine.events import (
    APPROVAL_CREATED,
    APPROVAL_DECIDED,
    EXECUTION_UPDATED,
    TASK_UPDATED,
    SubscriberLagged,
)

routes = web.RouteTableDef()
STREAMED = (EXECUTION_UPDATED, TASK_UPDATED, APPROVAL_CREATED, APPROVAL_DECIDED)


@routes.get("/api/v1/events", name="events")
async def events(request: web.Request) -> web.StreamResponse:
    ws = web.WebSocketResponse(heartbeat=30)
    if not ws.can_prepare(request).ok:
        raise web.HTTPBadRequest(text="this endpoint is a WebSocket; connect with an Upgrade request")
    subscription = request.app[ENGINE].bus.subscribe(execution_id=request.query.get("executionId"), types=STREAMED)
    await open_stream(request, ws)
    reader = watch_client(ws, subscription)
    try:
        while not ws.closed and not reader.done():
            event = await subscription.get(timeout=1.0)
            if event is not None:
                await ws.send_json({"type": event.type, "executionId": event.execution_id, "data": event.data})
    except SubscriberLagged:
        await ws.send_json({"type": "lagged", "message": "too slow to follow; reconnect and re-read state"})
    except ConnectionResetError:
        pass
    finally:
        subscription.close()
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
        await ws.close()
    return ws


SCHEMAS: dict[str, Schema] = {}
OPERATIONS: dict[str, Schema] = {
    "events": {
        "summary": "WebSocket of execution.updated, task.updated, approval.created and approval.decided events",
        "parameters": [{"name": "executionId", "in": "query", "schema": {"type": "string"}}],
        "responses": {"101": {"description": "Switching to WebSocket"}, **ERRORS},
    },
}
