"""Starting, reading, cancelling and retrying executions.

`start` answers only once the QUEUED row is committed: what was acknowledged is never lost.
Runners are the dispatcher's business; this service only queues work and wakes it.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import OrderedDict
from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import KW_ONLY
from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace
from typing import Any
from typing import Protocol

from sqlalchemy import Row

from workflowdev.engine.clock import Clock
from workflowdev.engine.clock import rfc3339
from workflowdev.engine.errors import Conflict
from workflowdev.engine.errors import Invalid
from workflowdev.engine.errors import NotFound
from workflowdev.engine.errors import must_exist
from workflowdev.engine.events import EXECUTION_UPDATED
from workflowdev.engine.events import EventBus
from workflowdev.engine.language.flow import Flow
from workflowdev.engine.language.flow import FlowInvalid
from workflowdev.engine.language.flow import InputsInvalid
from workflowdev.engine.language.flow import check_inputs
from workflowdev.engine.language.flow import parse_flow
from workflowdev.engine.plugin import PluginRegistry
from workflowdev.engine.run import replay
from workflowdev.engine.run.deps import ChildExecution
from workflowdev.engine.run.lifecycle import ENDED
from workflowdev.engine.run.lifecycle import RETRYABLE
from workflowdev.engine.run.lifecycle import ExecutionStatus
from workflowdev.engine.run.lifecycle import GateStatus
from workflowdev.engine.run.lifecycle import TaskStatus
from workflowdev.engine.run.lifecycle import execution_move
from workflowdev.engine.run.lifecycle import execution_updated
from workflowdev.engine.run.lifecycle import expect
from workflowdev.engine.run.recorder import new_id as new_run_id
from workflowdev.engine.sealed_inputs import SealBroken
from workflowdev.engine.sealed_inputs import Sealer
from workflowdev.engine.sealed_inputs import open_inputs
from workflowdev.engine.sealed_inputs import seal_inputs
from workflowdev.engine.secrets import SecretMasker
from workflowdev.engine.services import audit_trail
from workflowdev.engine.services.actor import Actor
from workflowdev.store import approvals as approvals_store
from workflowdev.store import audit
from workflowdev.store import executions as store
from workflowdev.store import flows as flows_store
from workflowdev.store.database import Database
from workflowdev.store.journal import Journal

CANCEL_WAIT_SECONDS = 5.0


def execution_json(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "flowId": row.flow_id,
        "flowName": row.flow_name,
        "namespace": row.namespace,
        "flowRevision": row.flow_revision,
        "status": row.status,
        "tasksTotal": row.tasks_total,
        "tasksExecuted": row.tasks_executed,
        "inputs": row.inputs,
        "labels": row.labels,
        "trigger": row.trigger,
        "error": row.error,
        "createdAt": rfc3339(row.created_at),
        "startedAt": rfc3339(row.started_at),
        "finishedAt": rfc3339(row.finished_at),
        "durationMs": row.duration_ms,
    }


def task_run_json(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "taskName": row.task_name,
        "taskType": row.task_type,
        "parentId": row.parent_id,
        "iteration": row.iteration,
        "status": row.status,
        "attempt": row.attempt,
        "outputs": row.outputs,
        "error": row.error,
        "startedAt": rfc3339(row.started_at),
        "finishedAt": rfc3339(row.finished_at),
        "durationMs": row.duration_ms,
        "replayedFrom": row.replayed_from,
    }


MAX_KEPT_LISTED = 100
"""Task runs a replay's dry run names (it counts them all)."""


@dataclass(frozen=True)
class Batch:
    """Executions started together that may run at most `limit` at a time (a backfill's)."""

    id: str
    limit: int


class LocalStart(Protocol):
    """The dispatcher's fast path for executions queued on this very node."""

    def reserve(self, flow: Flow) -> dict[str, Any] | None: ...
    def release(self) -> None: ...
    def adopt(self, execution: Any, flow: Flow) -> None: ...


