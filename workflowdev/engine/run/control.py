"""The control-flow tasks (`flow.*`), interpreted by the runner.

Their semantics are written down in the docstrings of the `workflowdev/plugins/flow/` package; this module
is the other half of that contract. Containers run their children through the runner's
`run_task`, so everything a child does (when, retry, timeout, resume) works the same at any depth.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from collections.abc import Awaitable
from collections.abc import Callable
from collections.abc import Sequence
from datetime import datetime
from datetime import timedelta
from typing import TYPE_CHECKING
from typing import Any

from workflowdev.engine.errors import Invalid
from workflowdev.engine.events import APPROVAL_CREATED
from workflowdev.engine.events import Event
from workflowdev.engine.language.expressions import ExpressionError
from workflowdev.engine.language.flow import Task
from workflowdev.engine.plugin import TaskFailed
from workflowdev.engine.plugin import as_condition
from workflowdev.engine.plugin import as_text
from workflowdev.engine.plugin import parse_duration
from workflowdev.engine.run.deps import ChildExecution
from workflowdev.engine.run.gates import approval_json
from workflowdev.engine.run.gates import new_gate
from workflowdev.engine.run.lifecycle import ExecutionStatus
from workflowdev.engine.run.lifecycle import GateStatus
from workflowdev.engine.run.lifecycle import TaskStatus
from workflowdev.engine.run.walk import Frame
from workflowdev.engine.run.walk import Outcome
from workflowdev.engine.run.walk import Parked
from workflowdev.engine.run.walk import TaskError
from workflowdev.engine.run.walk import Walk
from workflowdev.engine.run.walk import backoff
from workflowdev.engine.run.walk import root_execution_id
from workflowdev.store.approvals import INSERT_APPROVAL

if TYPE_CHECKING:
    from workflowdev.engine.run.recorder import Recorder
    from workflowdev.engine.run.recorder import TaskRunState

MAX_SUBFLOW_DEPTH = 10
TURN_SECONDS = 0.002
"""How long the workers of one loop may hold the event loop before others get a turn."""
Body = Callable[["TaskRunState", dict[str, Any]], Awaitable[dict[str, Any]]]
BlockWalk = Callable[[tuple[Task, ...], Frame, dict[str, Any]], Awaitable[None]]
"""How a block goes through its children, in their frame, given its rendered properties."""


async def run_control(runner: Walk, task: Task, frame: Frame) -> Outcome:
    handler = _HANDLERS[task.type]
    return await handler(runner, task, frame)


async def run_all(
    count: int,
    run_one: Callable[[int], Awaitable[object]],
    limit: int | None,
    *,
    between: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Run `run_one(index)` for every index below `count`, at most `limit` at once, failing fast.

    A pool of `limit` workers (one per index when None) takes the indexes in order as each
    finishes its last, so nothing exists for an index before its turn: a loop of 100,000
    elements holds what `limit` iterations hold. A worker awaits `between` before taking its
    next index (a long loop paces itself there).
    The first failure cancels the others and is raised once they have stopped; no index starts
    after it. A gate that parks keeps its slot until it is decided: its worker stops (a foreach
    of concurrency 1 stays one after another); the others go on, and `Parked` is raised once
    all are done or every slot is parked.
    """
    indexes = iter(range(count))
    failures: list[BaseException] = []
    parked = False
    workers: list[asyncio.Task[None]] = []

    async def worker() -> None:
        nonlocal parked
        for index in indexes:  # shared by the workers: each index is taken once
            try:
                await run_one(index)
            except Parked:
                parked = True
                return
            except asyncio.CancelledError:
                raise
            except BaseException as exc:  # noqa: BLE001 - re-raised below, after the others stop
                failures.append(exc)
                for other in workers:
                    if other is not asyncio.current_task():
                        other.cancel()
                return
            if between is not None:
                await between()

    workers.extend(asyncio.create_task(worker()) for _ in range(min(limit or count, count)))
    try:
        await asyncio.gather(*workers, return_exceptions=True)
    except asyncio.CancelledError:
        for other in workers:
            other.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        raise
    if failures:
        raise failures[0]
    if parked:
        raise Parked()


