"""The vocabulary the runner and the control tasks share: frames, outcomes, how they end, and
the `Walk` protocol through which control reaches the runner."""

from __future__ import annotations

from collections import ChainMap
from collections.abc import Iterable
from collections.abc import MutableMapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from datetime import datetime
from typing import TYPE_CHECKING
from typing import Any
from typing import Literal
from typing import Protocol
from typing import Unpack

from workflowdev.engine.language.flow import RetryPolicy
from workflowdev.engine.language.flow import Task
from workflowdev.engine.run.lifecycle import TaskStatus

if TYPE_CHECKING:
    from workflowdev.engine.run.deps import EngineDeps
    from workflowdev.engine.run.recorder import Recorder
    from workflowdev.engine.run.recorder import RunResult
    from workflowdev.engine.run.recorder import TaskRunState

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


def root_execution_id(execution: Any) -> str:
    """The execution a tree of subflows started from: its trigger says so for a subflow (the
    parent's own, at depth one, for children started before the trigger carried the root)."""
    trigger = execution.trigger or {}
    if trigger.get("type") != "subflow":
        return str(execution.id)
    return str(trigger.get("rootExecutionId") or trigger.get("executionId") or execution.id)


def backoff(policy: RetryPolicy, try_number: int) -> float:
    """The wait before try `try_number + 1`."""
    delay = policy.delay * (2 ** (try_number - 1) if policy.backoff == "exponential" else 1)
    return min(delay, policy.max_delay) if policy.max_delay is not None else delay


class Walk(Protocol):
    """What a control task (`control.py`) may ask of the walk it runs in: start, finish and skip
    runs, render, run its children, and read where the walk stands. The runner is the one
    implementation; control depends on this, never on the runner."""

    execution: Any
    deps: EngineDeps
    recorder: Recorder
    state: dict[str, KeyState]
    gates: dict[str, tuple[TaskRunState, str]]
    stop_reason: str | None
    deadline: datetime | None

    def key_of(self, task: Task, frame: Frame) -> str: ...

    def start_run(self, task: Task, frame: Frame, status: str = TaskStatus.RUNNING) -> TaskRunState: ...

    def reopen(self, task: Task, frame: Frame, *, write: bool = True) -> TaskRunState: ...

    def reopen_or_start(self, task: Task, frame: Frame) -> TaskRunState: ...

    def mark_waiting(self, run: TaskRunState) -> None: ...

    def finish_run(self, task: Task, frame: Frame, run: TaskRunState, status: str, **result: Unpack[RunResult]) -> None: ...

    def fail_run(self, task: Task, frame: Frame, run: TaskRunState, error: str, status: str = TaskStatus.FAILED) -> Outcome: ...

    def skip(self, task: Task, frame: Frame, reason: str, *, count_subtree: bool = True) -> None: ...

    def interrupted(self, task: Task, frame: Frame, run: TaskRunState) -> None: ...

    def count_done_many(self, tasks: Iterable[Task], frame: Frame) -> None: ...

    async def render(self, value: Any, frame: Frame, **names: Any) -> Any: ...

    async def run_task(self, task: Task, frame: Frame) -> Outcome: ...

    async def run_list(self, tasks: Sequence[Task], frame: Frame) -> None: ...
