"""`/api/v1/nodes` (beyond the reference): the nodes sharing this database, for the console."""

from __future__ import annotations

from aiohttp import web

from workflowdev.api.docs import TIMESTAMP
from workflowdev.api.docs import Schema
from workflowdev.api.docs import array
from workflowdev.api.docs import ok
from workflowdev.api.docs import ref
from workflowdev.api.keys import ENGINE

routes = web.RouteTableDef()


@routes.get("/api/v1/nodes", name="nodes.list")
async def list_nodes(request: web.Request) -> web.Response:
    """Every node that beat recently, oldest first; `alive` turns false when the beats stop."""
    return web.json_response(await request.app[ENGINE].nodes.all())


SCHEMAS: dict[str, Schema] = {
    "Node": {
        "type": "object",
        "required": ["id", "roles", "startedAt", "heartbeatAt", "runningExecutions", "alive"],
        "properties": {
            "id": {"type": "string"},
            "address": {"type": ["string", "null"], "description": "host:port of its HTTP listener"},
            "roles": array({"enum": ["api", "worker", "scheduler"]}),
            "version": {"type": "string"},
            "startedAt": TIMESTAMP,
            "heartbeatAt": TIMESTAMP,
            "runningExecutions": {"type": "integer", "description": "executions it holds under a live lease"},
            "alive": {"type": "boolean", "description": "false once its heartbeats stop (15 s)"},
        },
    },
}
OPERATIONS: dict[str, Schema] = {
    "nodes.list": {"summary": "The nodes sharing this database, oldest first", "responses": ok(array(ref("Node")))},
}
