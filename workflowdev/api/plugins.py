"""Plugins: the manifests of every task type, which also drive flow validation."""

from __future__ import annotations

from aiohttp import web

from workflowdev.api.docs import ERRORS
from workflowdev.api.docs import Schema
from workflowdev.api.docs import array
from workflowdev.api.docs import ok
from workflowdev.api.docs import ref
from workflowdev.api.keys import REGISTRY
from workflowdev.api.replies import page_reply
from workflowdev.engine.errors import Invalid
from workflowdev.engine.errors import NotFound

routes = web.RouteTableDef()


@routes.get("/api/v1/plugins", name="plugins.list")
async def list_plugins(request: web.Request) -> web.Response:
    registry = request.app[REGISTRY]
    category = request.query.get("category")
    manifests = registry.manifests()
    if category is not None:
        if category not in {name for name, _, _ in registry.categories()}:
            raise Invalid(f"unknown category {category!r}")
        manifests = [m for m in manifests if m.category == category]
    return page_reply([m.to_json() for m in manifests], len(manifests))


@routes.get("/api/v1/plugins/categories", name="plugins.categories")
async def list_categories(request: web.Request) -> web.Response:
    categories = request.app[REGISTRY].categories()
    return web.json_response([{"name": n, "description": d, "count": c} for n, d, c in categories])


@routes.get("/api/v1/plugins/{id}", name="plugins.get")
async def get_plugin(request: web.Request) -> web.Response:
    plugin_id = request.match_info["id"]
    registry = request.app[REGISTRY]
    if plugin_id not in registry:
        raise NotFound(f"plugin {plugin_id} not found")
    return web.json_response(registry.get(plugin_id).manifest.to_json())


SCHEMAS: dict[str, Schema] = {
    "Manifest": {
        "type": "object",
        "required": ["id", "name", "category", "description", "inputSchema", "outputSchema", "examples"],
        "properties": {
            "id": {"type": "string"},
            "name": {"type": "string"},
            "category": {"type": "string"},
            "description": {"type": "string"},
            "inputSchema": {"type": "object", "description": "JSON Schema (draft 2020-12) of `properties`"},
            "outputSchema": {"type": "object", "description": "JSON Schema of the task's outputs"},
            "examples": array({"type": "string", "description": "a YAML task using it"}),
        },
    },
    "Category": {
        "type": "object",
        "required": ["name", "description", "count"],
        "properties": {"name": {"type": "string"}, "description": {"type": "string"}, "count": {"type": "integer"}},
    },
}
OPERATIONS: dict[str, Schema] = {
    "plugins.list": {
        "summary": "Every task type with its manifest",
        "parameters": [{"name": "category", "in": "query", "schema": {"type": "string"}}],
        "responses": {**ok(array(ref("Manifest"))), **ERRORS},
    },
    "plugins.categories": {"summary": "The categories of task types", "responses": ok(array(ref("Category")))},
    "plugins.get": {
        "summary": "One task type's manifest",
        "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}],
        "responses": {**ok(ref("Manifest")), **ERRORS},
    },
}
