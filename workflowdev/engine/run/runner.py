"""The runner: walks one execution of a flow, from its stored state to a terminal status.

A runner exists only while its node holds the execution's lease. It rebuilds what already
happened from the task runs in the database (so a resumed, retried or re-queued execution
never runs a finished task again), then runs what is left, recording every transition through
the journal under its lease guard. Control-flow tasks are interpreted in `control.py`.

How it stops, by `stop_reason`:
- "cancel"   a person cancelled: running tasks end CANCELLED, `finally` runs, CANCELLED.
- "timeout"  the execution's `timeout` passed: running tasks end TIMED_OUT, `finally` runs.
- "shutdown" this node is stopping: nothing more is recorded; the lease is handed back so the
             execution resumes at once elsewhere (or here after a restart).
- "lost"     the lease is gone (or the database stopped taking writes): nothing more is
             recorded; whoever holds the lease now carries on.
A gate parks the execution instead (PAUSED, no lease, no coroutine).
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Iterable
from collections.abc import Sequence
from datetime import datetime
from datetime import timedelta
from typing import Any
from typing import Literal

from workflowdev.engine.clock import rfc3339
from workflowdev.engine.events import Event
from workflowdev.engine.language.expressions import ExpressionError
from workflowdev.engine.language.flow import Flow
from workflowdev.engine.language.flow import Task
from workflowdev.engine.plugin import TaskFailed
from workflowdev.engine.run.context import Resources
from workflowdev.engine.run.context import RunContext
from workflowdev.engine.run.context import RunLogger
from workflowdev.engine.run.control import run_control
from workflowdev.engine.run.deps import EngineDeps
from workflowdev.engine.run.lifecycle import ExecutionStatus
from workflowdev.engine.run.lifecycle import TaskStatus
from workflowdev.engine.run.lifecycle import execution_move
from workflowdev.engine.run.lifecycle import execution_updated
from workflowdev.engine.run.recorder import Recorder
from workflowdev.engine.run.recorder import TaskRunState
from workflowdev.engine.run.task_kv import FlowKV
from workflowdev.engine.run.walk import DONE
from workflowdev.engine.run.walk import RERUN
from workflowdev.engine.run.walk import Frame
from workflowdev.engine.run.walk import KeyState
from workflowdev.engine.run.walk import Outcome
from workflowdev.engine.run.walk import Parked
from workflowdev.engine.run.walk import TaskError
from workflowdev.engine.run.walk import backoff
from workflowdev.engine.sealed_inputs import SealBroken
from workflowdev.engine.sealed_inputs import open_inputs
from workflowdev.store import executions as store

log = logging.getLogger(__name__)

StopReason = Literal["cancel", "timeout", "shutdown", "lost"]
PROGRESS_INTERVAL = 0.5
"""Seconds between progress writes of one execution (tasksExecuted while it runs): a task's end
is on every screen within this, and a flow of quick tasks costs one write per interval, not one
per task; the final count is written with the execution's end."""
OPEN = (TaskStatus.RUNNING, TaskStatus.QUEUED, TaskStatus.WAITING)
"""Statuses of a run that has not ended: a walk that finds one left by an earlier walk ends it."""
IDEMPOTENCY_NAMESPACE = uuid.UUID("6f1d2c3e-8a4b-4e5f-9c7d-0b1a2e3f4d5c")
"""The UUID namespace of tasks' idempotency keys; fixed forever, or every key would change."""


