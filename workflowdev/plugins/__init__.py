"""The built-in task types, and the registry the server builds from them.

Each category is one module or subpackage of this package exposing `PLUGINS` (a large category
is a package with one module per family of task types); names that start with `_` are helpers,
such as `_toolkit`, which every task type uses to describe and read its properties. Adding a
category means adding its module, nothing else. Third-party packages add task types through the
`workflowdev.plugins` entry-point group, loaded after the built-ins so they cannot replace one.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache
from types import ModuleType

from workflowdev.engine.plugin import Plugin
from workflowdev.engine.plugin import PluginRegistry

__all__ = ["build_registry", "builtin_plugins"]


@cache
def _categories() -> tuple[ModuleType, ...]:
    names = sorted(info.name for info in pkgutil.iter_modules(__path__) if not info.name.startswith("_"))
    modules = [importlib.import_module(f"{__name__}.{name}") for name in names]
    return tuple(module for module in modules if hasattr(module, "PLUGINS"))


def builtin_plugins() -> list[type[Plugin]]:
    """Every built-in task type, category by category."""
    return [plugin for module in _categories() for plugin in module.PLUGINS]


def _summary(module: ModuleType) -> str:
    """A category's description: the first line of its module's docstring, without `name:`."""
    first = (module.__doc__ or "").strip().splitlines()[0] if module.__doc__ else ""
    return first.split(": ", 1)[-1].rstrip(".")


def build_registry(*, entry_points: bool = True) -> PluginRegistry:
    """A registry of the built-ins and, unless `entry_points` is false, installed plugins.

    A third-party plugin whose id clashes with a built-in is refused (and logged) rather than
    shadowing it, because flows written against the documented task type must keep their meaning.
    """
    registry = PluginRegistry()
    registry.register_all(builtin_plugins())
    for module in _categories():
        registry.describe_category(module.__name__.rsplit(".", 1)[-1], _summary(module))
    if entry_points:
        registry.load_entry_points()
    return registry
