"""What a runner records: task transitions and log lines, through the journal, then the bus.

Every write carries the runner's lease guard, so after a lost lease nothing more is recorded.
Events are published only once the journal reports the write durable, in the order written.
Everything recorded is masked first: task outputs, errors and log lines by the methods that
build them, any other statement by `write`.
"""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from datetime import datetime
from typing import Any
from typing import TypedDict

from workflowdev.engine.clock import Clock
from workflowdev.engine.clock import rfc3339
from workflowdev.engine.events import LOG
from workflowdev.engine.events import TASK_UPDATED
from workflowdev.engine.events import Event
from workflowdev.engine.events import EventBus
from workflowdev.engine.run.lifecycle import TaskStatus
from workflowdev.engine.run.lifecycle import task_move
from workflowdev.engine.run.tracing import NO_TRACE
from workflowdev.engine.run.tracing import ExecutionTrace
from workflowdev.engine.secrets import SecretMasker
from workflowdev.store import executions as store
from workflowdev.store.journal import Guard
from workflowdev.store.journal import Journal

LEVELS = ("debug", "info", "warning", "error")
MAX_LOG_MESSAGE = 64 * 1024
MAX_OUTSTANDING = 1_000
"""Writes a runner may have waiting for their commit before a loop waits (`keep_up`) until
half of them are done."""


class RunResult(TypedDict, total=False):
    """What a task run ends with besides its status: the keywords of `Walk.finish_run`. The
    runner's `finish_run` and `Recorder.task_finished` spell them out instead of taking
    `**result`: once per task, forwarding a dict of them costs more than the call itself."""

    outputs: dict[str, Any] | None
    outputs_text: str | None
    """`outputs` already encoded, when the caller has it (saves encoding twice)."""
    error: str | None


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
    outputs_text: str | None = None
    error: str | None = None
    finished_at: datetime | None = None

    @property
    def duration_ms(self) -> int | None:
        if self.finished_at is None:
            return None
        return int((self.finished_at - self.started_at).total_seconds() * 1000)


def new_id() -> str:
    """A random (version 4) UUID without a system call per id: task runs are made by the
    thousand and their ids need to be unique, not unguessable."""
    return str(uuid.UUID(int=_random.getrandbits(128), version=4))


