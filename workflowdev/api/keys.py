"""The typed keys under which the application keeps its shared objects."""

from __future__ import annotations

from aiohttp import web

from workflowdev.config import Settings
from workflowdev.engine.node.engine import Engine
from workflowdev.engine.plugin import PluginRegistry
from workflowdev.engine.services.flows import FlowService
from workflowdev.store.database import Database

SETTINGS = web.AppKey("settings", Settings)
DATABASE = web.AppKey("database", Database)
REGISTRY = web.AppKey("registry", PluginRegistry)
FLOWS = web.AppKey("flows", FlowService)
ENGINE = web.AppKey("engine", Engine)
