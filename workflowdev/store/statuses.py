"""The values the `status` columns of executions and task runs hold: the store's column type.

Only the values live here; which moves between them are allowed, and what each records and
publishes, is the engine's (`engine/run/lifecycle.py`). Both enums are `StrEnum`s, so a status read
back from the database as a plain string compares equal to its member.
"""

from __future__ import annotations

from enum import StrEnum


class ExecutionStatus(StrEnum):
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    PAUSED = "PAUSED"
    SUCCESS = "SUCCESS"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    TIMED_OUT = "TIMED_OUT"


class TaskStatus(StrEnum):
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    WAITING = "WAITING"
    SUCCESS = "SUCCESS"
    FAILED = "FAILED"
    SKIPPED = "SKIPPED"
    CANCELLED = "CANCELLED"
    TIMED_OUT = "TIMED_OUT"


ENDED = (ExecutionStatus.SUCCESS, ExecutionStatus.FAILED, ExecutionStatus.CANCELLED, ExecutionStatus.TIMED_OUT)
"""Statuses an execution ends in (also the values of a task run that ended the same way)."""
OPEN_TASK_RUNS = (TaskStatus.QUEUED, TaskStatus.RUNNING, TaskStatus.WAITING)
"""Task-run statuses that are not over yet."""


class GateStatus(StrEnum):
    """An approval's: PENDING until someone decides, or its timeout (or its execution's end) expires it."""

    PENDING = "PENDING"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"


class SlotState(StrEnum):
    """What became of one instant of a schedule (a row of the slot ledger).

    `fired` and `late` ran at the instant (late: more than the node's `schedule_late_after`
    after it, typically after downtime with catch-up on); `skipped` was passed over on purpose
    (catch-up off, so only the latest of the instants missed while no node was up ran);
    `missed` could not run (beyond the catch-up limit, or the flow refused to start); and
    `backfilled` ran later, by a backfill. Only `skipped` and `missed` slots may be backfilled.
    """

    FIRED = "fired"
    LATE = "late"
    SKIPPED = "skipped"
    MISSED = "missed"
    BACKFILLED = "backfilled"


UNRUN_SLOTS = (SlotState.SKIPPED, SlotState.MISSED)
"""Slots with no execution: what a backfill may still run."""
