"""The application factory: one aiohttp app holding the API, wired to the engine's services."""

from __future__ import annotations

from aiohttp import web

from workflowdev.api import approvals, events, executions, flows, health, openapi
from workflowdev.api.errors import error_middleware
from workflowdev.api.keys import DATABASE, ENGINE, FLOWS, REGISTRY, SETTINGS
from workflowdev.config import Settings
from workflowdev.engine.engine import Engine
from workflowdev.engine.flow_service import FlowService
from workflowdev.engine.plugin import PluginRegistry
from workflowdev.store.database import Database


def create_app(settings: Settings, db: Database, registry: PluginRegistry, engine: Engine) -> web.Application:
    """Build the app. The caller owns `db` and `engine`: started before, stopped after the app."""
    app = web.Application(middlewares=[error_middleware], client_max_size=settings.body_limit)
    app[SETTINGS] = settings
    app[DATABASE] = db
    app[REGISTRY] = registry
    app[ENGINE] = engine
    app[FLOWS] = FlowService(db, registry)
    for table in (health.routes, flows.routes, executions.routes, approvals.routes, events.routes, openapi.routes):
        app.add_routes(table)
    return app
