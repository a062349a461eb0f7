"""The rule book of an execution's and a task run's status: every allowed move, and why.

Statuses change in several places (the runner and the control tasks walk, the dispatcher
admits, the API cancels, retries and decides gates), and each used to decide for itself what
was allowed. Here each move is declared once: the event that causes it, its guard, what it
records. `execution_move` and `task_move` are the one check every writer passes; a move not in
the table raises `IllegalTransition` before anything is written, so a bug cannot bring a
finished execution back to life or end a task twice. `execution_updated` is the one builder of
the event that announces a move. engine/CONTRACTS.md carries `contracts_table()`, checked
against this code by a test.

The values themselves are the store's column type (`store/statuses.py`); no other module
spells a status (a test reads every module to keep it so).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from workflowdev.engine.clock import rfc3339
from workflowdev.engine.events import EXECUTION_UPDATED
from workflowdev.engine.events import Event
from workflowdev.store.statuses import ENDED
from workflowdev.store.statuses import OPEN_TASK_RUNS
from workflowdev.store.statuses import ExecutionStatus
from workflowdev.store.statuses import GateStatus
from workflowdev.store.statuses import TaskStatus

__all__ = [
    "ENDED",
    "EXECUTION_RULES",
    "OPEN_TASK_RUNS",
    "RETRYABLE",
    "TASK_RULES",
    "ExecutionStatus",
    "GateStatus",
    "IllegalTransition",
    "Rule",
    "TaskStatus",
    "execution_move",
    "expect",
    "execution_updated",
    "task_move",
]

E = ExecutionStatus
T = TaskStatus
RETRYABLE = (E.FAILED, E.CANCELLED, E.TIMED_OUT)


class IllegalTransition(Exception):
    """A move the rule book does not allow; nothing was written."""


@dataclass(frozen=True)
class Rule:
    """Moves from any of `sources` (None: the row is being created) to any of `targets`."""

    sources: tuple[str | None, ...]
    targets: tuple[str, ...]
    cause: str
    guard: str
    records: str

    def pairs(self) -> list[tuple[str | None, str]]:
        return [(s, t) for s in self.sources for t in self.targets]


def _rule(sources: Iterable[str | None], targets: Iterable[str], cause: str, guard: str, records: str) -> Rule:
    return Rule(tuple(sources), tuple(targets), cause, guard, records)


EXECUTION_RULES: tuple[Rule, ...] = (
    _rule([None], [E.QUEUED], "started: by a person, a trigger, a subflow task or the API",
          "the flow exists and the inputs match its declaration",
          "the row and its audit entry in one commit (with a trigger's firing); execution.updated"),
    _rule([E.QUEUED], [E.RUNNING], "a runner begins the walk",
          "the node holds the lease (claim or reservation); the flow's concurrency has room",
          "started_at, kept from the first start; execution.updated"),
    _rule([E.RUNNING], [E.RUNNING], "a runner resumes a walk whose lease expired or was handed back",
          "the node took the lease over", "execution.updated"),
    _rule([E.RUNNING], [E.PAUSED], "a gate parks the walk", "the lease is held (journal guard)",
          "tasks_executed; the lease released; execution.updated"),
    _rule([E.RUNNING], ENDED, "the walk ends (`errors` and `finally` ran); FAILED also when its revision "
          "cannot be loaded at a resume", "the lease is held (journal guard), or still RUNNING",
          "outputs, error, finished_at, duration_ms, tasks_executed; execution.updated"),
    _rule([E.QUEUED], [E.CANCELLED], "cancel while no runner holds it; the flow's concurrency limit is reached "
          "(behaviour cancel)", "still QUEUED (without a lease, for a cancel)",
          "error, finished_at; open task runs cancelled, in the same commit; execution.updated"),
    _rule([E.QUEUED], [E.FAILED], "the flow's concurrency limit is reached (behaviour fail); its revision "
          "cannot be loaded", "still QUEUED", "error, finished_at; the lease released; execution.updated"),
    _rule([E.PAUSED], [E.CANCELLED], "cancel while parked", "still PAUSED",
          "its gates expired and open task runs cancelled, in the same commit; execution.updated"),
    _rule([E.PAUSED], [E.QUEUED], "one of its gates is decided, or expires", "still PAUSED, in the decision's commit",
          "the decision; execution.updated"),
    _rule(RETRYABLE, [E.QUEUED], "retry", "ended FAILED, CANCELLED or TIMED_OUT",
          "the finish cleared, an audit entry; execution.updated"),
)
"""Not moves: `cancel_requested` on a RUNNING execution (a flag its runner acts on), and a
node handing its leases back at shutdown (the execution stays RUNNING and resumes)."""

TASK_RULES: tuple[Rule, ...] = (
    _rule([None], [T.RUNNING], "a task starts an attempt", "the execution's run limit has room", "task.updated"),
    _rule([None], [T.WAITING], "a gate or a wait starts", "the lease is held", "task.updated"),
    _rule([None], [T.SKIPPED], "its `when` is false", "the lease is held", "task.updated"),
    _rule([T.RUNNING], [T.SUCCESS, T.FAILED, T.CANCELLED, T.TIMED_OUT],
          "the attempt ends (a retry is a new attempt); CANCELLED also when a resumed walk closes a run "
          "its dead node left open", "the lease is held", "outputs or error, finished_at, duration_ms; task.updated"),
    _rule([T.RUNNING], [T.WAITING], "the task parks (a gate with its approval made)", "the lease is held",
          "task.updated"),
    _rule([T.WAITING], [T.RUNNING], "a later walk takes the parked task up again", "the lease is held",
          "task.updated"),
    _rule([T.WAITING], [T.SUCCESS, T.FAILED, T.CANCELLED, T.TIMED_OUT],
          "its gate is decided, or the execution ends while it waits", "the lease is held",
          "outputs or error, finished_at; task.updated"),
    _rule([T.QUEUED], [T.CANCELLED], "a resumed walk closes a run its dead node left open (it runs again)",
          "the lease is held", "error, finished_at"),
)

_EXECUTION_INDEX = {pair: rule for rule in EXECUTION_RULES for pair in rule.pairs()}
_TASK_INDEX = {pair: rule for rule in TASK_RULES for pair in rule.pairs()}


def execution_move(source: str | None, target: str) -> Rule:
    """The rule for moving an execution from `source` (None: creating it) to `target`."""
    move = _EXECUTION_INDEX.get((source, target))
    if move is None:
        raise IllegalTransition(f"an execution cannot move from {source or 'nothing'} to {target}")
    return move


def task_move(source: str | None, target: str) -> Rule:
    """The rule for moving a task run from `source` (None: starting it) to `target`."""
    move = _TASK_INDEX.get((source, target))
    if move is None:
        raise IllegalTransition(f"a task run cannot move from {source or 'nothing'} to {target}")
    return move


def expect(target: str, *sources: str) -> list[str]:
    """`sources`, once each move from them to `target` is checked: what a conditional update
    (`store.executions.set_status_if`) expects the row to still be in. The row may have moved
    meanwhile; the update then changes nothing, and the caller hears so."""
    for source in sources:
        execution_move(source, target)
    return list(sources)


def execution_updated(execution_id: str, status: str, /, **changes: Any) -> Event:
    """The event announcing an execution's move: its id and status, with the changed columns
    by their API names (snake_case → camelCase, datetimes as RFC 3339)."""
    data: dict[str, Any] = {"id": execution_id, "status": str(status)}
    for key, value in changes.items():
        camel = "".join(p if i == 0 else p.title() for i, p in enumerate(key.split("_")))
        data[camel] = rfc3339(value) if isinstance(value, datetime) else value
    return Event(EXECUTION_UPDATED, execution_id, data)


def contracts_table() -> str:
    """The moves as the markdown tables of engine/CONTRACTS.md."""
    lines: list[str] = []
    for title, rules in (("Execution", EXECUTION_RULES), ("Task run", TASK_RULES)):
        lines += [f"| {title}: from | to | caused by | guard | records and publishes |", "|---|---|---|---|---|"]
        for r in rules:
            sources = ", ".join(s or "(new)" for s in r.sources)
            lines.append(f"| {sources} | {', '.join(r.targets)} | {r.cause} | {r.guard} | {r.records} |")
        lines.append("")
    return "\n".join(lines)