class CompiledFlows:
    """Parsed flows by (flow id, revision): a revision never changes, so parse it once."""

    def __init__(self, registry: PluginRegistry, size: int = 256) -> None:
        self.registry = registry
        self.size = size
        self._cache: OrderedDict[tuple[str, int], Flow] = OrderedDict()

    def get(self, flow_id: str, revision: int, yaml_content: str) -> Flow:
        key = (flow_id, revision)
        flow = self._cache.get(key)
        if flow is None:
            flow = parse_flow(yaml_content, self.registry)
            self._cache[key] = flow
            if len(self._cache) > self.size:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(key)
        return flow

    async def load(self, db: Database, flow_id: str, revision: int) -> Flow:
        cached = self._cache.get((flow_id, revision))
        if cached is not None:
            return cached
        async with db.read() as conn:
            row = await flows_store.get_revision(conn, flow_id, revision)
        if row is None:
            raise NotFound(f"flow {flow_id} has no revision {revision}")
        return self.get(flow_id, revision, row.yaml_content)


@dataclass(eq=False)
class ExecutionService:
    db: Database
    journal: Journal
    bus: EventBus
    flows: CompiledFlows
    clock: Clock
    _: KW_ONLY
    wake: Callable[[], None]
    cancel_local: Callable[[str], bool]
    local: LocalStart | None = None
    sealer: Sealer | None = None
    """The keeper of the master key, which seals a subflow's inputs when they carry its
    parent's secrets (none without a key: then there are no secrets either)."""

    async def start(
        self,
        flow_id: str,
        *,
        actor: Actor,
        inputs: Mapping[str, Any] | None = None,
        labels: Mapping[str, Any] | None = None,
        trigger: Mapping[str, Any] | None = None,
        parent_execution_id: str | None = None,
        parent_task_run_id: str | None = None,
        execution_id: str | None = None,
        also: Sequence[tuple[Any, Any]] = (),
        batch: Batch | None = None,
    ) -> dict[str, Any]:
        """Queue an execution. `also`: statements committed with it, all or nothing (a trigger's
        firing row, whose unique key is what stops a double fire). `batch`: the backfill it
        belongs to, whose limit the claim applies."""
        async with self.db.read() as conn:
            flow_row = await flows_store.get_flow(conn, flow_id)
        return await self._start(
            must_exist(flow_row, "flow", flow_id),
            actor,
            inputs,
            labels,
            trigger or {"type": "manual"},
            parent_execution_id,
            parent_task_run_id,
            execution_id=execution_id,
            also=also,
            batch=batch,
            fast_start=batch is None,
        )

    async def _start(
        self,
        flow_row: Any,
        actor: Actor,
        inputs: Mapping[str, Any] | None,
        labels: Mapping[str, Any] | None,
        trigger: Mapping[str, Any],
        parent_execution_id: str | None,
        parent_task_run_id: str | None,
        *,
        execution_id: str | None = None,
        also: Sequence[tuple[Any, Any]] = (),
        secrets: SecretMasker | None = None,
        fast_start: bool = True,
        batch: Batch | None = None,
    ) -> dict[str, Any]:
        """`secrets`: the masker of the run that starts this one (a subflow's parent); what
        its secrets touch is stored masked, the real inputs sealed. `fast_start=False` sends it
        through the claim, whose runner reads the task runs `also` inserted (a replay's)."""
        flow = self.flows.get(flow_row.id, flow_row.revision, flow_row.yaml_content)
        try:
            checked = check_inputs(flow, inputs)
        except InputsInvalid as exc:
            raise Invalid("inputs do not match the flow's declared inputs", exc.errors) from None
        if labels is not None and not all(isinstance(v, (str, int, float, bool)) for v in labels.values()):
            raise Invalid("labels must map names to strings, numbers or booleans")
        execution_move(None, ExecutionStatus.QUEUED)
        now = self.clock()
        execution_id = execution_id or str(uuid.uuid4())
        try:
            shown, sealed = seal_inputs(self.sealer, execution_id, checked, secrets)
        except SealBroken as exc:
            raise Invalid(str(exc)) from None
        all_labels = {**flow.labels, **(labels or {})}
        row = {
            "id": execution_id,
            "flow_id": flow_row.id,
            "flow_name": flow_row.name,
            "namespace": flow_row.namespace,
            "flow_revision": flow_row.revision,
            "status": ExecutionStatus.QUEUED,
            "tasks_total": flow.tasks_total,
            "tasks_executed": 0,
            "inputs": shown,
            "sealed_inputs": sealed,
            "labels": secrets.mask_json(all_labels) if secrets is not None else all_labels,
            "trigger": dict(trigger),
            "error": None,
            "outputs": None,
            "parent_execution_id": parent_execution_id,
            "parent_task_run_id": parent_task_run_id,
            "created_at": now,
            "started_at": None,
            "finished_at": None,
            "duration_ms": None,
            "lease_owner": None,
            "lease_expires_at": None,
            "lease_token": None,
            "alive_at": None,
            "cancel_requested": False,
            "batch_id": batch.id if batch is not None else None,
            "batch_limit": batch.limit if batch is not None else None,
        }
        entry = audit_trail.entry(actor, "execution.create", "execution", execution_id, {"flowId": flow_row.id, "trigger": trigger.get("type")}, now)
        lease = self.local.reserve(flow) if self.local is not None and fast_start else None
        if lease is not None:
            row.update(lease)
        try:
            await self.journal.write([(store.INSERT_EXECUTION, row), (audit.INSERT, entry), *also])
        except BaseException:
            if lease is not None and self.local is not None:
                self.local.release()
            raise
        self.bus.publish(execution_updated(execution_id, row["status"], **_event_data(row)))
        if lease is not None and self.local is not None:
            self.local.adopt(SimpleNamespace(**row), flow)
        else:
            self.wake()
        return {"executionId": execution_id, "status": ExecutionStatus.QUEUED, "tasksTotal": flow.tasks_total}

    async def get(self, execution_id: str, *, task_runs: int) -> tuple[Row[Any], Sequence[Row[Any]], int]:
        """The execution, its first `task_runs` task runs in start order, and how many it has."""
        async with self.db.read() as conn:
            row = must_exist(await store.get_execution(conn, execution_id), "execution", execution_id)
            runs, total = await store.list_task_runs(conn, execution_id, limit=task_runs)
            return row, runs, total

    async def task_runs(
        self, execution_id: str, *, status: Sequence[str], task_name: str | None, limit: int, offset: int
    ) -> tuple[Sequence[Row[Any]], int]:
        """A page of the execution's task runs in start order, and how many match."""
        async with self.db.read() as conn:
            must_exist(await store.get_execution(conn, execution_id), "execution", execution_id)
            return await store.list_task_runs(
                conn, execution_id, status=status, task_name=task_name, limit=limit, offset=offset
            )

    async def get_row(self, execution_id: str) -> Row[Any]:
        async with self.db.read() as conn:
            row = await store.get_execution(conn, execution_id)
        return must_exist(row, "execution", execution_id)

    async def list(
        self,
        *,
        flow_id: str | None,
        namespace: str | None,
        status: Sequence[str],
        since: datetime | None,
        limit: int,
        offset: int,
    ) -> tuple[Sequence[Row[Any]], int]:
        async with self.db.read() as conn:
            return await store.list_executions(
                conn, flow_id=flow_id, namespace=namespace, status=status, since=since, limit=limit, offset=offset
            )

    async def logs(self, execution_id: str, after_seq: int = 0, limit: int | None = None) -> Sequence[Row[Any]]:
        async with self.db.read() as conn:
            must_exist(await store.get_execution(conn, execution_id), "execution", execution_id)
            return await store.list_logs(conn, execution_id, after_seq=after_seq, limit=limit)

    async def cancel(self, execution_id: str, *, actor: Actor) -> Row[Any]:
        """Queued and paused executions end at once; running ones are stopped by their runner."""
        now = self.clock()
        async with self.db.write() as conn:
            row = must_exist(await store.get_execution(conn, execution_id), "execution", execution_id)
            if row.status in ENDED:
                raise Conflict(f"execution {execution_id} is already {row.status}")
            await audit_trail.record(conn, actor, "execution.cancel", "execution", execution_id, {"status": row.status}, now)
            # A QUEUED execution under a lease has been claimed: its runner may already be
            # working, so it is stopped like a running one.
            idle = row.status == ExecutionStatus.PAUSED or (row.status == ExecutionStatus.QUEUED and row.lease_owner is None)
            stopped_here = idle and await store.set_status_if(
                conn,
                execution_id,
                expected=expect(ExecutionStatus.CANCELLED, row.status),
                status=ExecutionStatus.CANCELLED,
                error=f"cancelled by {actor.name}",
                finished_at=now,
                duration_ms=int((now - row.started_at).total_seconds() * 1000) if row.started_at else None,
                lease_owner=None,
                lease_expires_at=None,
            )
            if stopped_here:
                await store.finish_open_task_runs(conn, execution_id, TaskStatus.CANCELLED, now)
                for gate in await approvals_store.pending_for_execution(conn, execution_id):
                    await approvals_store.decide(
                        conn, gate.id, status=GateStatus.EXPIRED, by=actor.name, comment="execution cancelled", at=now
                    )
            else:
                await store.set_status_if(conn, execution_id, expected=[ExecutionStatus.QUEUED, ExecutionStatus.RUNNING], cancel_requested=True)
        if stopped_here:
            final = await self.get_row(execution_id)
            self.bus.publish(execution_updated(execution_id, final.status, **execution_json(final)))
            return final
        self.cancel_local(execution_id)
        try:
            return await asyncio.wait_for(self.wait(execution_id), CANCEL_WAIT_SECONDS)
        except TimeoutError:
            return await self.get_row(execution_id)

    async def retry(self, execution_id: str, *, actor: Actor) -> dict[str, Any]:
        """Resume a failed, cancelled or timed-out execution: finished tasks keep their outputs."""
        now = self.clock()
        async with self.db.write() as conn:
            row = must_exist(await store.get_execution(conn, execution_id), "execution", execution_id)
            resumed = await store.set_status_if(
                conn,
                execution_id,
                expected=expect(ExecutionStatus.QUEUED, *RETRYABLE),
                status=ExecutionStatus.QUEUED,
                error=None,
                started_at=None,  # a fresh start: the flow's `timeout` counts from the retry
                finished_at=None,
                duration_ms=None,
                cancel_requested=False,
            )
            if not resumed:
                raise Conflict(f"execution {execution_id} is {row.status}; only FAILED, CANCELLED or TIMED_OUT can be retried")
            await audit_trail.record(conn, actor, "execution.retry", "execution", execution_id, {"from": row.status}, now)
        self.bus.publish(execution_updated(execution_id, ExecutionStatus.QUEUED))
        self.wake()
        return {"executionId": execution_id, "status": ExecutionStatus.QUEUED}

    async def replay(
        self,
        execution_id: str,
        *,
        from_task: str,
        actor: Actor,
        inputs: Mapping[str, Any] | None = None,
        revision: int | None = None,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        """A new execution of an ended one's flow that runs `from_task` and what follows it, the
        tasks before taken as the original recorded them (`run.replay`). The original is not
        touched; `inputs` override the original's; `revision` runs another revision. `dry_run`
        answers what would be kept, and starts nothing."""
        async with self.db.read() as conn:
            row = must_exist(await store.get_execution(conn, execution_id), "execution", execution_id)
            if row.status not in ENDED:
                raise Conflict(f"execution {execution_id} is {row.status}; only an ended execution can be replayed")
            flow_row = await flows_store.get_flow(conn, row.flow_id)
            chosen = await flows_store.get_revision(conn, row.flow_id, revision or row.flow_revision)
            runs = (await store.task_runs_of(conn, [execution_id])).get(execution_id, [])
        if flow_row is None or flow_row.deleted_at is not None:
            raise Conflict(f"the flow of execution {execution_id} was deleted; it cannot be replayed")
        if chosen is None:
            raise Invalid(f"the flow has no revision {revision}")
        source = SimpleNamespace(
            id=flow_row.id, name=flow_row.name, namespace=flow_row.namespace,
            revision=chosen.revision, yaml_content=chosen.yaml_content,
        )  # fmt: skip
        try:
            flow = self.flows.get(source.id, source.revision, source.yaml_content)
        except FlowInvalid as exc:  # an old revision, written for task types this node lacks now
            raise Invalid(
                f"revision {source.revision} of the flow does not validate any more", [e.to_json() for e in exc.errors]
            ) from None
        declared = replay.Declarations.of(flow)
        try:
            target = replay.resolve(declared, from_task)
        except replay.ReplayRefused as exc:
            raise Invalid(str(exc)) from None
        planned = replay.plan(declared, target, runs)
        if dry_run:
            keys = [run.key for run in planned.kept]
            return {"dryRun": True, "kept": len(keys), "keptTasks": keys[:MAX_KEPT_LISTED]}
        masker = SecretMasker()
        try:
            original = open_inputs(self.sealer, row.id, row.sealed_inputs, masker) if row.sealed_inputs else row.inputs
        except SealBroken as exc:
            raise Conflict(f"the original's inputs cannot be opened: {exc}") from None
        new_id = str(uuid.uuid4())
        copies = replay.copied_rows(planned, new_id, execution_id, self.clock(), new_run_id)
        note = {"original": execution_id, "fromTask": from_task, "kept": len(planned.kept)}
        entry = audit_trail.entry(actor, "execution.replay", "execution", new_id, note, self.clock())
        trigger = {"type": "replay", "executionId": execution_id, "fromTask": from_task, "by": actor.name}
        started = await self._start(
            source, actor, {**(original or {}), **(inputs or {})}, None, trigger, None, None,
            execution_id=new_id, also=[(audit.INSERT, entry), *([(store.INSERT_TASK_RUN, copies)] if copies else [])],
            secrets=masker if row.sealed_inputs else None, fast_start=False,
        )  # fmt: skip
        return {"executionId": started["executionId"], "status": started["status"], "kept": len(planned.kept)}

    async def wait(self, execution_id: str, poll: float = 5.0) -> Row[Any]:
        """Until the execution is terminal. Events wake it; a slow poll covers other nodes."""
        sub = self.bus.subscribe(execution_id=execution_id, types=[EXECUTION_UPDATED])
        try:
            while True:
                row = await self.get_row(execution_id)
                if row.status in ENDED:
                    return row
                event = await sub.get(timeout=poll)
                while event is not None and event.data.get("status") not in ENDED:
                    event = await sub.get(timeout=poll)
        finally:
            sub.close()

    # -- the subflow launcher the runners use ------------------------------------------------

    async def start_child(self, child: ChildExecution) -> str:
        async with self.db.read() as conn:
            flow_row = await flows_store.get_flow_by_name(conn, child.namespace, child.flow)
        if flow_row is None:
            raise Invalid(f"flow {child.namespace}/{child.flow} not found")
        try:
            started = await self._start(
                flow_row,
                Actor("system"),
                child.inputs,
                child.labels,
                child.trigger,
                child.parent_execution_id,
                child.parent_task_run_id,
                secrets=child.secrets,
            )
        except Invalid as exc:
            details = "; ".join(f"{d.get('path')}: {d.get('message')}" for d in exc.details)
            raise Invalid(f"{exc.message}: {details}" if details else exc.message) from None
        return started["executionId"]

    async def find_child(self, parent_task_run_id: str) -> str | None:
        """The child a subflow run started, to take up again (say after its node was lost).

        None when it ended without success: the parent is being retried, and asks for a new one.
        """
        async with self.db.read() as conn:
            child = await store.child_of(conn, parent_task_run_id)
            row = await store.get_execution(conn, child) if child is not None else None
        if row is None or row.status in RETRYABLE:
            return None
        return child

    async def cancel_child(self, execution_id: str) -> None:
        try:
            await self.cancel(execution_id, actor=Actor("system"))
        except (Conflict, NotFound):
            pass


def _event_data(row: Mapping[str, Any]) -> dict[str, Any]:
    """What execution.updated carries for a new execution, besides its id and status."""
    names = ("flow_id", "flow_name", "namespace", "tasks_total", "tasks_executed", "created_at")
    return {name: row[name] for name in names}
