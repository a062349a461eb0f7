"""The OpenAPI 3.1 document, assembled from what each resource module says of its routes.

Every named route of the app must have an entry in its module's OPERATIONS; a test walks the
router to make sure, so a new endpoint cannot ship undocumented.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from aiohttp import web

import workflowdev
from workflowdev.api.access import ACCESS
from workflowdev.api.access import PUBLIC
from workflowdev.api.docs import Schema
from workflowdev.api.docs import array
from workflowdev.api.docs import ok

routes = web.RouteTableDef()

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
                    "details": array(
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
}
OPERATIONS: dict[str, Schema] = {
    "openapi": {"summary": "This document", "responses": ok({"type": "object"})},
}
RESOURCES_KEY = web.AppKey("openapi_resources", tuple)


def build_document(app: web.Application, resources: tuple[ModuleType, ...]) -> dict[str, Any]:
    operations = {name: op for module in resources for name, op in module.OPERATIONS.items()}
    schemas = {name: schema for module in resources for name, schema in module.SCHEMAS.items()}
    paths: dict[str, dict[str, Any]] = {}
    for route in app.router.routes():
        if route.name is None or route.method == "HEAD":
            continue
        info = route.resource.get_info() if route.resource else {}
        path = info.get("formatter") or info.get("path")
        operation = {"operationId": route.name, **operations[route.name]}
        if ACCESS.get(route.name) != PUBLIC:
            operation["security"] = [{"bearerAuth": []}]
            operation["x-required-role"] = ACCESS.get(route.name)
        paths.setdefault(path, {})[route.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "workflowdev",
            "version": workflowdev.__version__,
            "description": "With --auth, send `Authorization: Bearer <token>` from POST /auth/login; "
            "x-required-role names the least role of each operation.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
    }


@routes.get("/api/v1/openapi.json", name="openapi")
async def openapi(request: web.Request) -> web.Response:
    return web.json_response(build_document(request.app, request.app[RESOURCES_KEY]))
