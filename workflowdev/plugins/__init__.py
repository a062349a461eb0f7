"""The built-in task types, and the registry the server builds from them.

Each category is one module exposing `PLUGINS`; adding a category means adding its module to
`_CATEGORIES`, nothing else. Third-party packages add task types through the
`workflowdev.plugins` entry-point group, loaded after the built-ins so they cannot replace one.
"""

from __future__ import annotations

from types import ModuleType

from workflowdev.engine.plugin import Plugin, PluginRegistry
from workflowdev.plugins import flow, kv, util

__all__ = ["build_registry", "builtin_plugins"]

_CATEGORIES: tuple[ModuleType, ...] = (util, flow, kv)


def builtin_plugins() -> list[type[Plugin]]:
    """Every built-in task type, category by category."""
    return [plugin for module in _CATEGORIES for plugin in module.PLUGINS]


def build_registry(*, entry_points: bool = True) -> PluginRegistry:
    """A registry of the built-ins and, unless `entry_points` is false, installed plugins.

    A third-party plugin whose id clashes with a built-in is refused (and logged) rather than
    shadowing it, because flows written against the documented task type must keep their meaning.
    """
    registry = PluginRegistry()
    registry.register_all(builtin_plugins())
    if entry_points:
        registry.load_entry_points()
    return registry