class _Pace:
    """What a long loop does between iterations: share the event loop, let the journal keep up.

    Iterations of quick tasks never wait on anything, so the loop's workers would run them back
    to back while nothing else got the event loop (HTTP requests, `/healthz`, other executions,
    the journal's commits) and their writes piled up. A worker whose turn of `TURN_SECONDS` is
    over queues for the next; one queued worker is woken each time the event loop goes round,
    so however many workers a loop has, it holds the event loop about one turn at a time.
    Iterations that wait for something (a request, a sleep) give the event loop away anyway.
    """

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder
        self.turn_began = time.monotonic()
        self.waiting: deque[asyncio.Future[None]] = deque()
        self.giving = False

    async def __call__(self) -> None:
        if time.monotonic() - self.turn_began >= TURN_SECONDS:
            await self._wait_turn()
        await self.recorder.keep_up()

    async def _wait_turn(self) -> None:
        loop = asyncio.get_running_loop()
        turn = loop.create_future()
        self.waiting.append(turn)
        if not self.giving:
            self.giving = True
            loop.call_soon(self._give_turn)
        await turn
        self.turn_began = time.monotonic()

    def _give_turn(self) -> None:
        """Wake the worker that waited longest; the next one once the event loop went round."""
        while self.waiting:
            turn = self.waiting.popleft()
            if not turn.done():  # done: its worker was cancelled while it waited
                turn.set_result(None)
                break
        self.giving = bool(self.waiting)
        if self.giving:
            asyncio.get_running_loop().call_soon(self._give_turn)


async def _container(runner: Walk, task: Task, frame: Frame, body: Body, *, render_exclude: Sequence[str] = ()) -> Outcome:
    """Run a control task: its own run record, its rendered properties, retry, and outcome."""
    policy = task.retry
    attempts = policy.max_attempts if policy else 1
    for try_number in range(1, attempts + 1):
        run = runner.reopen_or_start(task, frame)
        try:
            own = {k: v for k, v in task.properties.items() if k not in render_exclude}
            rendered = await runner.render(own, frame)
            outputs = await body(run, rendered)
        except Parked:
            runner.mark_waiting(run)
            raise
        except asyncio.CancelledError:
            runner.interrupted(task, frame, run)
            raise
        except TaskError as exc:
            error, status = f"{exc.task_name} {_verb(exc.status)}: {exc.message}", TaskStatus.FAILED
        except (TaskFailed, ExpressionError, ValueError) as exc:
            error, status = str(exc), TaskStatus.FAILED
        else:
            runner.finish_run(task, frame, run, TaskStatus.SUCCESS, outputs=outputs)
            return TaskStatus.SUCCESS
        if try_number < attempts:
            runner.finish_run(task, frame, run, status, error=error)
            await asyncio.sleep(backoff(policy, try_number))
            continue
        return runner.fail_run(task, frame, run, error, status)
    raise AssertionError("unreachable: attempts >= 1")


def _verb(status: str) -> str:
    return {TaskStatus.TIMED_OUT: "timed out", TaskStatus.CANCELLED: "was cancelled"}.get(status, "failed")


def _children(task: Task, name: str) -> tuple[Task, ...]:
    value = task.children.get(name, ())
    return value if isinstance(value, tuple) else tuple(value)


def _concurrency(rendered: dict[str, Any]) -> int | None:
    value = rendered.get("concurrency")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise TaskFailed(f"concurrency must be a positive integer, got {as_text(value)}")
    return value


async def _block(runner: Walk, task: Task, frame: Frame, walk: BlockWalk) -> Outcome:
    """A container of one list, `tasks`, with no outputs of its own (sequential, parallel,
    dag): they differ only in how `walk` goes through the children."""

    async def body(run: TaskRunState, props: dict[str, Any]) -> dict[str, Any]:
        await walk(_children(task, "tasks"), frame.child(run.id), props)
        return {}

    return await _container(runner, task, frame, body)


async def _sequential(runner: Walk, task: Task, frame: Frame) -> Outcome:
    return await _block(runner, task, frame, lambda children, inner, _props: runner.run_list(children, inner))


