"""Which task runs of an ended execution a replay keeps, and which it runs anew.

A replay is a new execution of the same flow whose walk finds the tasks before `fromTask` already
done: their latest runs are copied from the original (outputs and statuses), so the runner
reuses them exactly as it does when it resumes an execution, and `fromTask` with everything
after it runs again. The containers around kept runs that must run again (the loop of a kept
iteration, the parallel of a kept branch) start as WAITING runs, the state of a container a gate
parked: the walk takes each up under its own record and reuses what is done inside it.

"Before" follows the walk: in a list, the tasks declared earlier; in a `flow.parallel`, every
other branch; in a `flow.dag`, every task that does not depend on `fromTask`; in a
`flow.foreach`, the same tasks in every iteration, or, with `loop[2].task`, every other
iteration whole. `errors` and `finally` always run afresh. Only runs that ended well (SUCCESS,
SKIPPED, or FAILED under `allow_failure`) are kept, and only where the flow still declares the
task with the same type (a replay may run another revision).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from datetime import datetime
from typing import Any

from workflowdev.engine.language.flow import Flow
from workflowdev.engine.language.flow import Task
from workflowdev.engine.language.flow import TaskList
from workflowdev.store.statuses import TaskStatus

PARALLEL = "flow.parallel"
DAG = "flow.dag"
FOREACH = "flow.foreach"
KEPT_STATUSES = frozenset({TaskStatus.SUCCESS, TaskStatus.SKIPPED})
MAX_NAMED = 40
"""Task names listed in the answer to an unknown `fromTask`, at most."""

_segment = re.compile(r"^([A-Za-z_][A-Za-z0-9_-]*)(?:\[(\d+)\])?$")
_iterations = re.compile(r"([A-Za-z_][A-Za-z0-9_-]*)\[(\d+)\]\.")


class ReplayRefused(ValueError):
    """`fromTask` names nothing a replay can start from; the message says what exists."""


@dataclass(frozen=True)
class Place:
    """Where a task is declared: its container (None at the top), which list, its index there."""

    parent: Task | None
    list_id: tuple[str, str, str | None]
    index: int


@dataclass
class Declarations:
    """The tasks of one flow revision by name, with their places and ancestors."""

    tasks: dict[str, Task] = field(default_factory=dict)
    places: dict[str, Place] = field(default_factory=dict)

    @classmethod
    def of(cls, flow: Flow) -> Declarations:
        found = cls()
        for section, tasks in (("tasks", flow.tasks), ("errors", flow.errors), ("finally", flow.finally_)):
            found._add(tasks, None, ("", section, None))
        return found

    def _add(self, tasks: TaskList, parent: Task | None, list_id: tuple[str, str, str | None]) -> None:
        for index, task in enumerate(tasks):
            self.tasks[task.name] = task
            self.places[task.name] = Place(parent, list_id, index)
            for key, lists in task.children.items():
                if isinstance(lists, dict):
                    for case, children in lists.items():
                        self._add(children, task, (task.name, key, case))
                else:
                    self._add(lists, task, (task.name, key, None))

    def ancestors(self, name: str) -> list[str]:
        """The names from the top-level task down to `name`, `name` last."""
        chain = [name]
        parent = self.places[name].parent
        while parent is not None:
            chain.append(parent.name)
            parent = self.places[parent.name].parent
        return chain[::-1]

    def in_handlers(self, name: str) -> bool:
        return self.places[self.ancestors(name)[0]].list_id[1] != "tasks"


@dataclass(frozen=True)
class Target:
    """What a replay runs again: `task` (and what follows it), in every iteration of the loops
    around it except those pinned to one (`loop[2].task`: loop → 2)."""

    task: Task
    pins: dict[str, int]


@dataclass(frozen=True)
class ReplayPlan:
    kept: list[Any]
    """The original's runs to copy, outer tasks before inner ones (a row's parent goes in first)."""
    reopened: list[Any]
    """Original container runs whose new run starts WAITING (outermost first)."""
    parents: dict[str, str | None]
    """Each kept or reopened run's key → its container's key (None at the top)."""


def resolve(declared: Declarations, spec: str) -> Target:
    """`fromTask` as given: a task name, or a run's path with iterations (`each[2].save`, `each[2]`)."""
    spec = spec.strip()
    if spec in declared.tasks:
        return _checked(declared, Target(declared.tasks[spec], {}))
    pins: dict[str, int] = {}
    name = ""
    for segment in spec.split("."):
        match = _segment.match(segment)
        if match is None or match.group(1) not in declared.tasks:
            raise ReplayRefused(_unknown(declared, spec))
        if pins and not set(pins) <= set(declared.ancestors(match.group(1))):
            raise ReplayRefused(f"{segment!r} in {spec!r} is not inside {', '.join(pins)}")
        name = match.group(1)
        if match.group(2) is not None:
            if declared.tasks[name].type != FOREACH:
                raise ReplayRefused(f"{name!r} is a {declared.tasks[name].type}, not a flow.foreach: it has no iterations")
            pins[name] = int(match.group(2))
    return _checked(declared, Target(declared.tasks[name], pins))


def _checked(declared: Declarations, target: Target) -> Target:
    if declared.in_handlers(target.task.name):
        raise ReplayRefused(f"{target.task.name!r} is an errors or finally handler; those run afresh in every replay")
    return target


