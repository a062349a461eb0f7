"""The vocabulary the runner and the control tasks share: frames, outcomes, and how they end."""

from __future__ import annotations

from collections import ChainMap
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from workflowdev.engine.flow import RetryPolicy
from workflowdev.engine.lifecycle import TaskStatus

Outcome = Literal[TaskStatus.SUCCESS, TaskStatus.SKIPPED, "FAILED_ALLOWED"]
DONE = (TaskStatus.SUCCESS, TaskStatus.SKIPPED)
RERUN = "RERUN"
"""The state of a key whose earlier outcome is not kept: it runs again, its attempts numbered on."""


class Parked(Exception):
    """A gate is waiting for a person: unwind, then park the execution."""


class TaskError(Exception):
    """A task failed for good (its retries spent); the execution fails unless handled."""

    def __init__(self, task_name: str, message: str, status: str = TaskStatus.FAILED) -> None:
        super().__init__(f"{task_name}: {message}")
        self.task_name = task_name
        self.message = message
        self.status = status


@dataclass(slots=True)
class KeyState:
    """The latest attempt of one task key."""

    run_id: str
    status: str
    attempt: int
    outputs: dict[str, Any] | None
    started_at: datetime | None


@dataclass
class Frame:
    """Where a task runs: the outputs it sees, its key prefix, its parent run and extra names."""

    outputs: MutableMapping[str, Any]
    prefix: str = ""
    parent_id: str | None = None
    iteration: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def child(self, parent_id: str) -> Frame:
        return Frame(self.outputs, self.prefix, parent_id, self.iteration, self.extra)

    def iteration_frame(self, name: str, index: int, parent_id: str, item: Any) -> Frame:
        return Frame(
            ChainMap({}, self.outputs),
            f"{self.prefix}{name}[{index}].",
            parent_id,
            index,
            {**self.extra, "item": item, "index": index},
        )


def backoff(policy: RetryPolicy, try_number: int) -> float:
    """The wait before try `try_number + 1`."""
    delay = policy.delay * (2 ** (try_number - 1) if policy.backoff == "exponential" else 1)
    return min(delay, policy.max_delay) if policy.max_delay is not None else delay
