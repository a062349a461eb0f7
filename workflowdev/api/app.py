"""The application factory: one aiohttp app holding the API, wired to the engine's services."""

from __future__ import annotations

from aiohttp import web

from workflowdev.api import approvals, events, executions, flows, health, kv, openapi, plugins, triggers
from workflowdev.api import credentials as credentials_api
from workflowdev.api.credentials import CREDENTIALS
from workflowdev.api.errors import error_middleware
from workflowdev.api.keys import DATABASE, ENGINE, FLOWS, REGISTRY, SETTINGS
from workflowdev.api.openapi import RESOURCES_KEY
from workflowdev.config import Settings
from workflowdev.engine.clock import utcnow
from workflowdev.engine.credentials import CredentialService, load_master_key
from workflowdev.engine.engine import Engine
from workflowdev.engine.plugin import PluginRegistry
from workflowdev.store.database import Database

RESOURCES = (health, flows, executions, approvals, triggers, events, kv, credentials_api, plugins, openapi)
"""Every resource module: its `routes` are served and its `OPERATIONS` documented."""


def create_app(
    settings: Settings,
    db: Database,
    registry: PluginRegistry,
    engine: Engine,
    credentials: CredentialService | None = None,
) -> web.Application:
    """Build the app. The caller owns `db` and `engine`: started before, stopped after the app.

    `credentials` should be the service whose `resolve` the engine uses; without it one is made
    with the data dir's master key.
    """
    app = web.Application(middlewares=[error_middleware], client_max_size=settings.body_limit)
    app[SETTINGS] = settings
    app[DATABASE] = db
    app[REGISTRY] = registry
    app[ENGINE] = engine
    app[FLOWS] = engine.flow_service
    app[CREDENTIALS] = credentials or CredentialService(db, utcnow, load_master_key(settings.data_dir))
    app[RESOURCES_KEY] = RESOURCES
    for module in RESOURCES:
        app.add_routes(module.routes)
    return app
