"""The application factory: one aiohttp app holding the API, wired to the engine's services."""

from __future__ import annotations

from types import ModuleType

from aiohttp import web

from workflowdev.api import approvals
from workflowdev.api import audit
from workflowdev.api import auth
from workflowdev.api import credentials as credentials_api
from workflowdev.api import events
from workflowdev.api import executions
from workflowdev.api import flows
from workflowdev.api import health
from workflowdev.api import kv
from workflowdev.api import metrics
from workflowdev.api import nodes
from workflowdev.api import openapi
from workflowdev.api import plugins
from workflowdev.api import triggers
from workflowdev.api.access import USERS
from workflowdev.api.access import access_middleware
from workflowdev.api.bodies import decoding_middleware
from workflowdev.api.credentials import CREDENTIALS
from workflowdev.api.errors import error_middleware
from workflowdev.api.keys import DATABASE
from workflowdev.api.keys import ENGINE
from workflowdev.api.keys import FLOWS
from workflowdev.api.keys import REGISTRY
from workflowdev.api.keys import SETTINGS
from workflowdev.api.metrics import metrics_middleware
from workflowdev.api.openapi import RESOURCES_KEY
from workflowdev.api.streams import track_streams
from workflowdev.config import Settings
from workflowdev.engine.node.engine import Engine
from workflowdev.engine.plugin import PluginRegistry
from workflowdev.store.database import Database

RESOURCES = (
    health,
    metrics,
    auth,
    flows,
    executions,
    approvals,
    triggers,
    events,
    kv,
    credentials_api,
    audit,
    plugins,
    nodes,
    openapi,
)
"""Every resource module: its `routes` are served and its `OPERATIONS` documented."""
PROBES = (health, metrics)
"""What a node without the `api` role serves: whether it lives, has its database, and its figures."""


def create_app(
    settings: Settings,
    db: Database,
    registry: PluginRegistry,
    engine: Engine,
    resources: tuple[ModuleType, ...] = RESOURCES,
) -> web.Application:
    """Build the app. The caller owns `db` and `engine`: started before, stopped after the app."""
    app = web.Application(
        middlewares=[metrics_middleware(engine), error_middleware, decoding_middleware, access_middleware],
        client_max_size=settings.body_limit,
    )
    app[SETTINGS] = settings
    app[DATABASE] = db
    app[REGISTRY] = registry
    app[ENGINE] = engine
    app[FLOWS] = engine.flow_service
    app[USERS] = engine.users
    if engine.credentials is not None:
        app[CREDENTIALS] = engine.credentials
    app[RESOURCES_KEY] = resources
    track_streams(app)
    for module in resources:
        app.add_routes(module.routes)
    return app