_random = random.Random()


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
    trace: ExecutionTrace = NO_TRACE
    """Gets every run as it ends, masked like its row (the runner sets it when its walk starts)."""
    _outstanding: set[asyncio.Future[None]] = field(default_factory=set)
    _caught_up: asyncio.Future[None] | None = None
    """Set while loops wait in `keep_up`; done once the outstanding writes are down by half."""

    def task_started(
        self,
        *,
        key: str,
        task_name: str,
        task_type: str,
        parent_id: str | None,
        iteration: int | None,
        attempt: int,
        status: str = TaskStatus.RUNNING,
    ) -> TaskRunState:
        """A new run; one that starts SKIPPED is also over (it never ran)."""
        task_move(None, status)
        run = TaskRunState(new_id(), key, task_name, task_type, parent_id, iteration, attempt, status, self.clock())
        if status == TaskStatus.SKIPPED:
            run.finished_at = run.started_at
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
            "finished_at": run.finished_at,
            "duration_ms": run.duration_ms,
        }
        self._write([(store.INSERT_TASK_RUN, row)], TASK_UPDATED, self._task_event(run))
        if run.finished_at is not None:
            self.trace.task_ended(run)
        return run

    def task_finished(
        self,
        run: TaskRunState,
        status: str,
        *,
        outputs: dict[str, Any] | None = None,
        outputs_text: str | None = None,
        error: str | None = None,
    ) -> None:
        """`outputs_text`, when given, is `outputs` already encoded (saves encoding twice)."""
        task_move(run.status, status)
        run.status = status
        if outputs is not None and self.masker.active:
            outputs = self.masker.mask_json(outputs)
            outputs_text = None
        run.outputs = outputs
        run.outputs_text = outputs_text if outputs_text is not None or outputs is None else json.dumps(outputs)
        run.error = self.masker.mask(error) if error else error
        run.finished_at = self.clock()
        params = {
            "run_id": run.id,
            "status": status,
            "outputs": run.outputs_text,
            "error": run.error,
            "finished_at": run.finished_at,
            "duration_ms": run.duration_ms,
        }
        self._write([(store.FINISH_TASK_RUN, params)], TASK_UPDATED, self._task_event(run))
        self.trace.task_ended(run)

    def task_status(self, run: TaskRunState, status: str) -> None:
        """A run changes state without ending (a parked container waits, then resumes)."""
        task_move(run.status, status)
        run.status = status
        self._write([(store.SET_TASK_RUN_STATUS, {"run_id": run.id, "status": status})], TASK_UPDATED, self._task_event(run))

    def task_closed(
        self, run_id: str, source: str, target: str, error: str, at: datetime, started_at: datetime | None
    ) -> None:
        """End a run an earlier walk left open (known only by its row), with no event: no
        listener follows a walk that is over."""
        task_move(source, target)
        duration = None if started_at is None else int((at - started_at).total_seconds() * 1000)
        params = {"run_id": run_id, "status": target, "outputs": None, "error": error, "finished_at": at, "duration_ms": duration}
        self.write([(store.FINISH_TASK_RUN, params)])

    def log(self, level: str, message: str, *, run: TaskRunState | None = None) -> None:
        self.log_seq += 1
        text = self.masker.mask(message)
        if len(text) > MAX_LOG_MESSAGE:
            text = text[:MAX_LOG_MESSAGE] + f"… [{len(text) - MAX_LOG_MESSAGE} characters cut]"
        row = {
            "execution_id": self.execution_id,
            "seq": self.log_seq,
            "task_run_id": run.id if run else None,
            "task_name": run.task_name if run else None,
            "attempt": run.attempt if run else None,
            "ts": self.clock(),
            "level": level,
            "message": text,
        }
        self._write([(store.INSERT_LOG, row)], LOG, lambda: log_json(row))

    def write(
        self, statements: list[tuple[Any, Any]], event: Event | None = None
    ) -> asyncio.Future[None]:
        """Record anything else a runner writes (execution status, an approval, …), masked.

        This is where rendered values leave a run for the database and the bus, so every
        parameter and the event's data pass through the masker here: a writer cannot forget.
        """
        if self.masker.active:
            statements = [(statement, self.masker.mask_json(params)) for statement, params in statements]
        if event is None:
            return self._write(statements, None, None)
        data = self.masker.mask_json(event.data)
        return self._write(statements, event.type, lambda: data)

    async def flush(self) -> None:
        """Wait until everything recorded so far is durable (and its events published)."""
        while self._outstanding:
            await asyncio.gather(*list(self._outstanding), return_exceptions=True)

    async def keep_up(self) -> None:
        """Wait for the journal when more than `MAX_OUTSTANDING` writes await their commit.

        Recording does not wait (the journal commits in groups), so a loop of quick tasks can
        record faster than the database commits (while it waits for another writer's lock,
        say); each write waiting holds its statements, its future and its event until then.
        Waiting here keeps that bounded, whatever the loop's length. The waiters share one
        future, which `_done` resolves, so a loop of many workers costs no more than one.
        """
        if len(self._outstanding) <= MAX_OUTSTANDING:
            return
        if self._caught_up is None:
            self._caught_up = asyncio.get_running_loop().create_future()
        await asyncio.shield(self._caught_up)  # shared: one waiter being cancelled must not end it for all

    def _write(
        self, statements: list[tuple[Any, Any]], kind: str | None, data: Callable[[], dict[str, Any]] | None
    ) -> asyncio.Future[None]:
        future = self.journal.submit(statements, self.guard)
        self._outstanding.add(future)
        future.add_done_callback(lambda f: self._done(f, kind, data))
        return future

    def _done(self, future: asyncio.Future[None], kind: str | None, data: Callable[[], dict[str, Any]] | None) -> None:
        """After the commit: publish (building the event only if someone listens), or stop."""
        self._outstanding.discard(future)
        if self._caught_up is not None and len(self._outstanding) <= MAX_OUTSTANDING // 2:
            self._caught_up.set_result(None)
            self._caught_up = None
        if future.cancelled():
            return
        exc = future.exception()
        if exc is not None:
            self.on_failure(exc)
        elif kind is not None and data is not None and self.bus.wants(kind, self.execution_id):
            self.bus.publish(Event(kind, self.execution_id, data()))

    def _task_event(self, run: TaskRunState) -> Callable[[], dict[str, Any]]:
        """The run as it is now, turned into event data only when it is published."""
        status, outputs_text, error, finished_at = run.status, run.outputs_text, run.error, run.finished_at
        execution_id = self.execution_id

        def data() -> dict[str, Any]:
            duration = int((finished_at - run.started_at).total_seconds() * 1000) if finished_at else None
            return {
                "id": run.id,
                "executionId": execution_id,
                "taskName": run.task_name,
                "taskType": run.task_type,
                "parentId": run.parent_id,
                "iteration": run.iteration,
                "status": status,
                "attempt": run.attempt,
                "outputs": outputs_text,
                "error": error,
                "startedAt": rfc3339(run.started_at),
                "finishedAt": rfc3339(finished_at),
                "durationMs": duration,
            }

        return data


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
