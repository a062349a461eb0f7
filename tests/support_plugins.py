"""Task types that exist only in tests: they fail, hang or misbehave on purpose."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any
from typing import ClassVar

from workflowdev.engine.plugin import Manifest
from workflowdev.engine.plugin import Plugin
from workflowdev.engine.plugin import PluginRegistry
from workflowdev.engine.plugin import TaskContext
from workflowdev.engine.plugin import TaskFailed

OPEN: dict[str, Any] = {"type": "object"}


def _manifest(plugin_id: str, description: str, properties: dict[str, Any] | None = None) -> Manifest:
    schema = {"type": "object", "properties": properties or {}, "additionalProperties": False}
    return Manifest(plugin_id, plugin_id, "test", description, schema, OPEN)


class Flaky(Plugin):
    """Fails until its attempt number reaches `succeed_on_attempt`."""

    manifest: ClassVar[Manifest] = _manifest("test.flaky", "fails early attempts", {"succeed_on_attempt": {"type": "integer"}})

    async def run(self, ctx: TaskContext, properties: Mapping[str, Any]) -> Mapping[str, Any]:
        if ctx.attempt < properties.get("succeed_on_attempt", 2):
            raise TaskFailed(f"flaky failure on attempt {ctx.attempt}")
        return {"attempt": ctx.attempt}


class Hang(Plugin):
    """Sleeps until cancelled, with no subprocess involved."""

    manifest: ClassVar[Manifest] = _manifest("test.hang", "waits forever")

    async def run(self, ctx: TaskContext, properties: Mapping[str, Any]) -> Mapping[str, Any]:
        ctx.log.info("hanging")
        await asyncio.Event().wait()
        return {}


class Busy(Plugin):
    """Keeps working in small steps (not one long await), until cancelled."""

    manifest: ClassVar[Manifest] = _manifest("test.busy", "loops until cancelled")

    async def run(self, ctx: TaskContext, properties: Mapping[str, Any]) -> Mapping[str, Any]:
        n = 0
        while True:
            n += 1
            await asyncio.sleep(0)


class Raises(Plugin):
    manifest: ClassVar[Manifest] = _manifest("test.raises", "raises a Python error")

    async def run(self, ctx: TaskContext, properties: Mapping[str, Any]) -> Mapping[str, Any]:
        raise RuntimeError("boom from plugin")


class BadOutput(Plugin):
    manifest: ClassVar[Manifest] = _manifest("test.bad_output", "returns something that is not JSON")

    async def run(self, ctx: TaskContext, properties: Mapping[str, Any]) -> Mapping[str, Any]:
        return {"when": object()}


TEST_PLUGINS = [Flaky, Hang, Busy, Raises, BadOutput]


def registry_with_test_plugins() -> PluginRegistry:
    from workflowdev.plugins import build_registry

    registry = build_registry(entry_points=False)
    registry.register_all(TEST_PLUGINS)
    registry.describe_category("test", "task types that misbehave on purpose, for tests")
    return registry
