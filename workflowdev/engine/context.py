"""The `TaskContext` a plugin receives: its identity, its log, the kv store and a workdir."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

from workflowdev.engine.kv import FlowKV
from workflowdev.engine.recorder import Recorder, TaskRunState


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


@dataclass(slots=True)
class RunContext:
    execution_id: str
    flow_name: str
    namespace: str
    task_name: str
    attempt: int
    iteration: int | None
    log: RunLogger
    kv: FlowKV
    workdir_root: Path
    cancelled: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def workdir(self) -> Path:
        """The execution's working directory, created on first use (most tasks never need it)."""
        path = self.workdir_root / self.execution_id
        path.mkdir(parents=True, exist_ok=True)
        return path
