"""The `TaskContext` a plugin receives: its identity, its log, the kv store and a workdir."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

from workflowdev.engine.plugin import PluginSettings
from workflowdev.engine.run.recorder import Recorder
from workflowdev.engine.run.recorder import TaskRunState
from workflowdev.engine.run.task_kv import FlowKV

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RunLogger:
    """Log lines of one task attempt: masked, stored, and streamed once durable."""

    recorder: Recorder
    run: TaskRunState

    def debug(self, message: str) -> None:
        self.recorder.log("debug", message, run=self.run)

    def info(self, message: str) -> None:
        self.recorder.log("info", message, run=self.run)

    def warning(self, message: str) -> None:
        self.recorder.log("warning", message, run=self.run)

    def error(self, message: str) -> None:
        self.recorder.log("error", message, run=self.run)


class Resources:
    """Per-execution objects of plugins, closed when the runner lets the execution go."""

    def __init__(self) -> None:
        self._items: dict[str, tuple[Any, Callable[[Any], Awaitable[None]]]] = {}
        self._lock = asyncio.Lock()

    async def get(self, key: str, factory: Callable[[], Any], close: Callable[[Any], Awaitable[None]]) -> Any:
        async with self._lock:
            if key not in self._items:
                made = factory()
                self._items[key] = (await made if inspect.isawaitable(made) else made, close)
            return self._items[key][0]

    async def close(self) -> None:
        items, self._items = list(self._items.values()), {}
        for obj, close in reversed(items):
            try:
                await close(obj)
            except Exception:  # noqa: BLE001 - closing one must not keep the others open
                log.warning("closing an execution resource failed", exc_info=True)


@dataclass(slots=True)
class RunContext:
    execution_id: str
    flow_name: str
    namespace: str
    task_name: str
    attempt: int
    iteration: int | None
    idempotency_key: str
    log: RunLogger
    kv: FlowKV
    workdir_root: Path
    settings: PluginSettings
    resources: Resources
    cancelled: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def workdir(self) -> Path:
        """The execution's working directory, created on first use (most tasks never need it)."""
        path = self.workdir_root / self.execution_id
        path.mkdir(parents=True, exist_ok=True)
        return path