class Runner:
    def __init__(
        self,
        deps: EngineDeps,
        execution: Any,
        flow: Flow,
        prior_runs: Sequence[Any],
        log_seq: int,
        owner: str,
    ) -> None:
        self.deps = deps
        self.execution = execution
        self.flow = flow
        self.owner = owner
        self.stop_reason: StopReason | None = None
        self.state: dict[str, KeyState] = {}
        self.task_runs = len(prior_runs)
        """Task runs this execution has recorded over all its walks, bounded by `max_task_runs`."""
        self.run_limit: int | None = deps.limits.max_task_runs
        """None while `errors` and `finally` run: they report a failure, this limit's too."""
        self.left_open: dict[str, Any] = {}
        """Runs an earlier walk left open (or this one left waiting), by id: what `_close` needs
        besides their key's state to trace them (task name and type, parent, iteration)."""
        for row in prior_runs:
            if row.status in OPEN:
                self.left_open[row.id] = row
            current = self.state.get(row.key)
            if current is None or row.attempt >= current.attempt:
                outputs = json.loads(row.outputs) if row.outputs else None
                self.state[row.key] = KeyState(row.id, row.status, row.attempt, outputs, row.started_at)
        self.recorder = Recorder(
            deps.journal,
            deps.bus,
            execution.id,
            deps.guard(execution.id, owner, execution.lease_token),
            deps.new_masker(),
            deps.clock,
            log_seq=log_seq,
            on_failure=self._write_failed,
        )
        self.kv = FlowKV(deps.kv, execution.namespace, self.recorder.masker)
        self.resources = Resources()
        self.counted: set[str] = set()
        self._progress_due: asyncio.TimerHandle | None = None
        self._progress_written_at = 0.0
        """Loop time of the last progress write, or of the walk's start: a walk shorter than the
        interval writes none (its end says it all)."""
        self.countable = {each.name for top in flow.tasks for each in top.iter_tree()}
        self.outputs: dict[str, Any] = {}
        self.scope_base: dict[str, Any] = {}
        self._walk: asyncio.Task[None] | None = None
        self.started_at: datetime | None = None
        """When the execution first started (kept across resumes); set when the walk begins."""
        self.deadline: datetime | None = None
        """When the flow's `timeout` ends the execution; gates expire by then at the latest."""
        self.gates: dict[str, tuple[TaskRunState, str]] = {}
        """Gates left waiting in this walk, by task run id: (run, approval id)."""

    # -- lifecycle -------------------------------------------------------------------------

    def stop(self, reason: StopReason) -> None:
        """Ask the runner to stop; the first reason wins."""
        if self.stop_reason is None:
            self.stop_reason = reason
        if self._walk is not None and not self._walk.done():
            self._walk.cancel()

    def _write_failed(self, exc: BaseException) -> None:
        log.warning("execution %s: stopping, a write failed: %s", self.execution.id, exc)
        self.stop("lost")

    def _close_interrupted(self) -> None:
        """Runs left RUNNING by a node that stopped are over: record that, and run them again.

        They ended when that node was last known to be working (`alive_at`), not now: the
        time it was down is no part of their duration.
        """
        now = self.deps.clock()
        for key, known in self.state.items():
            if known.status not in (TaskStatus.RUNNING, TaskStatus.QUEUED):
                continue
            error = "interrupted: the node running it stopped; it runs again as a new attempt"
            self._close(key, known, TaskStatus.CANCELLED, error, interrupted_at(known.started_at, self.execution.alive_at, now))

    async def run(self) -> None:
        try:
            await self._run()
        finally:
            self._stop_progress()
            await self.resources.close()

    async def _run(self) -> None:
        started = self.started_at = self.execution.started_at or self.deps.clock()
        execution_move(self.execution.status, ExecutionStatus.RUNNING)
        self.recorder.trace = self.deps.tracer.execution(self.execution, started, self.recorder.masker)
        self._progress_written_at = asyncio.get_running_loop().time()
        self._close_interrupted()
        self.recorder.write(
            [(store.SET_EXECUTION_RUNNING, {"execution_id": self.execution.id, "now": started})],
            self._execution_event(ExecutionStatus.RUNNING, started_at=started),
        )
        try:
            inputs = self._inputs()
        except SealBroken as exc:
            await self._finish(ExecutionStatus.FAILED, f"inputs: {exc}")
            return
        self.scope_base = {
            "inputs": inputs,
            "trigger": self.execution.trigger or {},
            "execution": {"id": self.execution.id, "status": ExecutionStatus.RUNNING.value, "startedAt": rfc3339(started)},
            "flow": {
                "name": self.flow.name,
                "namespace": self.execution.namespace,
                "revision": self.execution.flow_revision,
            },
        }
        timer = None
        if self.flow.timeout is not None:
            self.deadline = started + timedelta(seconds=self.flow.timeout)
            remaining = (self.deadline - self.deps.clock()).total_seconds()
            if remaining <= 0:  # it ran out while parked: end it without taking up any task
                self.stop("timeout")
            else:
                timer = asyncio.get_running_loop().call_later(remaining, self.stop, "timeout")
        status, error = await self._main()
        self._stop_progress()  # the end or the park writes the last count
        if timer is not None:
            timer.cancel()
        if status == ExecutionStatus.PAUSED:
            await self._park()
            return
        if self.stop_reason in ("shutdown", "lost"):
            return
        await self._close_gates(status)
        if status == ExecutionStatus.FAILED and self.flow.errors:
            handled = await self._handlers(self.flow.errors, status, {"error": self._error_scope(error)})
            error = handled or error
        if self.flow.finally_:
            failed = await self._handlers(self.flow.finally_, status, {})
            if failed and status == ExecutionStatus.SUCCESS:
                status, error = (ExecutionStatus.CANCELLED, failed) if self.stop_reason == "cancel" else (ExecutionStatus.FAILED, failed)
        await self._finish(status, error)

    def _inputs(self) -> dict[str, Any]:
        """The execution's real inputs: opened from their seal when a parent passed secrets."""
        sealed = self.execution.sealed_inputs
        if sealed is None:
            return self.execution.inputs or {}
        return open_inputs(self.deps.sealer, self.execution.id, sealed, self.recorder.masker)

    async def crashed(self, exc: BaseException) -> None:
        """A bug stopped the walk: end the execution FAILED rather than leave it RUNNING.

        Left RUNNING, its lease would expire and the next claim would crash the same way, forever.
        """
        if self.stop_reason in ("shutdown", "lost"):
            return
        await self._finish(ExecutionStatus.FAILED, f"internal error: {type(exc).__name__}: {exc}")

    async def _main(self) -> tuple[str, str | None]:
        """Variables, then the tasks; returns the would-be status and error."""
        if self.stop_reason == "cancel":
            return ExecutionStatus.CANCELLED, "cancelled"
        if self.stop_reason == "timeout":
            return ExecutionStatus.TIMED_OUT, f"execution timed out after {self.flow.timeout:g}s"
        self._walk = asyncio.current_task()
        try:
            self.scope_base["vars"] = await self.deps.renderer.render_value(
                self.flow.variables, self.scope_base, **self._render_kwargs()
            )
            await self.run_list(self.flow.tasks, Frame(self.outputs))
        except Parked:
            return ExecutionStatus.PAUSED, None
        except TaskError as exc:
            return (ExecutionStatus.TIMED_OUT if self.stop_reason == "timeout" else ExecutionStatus.FAILED), str(exc)
        except ExpressionError as exc:
            return ExecutionStatus.FAILED, f"variables: {exc}"
        except asyncio.CancelledError:
            self._uncancel()
            if self.stop_reason == "timeout":
                return ExecutionStatus.TIMED_OUT, f"execution timed out after {self.flow.timeout:g}s"
            if self.stop_reason == "cancel":
                return ExecutionStatus.CANCELLED, "cancelled"
            return ExecutionStatus.RUNNING, None
        finally:
            self._walk = None
        return ExecutionStatus.SUCCESS, None

    def _uncancel(self) -> None:
        task = asyncio.current_task()
        if task is not None:
            while task.cancelling():
                task.uncancel()

    async def _handlers(self, tasks: Sequence[Task], status: str, extra: dict[str, Any]) -> str | None:
        """Run `errors` or `finally`; returns the error of the first that failed, if any.

        They answer this walk's outcome, so what they did in an earlier walk (before an
        execution retry) is not kept: they run again.
        """
        names = {each.name for top in tasks for each in top.iter_tree()}
        self.run_limit = None
        for key, known in list(self.state.items()):
            if key.split("[", 1)[0] in names:  # the key of a handler, or of an iteration inside one
                self.state[key] = KeyState(known.run_id, RERUN, known.attempt, None, known.started_at)
        self.scope_base["execution"] = {**self.scope_base["execution"], "status": status}
        self._walk = asyncio.current_task()
        try:
            await self.run_list(tasks, Frame(self.outputs, extra=extra))
        except TaskError as exc:
            return str(exc)
        except Parked:
            return "an approval gate cannot run in errors or finally"
        except asyncio.CancelledError:
            self._uncancel()
            return "cancelled"
        finally:
            self._walk = None
        return None

    def _error_scope(self, error: str | None) -> dict[str, Any]:
        task_name, _, message = (error or "").partition(": ")
        return {"taskName": task_name, "message": message or error}

    async def _park(self) -> None:
        execution_move(ExecutionStatus.RUNNING, ExecutionStatus.PAUSED)
        self.recorder.write(
            [(store.PARK_EXECUTION, {"execution_id": self.execution.id, "tasks_executed": self.executed})],
            self._execution_event(ExecutionStatus.PAUSED),
        )
        await self.recorder.flush()
        await self.deps.approvals.resume_if_decided(self.execution.id, [a for _, a in self.gates.values()])

    async def _close_gates(self, status: str) -> None:
        """Gates still waiting when the execution ends otherwise (a sibling failed, a cancel).

        Nobody can decide them any more: their runs end like interrupted tasks and their
        approvals expire, so they leave the list of pending approvals.
        """
        if not self.gates:
            return
        ended = TaskStatus.TIMED_OUT if self.stop_reason == "timeout" else TaskStatus.CANCELLED
        for run, _ in self.gates.values():
            self.recorder.task_finished(run, ended, error=f"the execution ended {status} before a decision")
            self.mirror(run)
        await self.recorder.flush()
        await self.deps.approvals.expire([a for _, a in self.gates.values()], f"the execution ended {status}")
        self.gates.clear()

    def _close_waiting(self, status: str) -> None:
        """Runs parked by an earlier walk that this one never took up (it timed out or was
        cancelled first) end with the execution."""
        ended = TaskStatus.TIMED_OUT if status == ExecutionStatus.TIMED_OUT else TaskStatus.CANCELLED
        now = self.deps.clock()
        for key, known in self.state.items():
            if known.status != TaskStatus.WAITING:
                continue
            self._close(key, known, ended, f"the execution ended {status} while this waited", now)

    async def _finish(self, status: str, error: str | None) -> None:
        execution_move(ExecutionStatus.RUNNING, status)
        self._close_waiting(status)
        now = self.deps.clock()
        duration = int((now - (self.started_at or now)).total_seconds() * 1000)
        params = {
            "execution_id": self.execution.id,
            "status": status,
            "error": error,
            "outputs": self._final_outputs(),
            "tasks_executed": self.executed,
            "finished_at": now,
            "duration_ms": duration,
        }
        self.recorder.write(
            [(store.FINISH_EXECUTION, params)],
            self._execution_event(status, error=error, finished_at=now, duration_ms=duration),
        )
        self.recorder.trace.execution_ended(status, error, now)
        await self.recorder.flush()

    def _final_outputs(self) -> dict[str, Any]:
        """Every task's outputs, as the execution keeps them, within `max_output_bytes`.

        Each task's outputs are within the limit, but loops collect every iteration's into one
        list, and a subflow's parent or a webhook caller receives the lot. Past the limit the
        largest entries give way (null), named in a warning: their task runs still hold them.
        """
        limit = self.deps.limits.max_output_bytes
        sizes = {name: _json_size({name: value}) for name, value in self.outputs.items()}
        total = sum(sizes.values())  # each entry with its braces: exactly the whole object's size
        outputs = dict(self.outputs)
        left_out: list[str] = []
        for name in sorted(sizes, key=sizes.__getitem__, reverse=True):
            if total <= limit:
                break
            outputs[name] = None
            total -= sizes[name] - _json_size({name: None})
            left_out.append(name)
        if left_out:
            self.recorder.log(
                "warning",
                f"the execution's outputs are over {limit} bytes (max_output_bytes): those of "
                f"{', '.join(left_out)} are left out; their task runs hold them",
            )
        return outputs

    def _execution_event(self, status: str, **changes: Any) -> Event:
        return execution_updated(
            self.execution.id,
            status,
            flow_id=self.execution.flow_id,
            flow_name=self.execution.flow_name,
            namespace=self.execution.namespace,
            tasks_total=self.execution.tasks_total,
            tasks_executed=self.executed,
            **changes,
        )

    # -- tasks -----------------------------------------------------------------------------

    def scope(self, frame: Frame) -> dict[str, Any]:
        return {**self.scope_base, "outputs": frame.outputs, **frame.extra}

    def _render_kwargs(self) -> dict[str, Any]:
        return {
            "credentials": self.deps.credentials,
            "masker": self.recorder.masker,
            "kv": self._kv_lookup,
        }

    async def _kv_lookup(self, key: str, namespace: str | None = None) -> Any:
        found, value = await self.kv.get(key, namespace)
        return value if found else None

    async def render(self, value: Any, frame: Frame, **names: Any) -> Any:
        """`value` rendered in the frame's scope, plus `names` (`task`, for a task's own properties)."""
        return await self.deps.renderer.render_value(value, {**self.scope(frame), **names}, **self._render_kwargs())

    async def condition(self, expression: Any, frame: Frame) -> bool:
        return await self.deps.renderer.evaluate_condition(expression, self.scope(frame), **self._render_kwargs())

    async def run_list(self, tasks: Sequence[Task], frame: Frame) -> None:
        for task in tasks:
            await self.run_task(task, frame)

    def key_of(self, task: Task, frame: Frame) -> str:
        return frame.prefix + task.name

    @property
    def executed(self) -> int:
        """tasksExecuted: declarations of `tasks` (like tasksTotal) that ended, each once.

        A set of names, not a counter, so retried attempts, containers taken up again and
        resumed executions never count a task twice; `errors` and `finally` are not counted.
        """
        return len(self.counted)

    def count_done(self, task: Task, frame: Frame) -> None:
        """Loop bodies count once, when their loop ends."""
        self.count_done_many((task,), frame)

    def count_done_many(self, tasks: Iterable[Task], frame: Frame) -> None:
        if frame.iteration is None:
            before = len(self.counted)
            self.counted.update(t.name for t in tasks if t.name in self.countable)
            if len(self.counted) != before and self._progress_due is None:
                loop = asyncio.get_running_loop()
                wait = max(0.0, self._progress_written_at + PROGRESS_INTERVAL - loop.time())
                self._progress_due = loop.call_later(wait, self._write_progress)

    def _write_progress(self) -> None:
        """tasksExecuted while the execution runs, with an execution.updated that carries it;
        the statement touches only a RUNNING execution, and the journal's guard only a held one."""
        self._progress_due = None
        self._progress_written_at = asyncio.get_running_loop().time()
        self.recorder.write(
            [(store.SET_TASKS_EXECUTED, {"execution_id": self.execution.id, "tasks_executed": self.executed})],
            self._execution_event(ExecutionStatus.RUNNING),
        )

    def _stop_progress(self) -> None:
        if self._progress_due is not None:
            self._progress_due.cancel()
            self._progress_due = None

    async def run_task(self, task: Task, frame: Frame) -> Outcome:
        key = self.key_of(task, frame)
        known = self.state.get(key)
        if known is not None and (known.status in DONE or (known.status == TaskStatus.FAILED and task.allow_failure)):
            if known.status == TaskStatus.SUCCESS:
                frame.outputs[task.name] = known.outputs or {}
            self.count_done(task, frame)
            return TaskStatus.SUCCESS if known.status == TaskStatus.SUCCESS else TaskStatus.SKIPPED if known.status == TaskStatus.SKIPPED else "FAILED_ALLOWED"
        if task.when is not None and not (known is not None and known.status == TaskStatus.WAITING):
            try:
                go = await self.condition(task.when, frame)
            except ExpressionError as exc:
                run = self.start_run(task, frame)
                return self.fail_run(task, frame, run, f"when: {exc}")
            if not go:
                self.skip(task, frame, "when is false")
                return TaskStatus.SKIPPED
        plugin = self.deps.registry.get(task.type)
        if plugin.runner_level:
            return await run_control(self, task, frame)
        return await self._run_plugin(task, frame, plugin)

    def start_run(self, task: Task, frame: Frame, status: str = TaskStatus.RUNNING) -> TaskRunState:
        self._count_run(task)
        key = self.key_of(task, frame)
        known = self.state.get(key)
        attempt = (known.attempt if known else 0) + 1
        run = self.recorder.task_started(
            key=key,
            task_name=task.name,
            task_type=task.type,
            parent_id=frame.parent_id,
            iteration=frame.iteration,
            attempt=attempt,
            status=status,
        )
        self.mirror(run)
        return run

    def mirror(self, run: TaskRunState) -> None:
        """The walk's view of a key follows what was just recorded for its run: the one place
        the runner's state changes after a transition (the recorder checks the move)."""
        self.state[run.key] = KeyState(run.id, run.status, run.attempt, run.outputs, run.started_at)

    def _close(self, key: str, known: KeyState, target: str, error: str, at: datetime) -> None:
        """End a run an earlier walk left open, known only by its key's state."""
        self.recorder.task_closed(known.run_id, known.status, target, error, at, known.started_at)
        self.state[key] = KeyState(known.run_id, target, known.attempt, None, known.started_at)
        if (row := self.left_open.pop(known.run_id, None)) is not None:
            closed = TaskRunState(
                row.id, key, row.task_name, row.task_type, row.parent_id, row.iteration, known.attempt, target,
                known.started_at or at, error=error, finished_at=at,
            )  # fmt: skip
            self.recorder.trace.task_ended(closed)

    def _count_run(self, task: Task) -> None:
        """One more task run, or `task` fails without one: the execution is at `max_task_runs`.

        Raised as the task's failure whatever its `allow_failure`: every later task would fail too.
        """
        if self.run_limit is not None and self.task_runs >= self.run_limit:
            raise TaskError(
                task.name,
                f"the execution has recorded {self.task_runs} task runs; "
                f"the limit per execution is {self.run_limit} (max_task_runs)",
            )
        self.task_runs += 1

    def reopen(self, task: Task, frame: Frame, *, write: bool = True) -> TaskRunState:
        """Take up a run left WAITING (a parked container or gate) under its own attempt."""
        key = self.key_of(task, frame)
        known = self.state[key]
        run = TaskRunState(
            id=known.run_id,
            key=key,
            task_name=task.name,
            task_type=task.type,
            parent_id=frame.parent_id,
            iteration=frame.iteration,
            attempt=known.attempt,
            status=known.status,
            started_at=known.started_at or self.deps.clock(),
        )
        if write:
            self.recorder.task_status(run, TaskStatus.RUNNING)
            self.mirror(run)
        return run

    def reopen_or_start(self, task: Task, frame: Frame) -> TaskRunState:
        known = self.state.get(self.key_of(task, frame))
        if known is not None and known.status == TaskStatus.WAITING:
            return self.reopen(task, frame)
        return self.start_run(task, frame)

    def mark_waiting(self, run: TaskRunState) -> None:
        """A container whose subtree parked waits with it, and is taken up again on resume."""
        self.recorder.task_status(run, TaskStatus.WAITING)
        self.mirror(run)
        self.left_open[run.id] = run

    def finish_run(
        self,
        task: Task,
        frame: Frame,
        run: TaskRunState,
        status: str,
        *,
        outputs: dict[str, Any] | None = None,
        outputs_text: str | None = None,
        error: str | None = None,
    ) -> None:
        self.recorder.task_finished(run, status, outputs=outputs, outputs_text=outputs_text, error=error)
        self.mirror(run)
        if status == TaskStatus.SUCCESS:
            frame.outputs[task.name] = run.outputs or {}
        if status in DONE or status == TaskStatus.FAILED:
            self.count_done(task, frame)

    def fail_run(self, task: Task, frame: Frame, run: TaskRunState, error: str, status: str = TaskStatus.FAILED) -> Outcome:
        """End `run` failed; returns FAILED_ALLOWED under allow_failure, else raises TaskError."""
        self.finish_run(task, frame, run, status, error=error)
        self.recorder.log("error", f"{task.name} {status.lower().replace('_', ' ')}: {error}", run=run)
        if task.allow_failure:
            return "FAILED_ALLOWED"
        raise TaskError(task.name, error, status)

    def skip(self, task: Task, frame: Frame, reason: str, *, count_subtree: bool = True) -> None:
        """Record SKIPPED; a skipped container counts its whole unvisited subtree as done."""
        run = self.start_run(task, frame, status=TaskStatus.SKIPPED)
        self.count_done_many(task.iter_tree() if count_subtree else (task,), frame)
        self.recorder.log("debug", f"{task.name} skipped: {reason}", run=run)

    def interrupted(self, task: Task, frame: Frame, run: TaskRunState) -> None:
        """Record a run cut short by cancel or timeout; say nothing when the lease is gone."""
        if self.stop_reason in ("shutdown", "lost"):
            return
        status = TaskStatus.TIMED_OUT if self.stop_reason == "timeout" else TaskStatus.CANCELLED
        self.finish_run(task, frame, run, status, error="execution timed out" if status == TaskStatus.TIMED_OUT else "cancelled")

    async def _run_plugin(self, task: Task, frame: Frame, plugin: type) -> Outcome:
        policy = task.retry
        max_attempts = policy.max_attempts if policy else 1
        for try_number in range(1, max_attempts + 1):
            run = self.start_run(task, frame)
            error, status = await self._attempt(task, frame, plugin, run)
            if error is None:
                return TaskStatus.SUCCESS
            if try_number < max_attempts:
                self.finish_run(task, frame, run, status, error=error)
                delay = backoff(policy, try_number)
                self.recorder.log("warning", f"{task.name} attempt {run.attempt} {status.lower()}: {error}; retrying in {delay:g}s", run=run)
                await asyncio.sleep(delay)
                continue
            return self.fail_run(task, frame, run, error, status)
        raise AssertionError("unreachable: max_attempts >= 1")

    async def _attempt(self, task: Task, frame: Frame, plugin: type, run: TaskRunState) -> tuple[str | None, str]:
        """One attempt; returns (None, "SUCCESS") or (error, status)."""
        key = idempotency_key(self.execution.id, run.key)
        ctx = RunContext(
            execution_id=self.execution.id,
            flow_name=self.flow.name,
            namespace=self.execution.namespace,
            task_name=task.name,
            attempt=run.attempt,
            iteration=frame.iteration,
            idempotency_key=key,
            log=RunLogger(self.recorder, run),
            kv=self.kv,
            workdir_root=self.deps.workdir_root,
            settings=self.deps.plugin_settings,
            resources=self.resources,
        )
        try:
            task_scope = {"name": task.name, "attempt": run.attempt, "iteration": frame.iteration, "idempotencyKey": key}
            properties = await self.render(task.properties, frame, task=task_scope)
            async with asyncio.timeout(task.timeout):
                mock = self.deps.mocks.get(task.name)
                result = mock.answer() if mock is not None else await plugin().run(ctx, properties)
            outputs, outputs_text = _json_outputs(result, self.deps.limits.max_output_bytes)
        except asyncio.CancelledError:
            ctx.cancelled.set()
            self.interrupted(task, frame, run)
            raise
        except TimeoutError:
            return f"timed out after {task.timeout:g}s", TaskStatus.TIMED_OUT
        except (TaskFailed, ExpressionError) as exc:
            return str(exc) or type(exc).__name__, TaskStatus.FAILED
        except Exception as exc:  # noqa: BLE001 - a plugin's bug fails its task, never the runner
            log.debug("task %s raised", task.name, exc_info=True)
            return f"{type(exc).__name__}: {exc}", TaskStatus.FAILED
        self.finish_run(task, frame, run, TaskStatus.SUCCESS, outputs=outputs, outputs_text=outputs_text)
        return None, TaskStatus.SUCCESS


