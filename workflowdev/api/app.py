"""The application factory: one aiohttp app holding the API, wired to the engine's services."""

from __future__ import annotations

from aiohttp import web

from workflowdev.api import flows, health, openapi
from workflowdev.api.errors import error_middleware
from workflowdev.api.keys import DATABASE, FLOWS, REGISTRY, SETTINGS
from workflowdev.config import Settings
from workflowdev.engine.flow_service import FlowService
from workflowdev.engine.plugin import PluginRegistry
from workflowdev.store.database import Database


def create_app(settings: Settings, db: Database, registry: PluginRegistry) -> web.Application:
    """Build the app. The caller owns `db` (migrated before) and closes it after the app stops."""
    app = web.Application(middlewares=[error_middleware], client_max_size=settings.body_limit)
    app[SETTINGS] = settings
    app[DATABASE] = db
    app[REGISTRY] = registry
    app[FLOWS] = FlowService(db, registry)
    for table in (health.routes, flows.routes, openapi.routes):
        app.add_routes(table)
    return app