def _unknown(declared: Declarations, spec: str) -> str:
    names = [name for name in declared.tasks if not declared.in_handlers(name)]
    shown = ", ".join(names[:MAX_NAMED]) + (f" and {len(names) - MAX_NAMED} more" if len(names) > MAX_NAMED else "")
    return f"no task {spec!r} in the flow; replay can start from: {shown}"


def plan(declared: Declarations, target: Target, runs: Sequence[Any]) -> ReplayPlan:
    """Split the original's runs (rows with id, key, task_name, task_type, status, parent_id,
    started_at, attempt) into those kept and the containers reopened around them."""
    latest: dict[str, Any] = {}
    for run in runs:
        if run.key not in latest or run.attempt >= latest[run.key].attempt:
            latest[run.key] = run
    kept = {run.key: run for run in latest.values() if _keeps(declared, target, run)}
    by_id = {run.id: run for run in runs}
    reopened: dict[str, Any] = {}
    for run in kept.values():
        for parent in _parents(run, by_id):
            if parent.key in kept or parent.key in reopened:
                break
            reopened[parent.key] = parent
    parents = {
        run.key: by_id[run.parent_id].key if run.parent_id in by_id else None
        for run in (*kept.values(), *reopened.values())
    }
    return ReplayPlan(
        kept=sorted(kept.values(), key=lambda run: (len(declared.ancestors(run.task_name)), run.started_at)),
        reopened=sorted(reopened.values(), key=lambda run: len(declared.ancestors(run.task_name))),
        parents=parents,
    )


def _parents(run: Any, by_id: dict[str, Any]) -> Iterator[Any]:
    parent = by_id.get(run.parent_id) if run.parent_id else None
    while parent is not None:
        yield parent
        parent = by_id.get(parent.parent_id) if parent.parent_id else None


def _keeps(declared: Declarations, target: Target, run: Any) -> bool:
    task = declared.tasks.get(run.task_name)
    if task is None or task.type != run.task_type or declared.in_handlers(task.name):
        return False
    ended_well = run.status in KEPT_STATUSES or (run.status == TaskStatus.FAILED and task.allow_failure)
    return ended_well and _before(declared, target, task, run.key)


def _before(declared: Declarations, target: Target, task: Task, key: str) -> bool:
    """Whether the walk of the replay reaches this run's task before `target` (or beside it)."""
    iterations = {loop: int(index) for loop, index in _iterations.findall(key)}
    if any(loop in iterations and iterations[loop] != index for loop, index in target.pins.items()):
        return True  # another iteration of a loop replayed in one iteration only
    mine, theirs = declared.ancestors(task.name), declared.ancestors(target.task.name)
    if target.task.name in mine or task.name in theirs:
        return False  # the target itself, inside it, or a container around it: all run again
    depth = next(i for i, (a, b) in enumerate(zip(mine, theirs, strict=False)) if a != b)
    branch, target_branch = declared.places[mine[depth]], declared.places[theirs[depth]]
    container = branch.parent
    if container is not None and container.type == PARALLEL:
        return True
    if container is not None and container.type == DAG:
        return mine[depth] not in _dependents(container, theirs[depth])
    return branch.list_id == target_branch.list_id and branch.index < target_branch.index


def _dependents(dag: Task, name: str) -> set[str]:
    """The children of `dag` that wait, directly or not, for `name`."""
    children = [child for lists in dag.children.values() if not isinstance(lists, dict) for child in lists]
    waiting: set[str] = set()
    grew = True
    while grew:
        grew = False
        for child in children:
            if child.name not in waiting and ({name} | waiting) & set(child.depends_on):
                waiting.add(child.name)
                grew = True
    return waiting


def copied_rows(
    plan: ReplayPlan, execution_id: str, original_id: str, now: datetime, new_id: Callable[[], str]
) -> list[dict[str, Any]]:
    """The task_runs rows of the replay before it starts: the reopened containers (WAITING, new,
    started now), then the kept runs as they were, each under its new parent and marked as
    copied from `original_id`. `new_id()` makes each run's id."""
    ids: dict[str, str] = {}
    rows: list[dict[str, Any]] = []

    def parent_of(run: Any) -> str | None:
        parent = plan.parents.get(run.key)
        return None if parent is None else ids[parent]

    for run in plan.reopened:
        ids[run.key] = new_id()
        rows.append({
            **_identity(run, execution_id, ids[run.key], parent_of(run)),
            "status": TaskStatus.WAITING, "attempt": 1, "outputs": None, "error": None,
            "started_at": now, "finished_at": None, "duration_ms": None, "replayed_from": None,
        })  # fmt: skip
    for run in plan.kept:
        ids[run.key] = new_id()
        rows.append({
            **_identity(run, execution_id, ids[run.key], parent_of(run)),
            "status": run.status, "attempt": run.attempt, "outputs": run.outputs, "error": run.error,
            "started_at": run.started_at, "finished_at": run.finished_at, "duration_ms": run.duration_ms,
            "replayed_from": original_id,
        })  # fmt: skip
    return rows


def _identity(run: Any, execution_id: str, run_id: str, parent_id: str | None) -> dict[str, Any]:
    return {
        "id": run_id, "execution_id": execution_id, "parent_id": parent_id, "key": run.key,
        "task_name": run.task_name, "task_type": run.task_type, "iteration": run.iteration,
    }  # fmt: skip
