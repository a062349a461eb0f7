"""What a runner records: task transitions and log lines, through the journal, then the bus.

Every write carries the runner's lease guard, so after a lost lease nothing more is recorded.
Events are published only once the journal reports the write durable, in the order written.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from workflowdev.engine.clock import Clock, rfc3339
from workflowdev.engine.events import LOG, TASK_UPDATED, Event, EventBus
from workflowdev.engine.secrets import SecretMasker
from workflowdev.store import executions as store
from workflowdev.store.journal import Guard, Journal

LEVELS = ("debug", "info", "warning", "error")
MAX_LOG_MESSAGE = 64 * 1024


@dataclass(slots=True)
class TaskRunState:
    """One attempt of one task, as the runner holds it in memory."""

    id: str
    key: str
    task_name: str
    task_type: str
    parent_id: str | None
    iteration: int | None
    attempt: int
    status: str
    started_at: datetime
    outputs: dict[str, Any] | None = None
    error: str | None = None
    finished_at: datetime | None = None

    @property
    def duration_ms(self) -> int | None:
        if self.finished_at is None:
            return None
        return int((self.finished_at - self.started_at).total_seconds() * 1000)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "taskName": self.task_name,
            "taskType": self.task_type,
            "parentId": self.parent_id,
            "iteration": self.iteration,
            "status": self.status,
            "attempt": self.attempt,
            "outputs": json.dumps(self.outputs) if self.outputs is not None else None,
            "error": self.error,
            "startedAt": rfc3339(self.started_at),
            "finishedAt": rfc3339(self.finished_at),
            "durationMs": self.duration_ms,
        }


@dataclass
class Recorder:
    journal: Journal
    bus: EventBus
    execution_id: str
    guard: Guard
    masker: SecretMasker
    clock: Clock
    log_seq: int = 0
    on_failure: Callable[[BaseException], None] = lambda exc: None
    """Called once a write is lost (lease gone, database down): the runner must stop."""
    _outstanding: set[asyncio.Future[None]] = field(default_factory=set)

    def task_started(
        self,
        *,
        key: str,
        task_name: str,
        task_type: str,
        parent_id: str | None,
        iteration: int | None,
        attempt: int,
        status: str = "RUNNING",
    ) -> TaskRunState:
        run = TaskRunState(
            id=str(uuid.uuid4()),
            key=key,
            task_name=task_name,
            task_type=task_type,
            parent_id=parent_id,
            iteration=iteration,
            attempt=attempt,
            status=status,
            started_at=self.clock(),
        )
        row = {
            "id": run.id,
            "execution_id": self.execution_id,
            "parent_id": parent_id,
            "key": key,
            "task_name": task_name,
            "task_type": task_type,
            "iteration": iteration,
            "status": status,
            "attempt": attempt,
            "outputs": None,
            "error": None,
            "started_at": run.started_at,
            "finished_at": None,
            "duration_ms": None,
        }
        self._write([(store.INSERT_TASK_RUN, row)], self._task_event(run))
        return run

    def task_finished(
        self, run: TaskRunState, status: str, *, outputs: dict[str, Any] | None = None, error: str | None = None
    ) -> None:
        run.status = status
        run.outputs = self.masker.mask_json(outputs) if outputs is not None else None
        run.error = self.masker.mask(error) if error else error
        run.finished_at = self.clock()
        params = {
            "run_id": run.id,
            "status": status,
            "outputs": json.dumps(run.outputs) if run.outputs is not None else None,
            "error": run.error,
            "finished_at": run.finished_at,
            "duration_ms": run.duration_ms,
        }
        self._write([(store.FINISH_TASK_RUN, params)], self._task_event(run))

    def task_status(self, run: TaskRunState, status: str) -> None:
        """A run changes state without ending (a parked container waits, then resumes)."""
        run.status = status
        self._write([(store.SET_TASK_RUN_STATUS, {"run_id": run.id, "status": status})], self._task_event(run))

    def log(self, level: str, message: str, *, run: TaskRunState | None = None) -> None:
        self.log_seq += 1
        text = self.masker.mask(message)
        if len(text) > MAX_LOG_MESSAGE:
            text = text[:MAX_LOG_MESSAGE] + f"… [{len(text) - MAX_LOG_MESSAGE} characters cut]"
        ts = self.clock()
        row = {
            "execution_id": self.execution_id,
            "seq": self.log_seq,
            "task_run_id": run.id if run else None,
            "task_name": run.task_name if run else None,
            "attempt": run.attempt if run else None,
            "ts": ts,
            "level": level,
            "message": text,
        }
        event = Event(LOG, self.execution_id, log_json(row))
        self._write([(store.INSERT_LOG, row)], event)

    def write(self, statements: list[tuple[Any, Any]], event: Event | None = None) -> asyncio.Future[None]:
        return self._write(statements, event)

    async def flush(self) -> None:
        """Wait until everything recorded so far is durable (and its events published)."""
        while self._outstanding:
            await asyncio.gather(*list(self._outstanding), return_exceptions=True)

    def _write(self, statements: list[tuple[Any, Any]], event: Event | None) -> asyncio.Future[None]:
        future = self.journal.submit(statements, self.guard)
        self._outstanding.add(future)
        future.add_done_callback(lambda f: self._done(f, event))
        return future

    def _done(self, future: asyncio.Future[None], event: Event | None) -> None:
        self._outstanding.discard(future)
        if future.cancelled():
            return
        exc = future.exception()
        if exc is None:
            if event is not None:
                self.bus.publish(event)
        else:
            self.on_failure(exc)

    def _task_event(self, run: TaskRunState) -> Event:
        data = run.to_json()
        data["executionId"] = self.execution_id
        return Event(TASK_UPDATED, self.execution_id, data)


def log_json(row: Any) -> dict[str, Any]:
    """A log line as the API and the event stream show it (`row` is a dict or a DB row)."""
    get = row.get if isinstance(row, dict) else lambda k: getattr(row, k)
    return {
        "type": "log",
        "seq": get("seq"),
        "ts": rfc3339(get("ts")),
        "level": get("level"),
        "taskName": get("task_name"),
        "attempt": get("attempt"),
        "message": get("message"),
    }
