"""What a valid flow is made of: the typed structures the validator builds and the runner walks,
and the errors it reports. Plain frozen data, so a parsed flow can be shared by every run of it.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from typing import Literal

from workflowdev.engine.language.yaml_source import Path
from workflowdev.engine.language.yaml_source import Position
from workflowdev.engine.language.yaml_source import SourceProblem
from workflowdev.engine.language.yaml_source import format_path


@dataclass(frozen=True)
class FlowError:
    line: int
    column: int
    path: str
    message: str

    @classmethod
    def at(cls, position: Position, path: Path, message: str) -> FlowError:
        return cls(position.line, position.column, format_path(path), message)

    @classmethod
    def of_problem(cls, problem: SourceProblem) -> FlowError:
        """A problem the YAML loader found, reported like the validator's own."""
        return cls.at(problem.position, problem.path, problem.message)

    def to_json(self) -> dict[str, Any]:
        return {"line": self.line, "column": self.column, "path": self.path,
                "message": self.message}

    def __str__(self) -> str:
        where = f"{self.path}: " if self.path else ""
        return f"line {self.line}, column {self.column}: {where}{self.message}"


class FlowInvalid(Exception):
    """A flow failed validation; `errors` holds every problem found, sorted by position."""

    def __init__(self, errors: Iterable[FlowError]) -> None:
        self.errors = list(errors)
        count = len(self.errors)
        lines = "\n".join(f"  {error}" for error in self.errors)
        super().__init__(f"the flow is invalid ({count} error{'s' if count != 1 else ''}):\n"
                         f"{lines}")


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int
    delay: float
    backoff: Literal["constant", "exponential"]
    max_delay: float | None


@dataclass(frozen=True)
class InputSpec:
    name: str
    type: str
    required: bool
    default: Any
    has_default: bool
    description: str | None


@dataclass(frozen=True)
class Concurrency:
    limit: int
    behavior: Literal["queue", "cancel", "fail"]


@dataclass(frozen=True)
class TriggerSpec:
    """A trigger declared in the flow file; its `config` is checked by the trigger's own code."""

    name: str
    type: str
    enabled: bool
    config: dict[str, Any]


TaskList = tuple["Task", ...]


@dataclass(frozen=True)
class Task:
    """One task declaration.

    `properties` are as written (expressions not rendered) minus the plugin's nested task lists,
    which are parsed into `children`, keyed by property name: a "list"-shaped property gives a
    tuple of tasks, a "map"-shaped one a dict of key -> tuple of tasks (the plugin's
    `task_lists` says which shape each property has).
    """

    name: str
    type: str
    properties: dict[str, Any]
    children: dict[str, TaskList | dict[str, TaskList]]
    when: str | bool | None
    allow_failure: bool
    retry: RetryPolicy | None
    timeout: float | None
    depends_on: tuple[str, ...]
    description: str | None
    path: str
    line: int
    column: int

    def iter_tree(self) -> Iterator[Task]:
        """This task, then its children depth first, in declaration order."""
        yield self
        for tasks in self.children.values():
            lists = tasks.values() if isinstance(tasks, dict) else (tasks,)
            for child_list in lists:
                for child in child_list:
                    yield from child.iter_tree()


@dataclass(frozen=True)
class Flow:
    name: str
    namespace: str | None
    description: str | None
    labels: dict[str, str]
    inputs: tuple[InputSpec, ...]
    variables: dict[str, Any]
    concurrency: Concurrency | None
    timeout: float | None
    tasks: TaskList
    errors: TaskList
    finally_: TaskList
    triggers: tuple[TriggerSpec, ...]
    tasks_total: int
    """Task declarations under `tasks`, nested ones included; `errors` and `finally` excluded."""

    def iter_tasks(self) -> Iterator[Task]:
        """Every task, depth first: `tasks`, then `errors`, then `finally`."""
        for task in (*self.tasks, *self.errors, *self.finally_):
            yield from task.iter_tree()


@dataclass
class ValidationReport:
    valid: bool
    errors: list[FlowError]
    tasks_total: int
    flow: Flow | None

    def to_json(self) -> dict[str, Any]:
        return {"valid": self.valid, "errors": [error.to_json() for error in self.errors],
                "tasksTotal": self.tasks_total}