async def _parallel(runner: Walk, task: Task, frame: Frame) -> Outcome:
    def walk(children: tuple[Task, ...], inner: Frame, props: dict[str, Any]) -> Awaitable[None]:
        return run_all(len(children), lambda i: runner.run_task(children[i], inner), _concurrency(props))

    return await _block(runner, task, frame, walk)


async def _dag(runner: Walk, task: Task, frame: Frame) -> Outcome:
    async def walk(children: tuple[Task, ...], inner: Frame, props: dict[str, Any]) -> None:
        finished = {c.name: asyncio.Event() for c in children}
        outcome: dict[str, str] = {}
        slots = asyncio.Semaphore(_concurrency(props) or max(len(children), 1))

        async def node(child: Task) -> None:
            try:
                for dep in child.depends_on:
                    await finished[dep].wait()
                if any(outcome[d] == "PARKED" for d in child.depends_on):
                    outcome[child.name] = "PARKED"
                    raise Parked()
                skipped = [d for d in child.depends_on if outcome[d] == TaskStatus.SKIPPED]
                if skipped:
                    runner.skip(child, inner, f"dependency {skipped[0]} was skipped")
                    outcome[child.name] = TaskStatus.SKIPPED
                    return
                async with slots:
                    outcome[child.name] = await runner.run_task(child, inner)
            except Parked:
                outcome[child.name] = "PARKED"
                raise
            finally:
                finished[child.name].set()

        await run_all(len(children), lambda i: node(children[i]), None)

    return await _block(runner, task, frame, walk)


def _skip_all(runner: Walk, tasks: Sequence[Task], frame: Frame, reason: str) -> None:
    for top in tasks:
        for each in top.iter_tree():
            runner.skip(each, frame, reason, count_subtree=False)


async def _if(runner: Walk, task: Task, frame: Frame) -> Outcome:
    async def body(run: TaskRunState, props: dict[str, Any]) -> dict[str, Any]:
        branch = "then" if as_condition(props.get("condition")) else "else"
        other = "else" if branch == "then" else "then"
        inner = frame.child(run.id)
        _skip_all(runner, _children(task, other), inner, f"{task.name} took the {branch} branch")
        await runner.run_list(_children(task, branch), inner)
        return {"branch": branch}

    return await _container(runner, task, frame, body)


