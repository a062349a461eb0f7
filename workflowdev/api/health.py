"""Liveness and readiness, for load balancers and orchestrators."""

from __future__ import annotations

from aiohttp import web

from workflowdev.api.docs import Schema
from workflowdev.api.docs import error
from workflowdev.api.docs import ok
from workflowdev.api.docs import ref
from workflowdev.api.errors import error_response
from workflowdev.api.keys import DATABASE
from workflowdev.api.keys import SETTINGS
from workflowdev.store.database import DatabaseUnavailable

routes = web.RouteTableDef()


@routes.get("/healthz", name="healthz")
async def healthz(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    if settings.auth or settings.is_loopback:
        return web.json_response({"status": "ok"})
    warning = f"authentication is off on {settings.host}: anyone who can reach it can do anything"
    return web.json_response({"status": "ok", "warnings": [warning]})


@routes.get("/readyz", name="readyz")
async def readyz(request: web.Request) -> web.Response:
    try:
        await request.app[DATABASE].ping()
    except DatabaseUnavailable:
        return error_response(503, "database does not answer", details=[{"path": "database", "message": "unavailable"}])
    return web.json_response({"status": "ready", "database": "ok"})


SCHEMAS: dict[str, Schema] = {
    "Health": {"type": "object", "properties": {"status": {"type": "string"}}},
    "Ready": {
        "type": "object",
        "properties": {"status": {"type": "string"}, "database": {"type": "string"}},
    },
}
OPERATIONS: dict[str, Schema] = {
    "healthz": {"summary": "The process is alive", "responses": ok(ref("Health"))},
    "readyz": {"summary": "The database answers", "responses": {**ok(ref("Ready")), "503": error("Database unavailable")}},
}