def interrupted_at(started_at: datetime | None, alive_at: datetime | None, now: datetime) -> datetime:
    """When a run that a stopped node left open ended: that node's last sign of life.

    Never before the run began (the sign may predate it by up to one lease renewal) nor after
    now; now when nothing is known (an execution from before `alive_at` was recorded).
    """
    if alive_at is None:
        return now
    ended = min(alive_at, now)
    return ended if started_at is None else max(ended, started_at)


def idempotency_key(execution_id: str, task_key: str) -> str:
    """A UUID named by the execution and the task's key (its loop iterations included): the same
    for every attempt, resume and execution retry of that task, and for nothing else."""
    return str(uuid.uuid5(IDEMPOTENCY_NAMESPACE, f"{execution_id}/{task_key}"))


def _json_size(value: Any) -> int:
    """Bytes of `value` as JSON (ASCII: everything else is escaped)."""
    return len(json.dumps(value))


def _json_outputs(result: Any, max_bytes: int) -> tuple[dict[str, Any], str]:
    """Outputs must be a JSON object of at most `max_bytes`; anything else fails the task.

    Returns the outputs and their JSON text, encoded once here for the database too. Every
    plugin's outputs pass here, so this is where their size is bounded; the text escapes
    everything beyond ASCII, so its length is its size in bytes.
    """
    if result is None:
        return {}, "{}"
    if not isinstance(result, dict):
        raise TaskFailed(f"the plugin returned {type(result).__name__}, not an object of outputs")
    try:
        text = json.dumps(result, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TaskFailed(f"the plugin returned outputs that are not JSON: {exc}") from None
    if len(text) > max_bytes:
        raise TaskFailed(f"outputs are {len(text)} bytes of JSON; the limit per task is {max_bytes} (max_output_bytes)")
    return result, text