def _case_key(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


async def _switch(runner: Walk, task: Task, frame: Frame) -> Outcome:
    async def body(run: TaskRunState, props: dict[str, Any]) -> dict[str, Any]:
        value = props.get("value")
        if isinstance(value, (dict, list)):
            raise TaskFailed(f"switch value must be a scalar, got {as_text(value)}")
        cases = task.children.get("cases", {})
        assert isinstance(cases, dict)
        wanted = _case_key(value)
        matched = next((key for key in cases if _case_key(key) == wanted), None)
        chosen = tuple(cases[matched]) if matched is not None else _children(task, "default")
        inner = frame.child(run.id)
        for key, tasks in cases.items():
            if key != matched:
                _skip_all(runner, tuple(tasks), inner, f"{task.name} did not match case {key}")
        if matched is not None:
            _skip_all(runner, _children(task, "default"), inner, f"{task.name} matched case {matched}")
        await runner.run_list(chosen, inner)
        return {"case": matched}

    return await _container(runner, task, frame, body)


async def _foreach(runner: Walk, task: Task, frame: Frame) -> Outcome:
    async def body(run: TaskRunState, props: dict[str, Any]) -> dict[str, Any]:
        items = _items(runner, props)
        children = _children(task, "tasks")
        names = [each.name for child in children for each in child.iter_tree()]
        collected: dict[str, list[Any]] = {name: [None] * len(items) for name in names}
        failed: set[int] = set()

        async def iteration(index: int) -> None:
            inner = frame.iteration_frame(task.name, index, run.id, items[index])
            try:
                for child in children:
                    try:
                        outcome = await runner.run_task(child, inner)
                    except TaskError as exc:  # say which item failed: the child's name alone is ambiguous
                        raise TaskError(f"{exc.task_name} in iteration {index}", exc.message, exc.status) from None
                    if outcome == "FAILED_ALLOWED":
                        failed.add(index)
            finally:  # only its outputs outlive an iteration, in the lists of the loop's outputs
                own = inner.outputs.maps[0]  # type: ignore[attr-defined]
                for name in names:
                    collected[name][index] = own.get(name)

        try:
            await run_all(len(items), iteration, _concurrency(props) or 1, between=_Pace(runner.recorder))
        finally:
            frame.outputs.update(collected)
        runner.count_done_many((each for c in children for each in c.iter_tree()), frame)
        return {"count": len(items), "failed": len(failed)}

    return await _container(runner, task, frame, body)


def _items(runner: Walk, props: dict[str, Any]) -> list[Any]:
    """The loop's elements: a list, no longer than the node allows (`max_foreach_items`)."""
    items = props.get("items")
    if not isinstance(items, list):
        raise TaskFailed(f"items must be a list, got {as_text(items)[:200]}")
    limit = runner.deps.limits.max_foreach_items
    if len(items) > limit:
        raise TaskFailed(f"items has {len(items)} entries; the limit per foreach is {limit} (max_foreach_items)")
    return items


async def _fail(runner: Walk, task: Task, frame: Frame) -> Outcome:
    run = runner.start_run(task, frame)
    try:
        props = await runner.render(task.properties, frame)
        message = as_text(props.get("message") or "failed by flow.fail")
    except ExpressionError as exc:
        message = str(exc)
    return runner.fail_run(task, frame, run, message)


async def _wait_until(runner: Walk, task: Task, frame: Frame) -> Outcome:
    run = runner.start_run(task, frame, status=TaskStatus.WAITING)
    try:
        props = await runner.render({k: v for k, v in task.properties.items() if k != "condition"}, frame)
        interval = parse_duration(props.get("interval", "5s"))
        timeout = parse_duration(props["timeout"])
        if interval < 1:
            raise TaskFailed(f"interval must be at least 1s, got {interval:g}s")
        started = time.monotonic()
        polls = 0
        while True:
            polls += 1
            value = await runner.render(task.properties["condition"], frame)
            if as_condition(value):
                waited = int((time.monotonic() - started) * 1000)
                runner.finish_run(task, frame, run, TaskStatus.SUCCESS, outputs={"polls": polls, "waited_ms": waited})
                return TaskStatus.SUCCESS
            remaining = timeout - (time.monotonic() - started)
            if remaining <= 0:
                return runner.fail_run(task, frame, run, f"condition still false after {timeout:g}s ({polls} polls)", TaskStatus.TIMED_OUT)
            await asyncio.sleep(min(interval, remaining))
    except asyncio.CancelledError:
        runner.interrupted(task, frame, run)
        raise
    except (TaskFailed, ExpressionError, ValueError, KeyError) as exc:
        return runner.fail_run(task, frame, run, str(exc))


async def _approval(runner: Walk, task: Task, frame: Frame) -> Outcome:
    key = runner.key_of(task, frame)
    known = runner.state.get(key)
    if known is not None and known.status == TaskStatus.WAITING:
        decision = await runner.deps.approvals.for_task_run(known.run_id)
        run = runner.reopen(task, frame, write=False)
        if decision is None or decision.status == GateStatus.PENDING:
            if decision is not None:
                runner.gates[run.id] = (run, decision.id)
            raise Parked()
        if decision.status == GateStatus.APPROVED:
            outputs = {"approved": True, "decidedBy": decision.decided_by, "comment": decision.comment}
            runner.finish_run(task, frame, run, TaskStatus.SUCCESS, outputs=outputs)
            return TaskStatus.SUCCESS
        if decision.status == GateStatus.REJECTED:
            reason = f"rejected by {decision.decided_by or 'someone'}" + (f": {decision.comment}" if decision.comment else "")
            return runner.fail_run(task, frame, run, reason)
        return runner.fail_run(task, frame, run, "approval expired: nobody decided in time", TaskStatus.TIMED_OUT)
    run = runner.start_run(task, frame, status=TaskStatus.WAITING)
    try:
        props = await runner.render(task.properties, frame)
        timeout = parse_duration(props["timeout"]) if props.get("timeout") is not None else None
    except (ExpressionError, ValueError) as exc:
        return runner.fail_run(task, frame, run, str(exc))
    now = runner.deps.clock()
    row = new_gate(
        execution_id=runner.execution.id,
        flow_id=runner.execution.flow_id,
        task_run_id=run.id,
        task_name=task.name,
        message=as_text(props.get("message", "")) or None,
        context=props.get("context"),
        created_at=now,
        expires_at=_earliest(now + timedelta(seconds=timeout) if timeout is not None else None, runner.deadline),
    )
    runner.recorder.write([(INSERT_APPROVAL, row)], Event(APPROVAL_CREATED, runner.execution.id, approval_json(row)))
    runner.recorder.log("info", f"{task.name} waits for approval: {row['message'] or ''}".rstrip(": "), run=run)
    runner.gates[run.id] = (run, row["id"])
    raise Parked()


def _earliest(*moments: datetime | None) -> datetime | None:
    """A gate expires by its own timeout, and by the execution's at the latest."""
    known = [m for m in moments if m is not None]
    return min(known) if known else None


async def _subflow(runner: Walk, task: Task, frame: Frame) -> Outcome:
    previous = runner.state.get(runner.key_of(task, frame))
    run = runner.start_run(task, frame)
    try:
        props = await runner.render(task.properties, frame)
        trigger = runner.execution.trigger or {}
        depth = (trigger.get("depth", 0) if trigger.get("type") == "subflow" else 0) + 1
        if depth > MAX_SUBFLOW_DEPTH:
            raise TaskFailed(f"subflows nested deeper than {MAX_SUBFLOW_DEPTH}: does a flow call itself?")
        launcher = runner.deps.subflows
        child = await launcher.find_child(previous.run_id) if previous is not None else None
        if child is None:
            child = await launcher.start_child(
                ChildExecution(
                    namespace=props.get("namespace") or runner.execution.namespace,
                    flow=props["flow"],
                    inputs=props.get("inputs") or {},
                    labels=props.get("labels") or {},
                    trigger={
                        "type": "subflow",
                        "executionId": runner.execution.id,
                        "rootExecutionId": root_execution_id(runner.execution),
                        "taskName": task.name,
                        "depth": depth,
                    },
                    parent_execution_id=runner.execution.id,
                    parent_task_run_id=run.id,
                    secrets=runner.recorder.masker,
                )
            )
        runner.recorder.log("info", f"{task.name} started execution {child}", run=run)
        if not props.get("wait", True):
            runner.finish_run(task, frame, run, TaskStatus.SUCCESS, outputs={"execution_id": child, "status": ExecutionStatus.QUEUED.value})
            return TaskStatus.SUCCESS
        try:
            ended = await launcher.wait(child)
        except asyncio.CancelledError:
            if runner.stop_reason not in ("shutdown", "lost"):
                await asyncio.shield(launcher.cancel_child(child))
            raise
        if ended.status != ExecutionStatus.SUCCESS:
            raise TaskFailed(f"subflow execution {child} ended {ended.status}: {ended.error or 'no error given'}")
        outputs = {"execution_id": child, "status": ExecutionStatus.SUCCESS.value, "outputs": ended.outputs or {}}
        runner.finish_run(task, frame, run, TaskStatus.SUCCESS, outputs=outputs)
        return TaskStatus.SUCCESS
    except asyncio.CancelledError:
        runner.interrupted(task, frame, run)
        raise
    except TaskError:
        raise
    except (TaskFailed, ExpressionError, Invalid, ValueError, KeyError) as exc:
        return runner.fail_run(task, frame, run, str(exc))


_HANDLERS: dict[str, Callable[[Walk, Task, Frame], Awaitable[Outcome]]] = {
    "flow.sequential": _sequential,
    "flow.parallel": _parallel,
    "flow.dag": _dag,
    "flow.if": _if,
    "flow.switch": _switch,
    "flow.foreach": _foreach,
    "flow.subflow": _subflow,
    "flow.approval": _approval,
    "flow.fail": _fail,
    "flow.wait_until": _wait_until,
}
