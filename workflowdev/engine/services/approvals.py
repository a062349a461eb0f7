"""Gates: deciding approvals, and expiring the ones nobody decided in time.

A decision and the re-queueing of its execution are one transaction, so an approved gate can
never be left with its execution still parked. A gate is listed as soon as it is written, while
its execution may still be running (parking, or busy in parallel branches): such a decision is
recorded, and the runner re-queues the execution once it has parked (`resume_if_decided`).
Events go out after the commit.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row

from workflowdev.engine.clock import Clock
from workflowdev.engine.errors import Conflict
from workflowdev.engine.errors import must_exist
from workflowdev.engine.events import APPROVAL_DECIDED
from workflowdev.engine.events import Event
from workflowdev.engine.events import EventBus
from workflowdev.engine.run.gates import approval_json
from workflowdev.engine.run.lifecycle import ENDED
from workflowdev.engine.run.lifecycle import ExecutionStatus
from workflowdev.engine.run.lifecycle import GateStatus
from workflowdev.engine.run.lifecycle import execution_updated
from workflowdev.engine.run.lifecycle import expect
from workflowdev.engine.services import audit_trail
from workflowdev.engine.services.actor import SYSTEM
from workflowdev.engine.services.actor import Actor
from workflowdev.store import approvals as store
from workflowdev.store import executions as executions_store
from workflowdev.store.database import Database


class ApprovalService:
    def __init__(self, db: Database, bus: EventBus, clock: Clock, on_queued: Callable[[], None]) -> None:
        self.db = db
        self.bus = bus
        self.clock = clock
        self.on_queued = on_queued

    async def get(self, approval_id: str) -> Row[Any]:
        async with self.db.read() as conn:
            row = await store.get(conn, approval_id)
        return must_exist(row, "approval", approval_id)

    async def list(
        self, *, status: str | None, execution_id: str | None, limit: int, offset: int
    ) -> tuple[Sequence[Row[Any]], int]:
        async with self.db.read() as conn:
            return await store.list_approvals(conn, status=status, execution_id=execution_id, limit=limit, offset=offset)

    async def for_task_run(self, task_run_id: str) -> Row[Any] | None:
        async with self.db.read() as conn:
            return await store.for_task_run(conn, task_run_id)

    async def decide(self, approval_id: str, *, approve: bool, actor: Actor, comment: str | None) -> Row[Any]:
        status = GateStatus.APPROVED if approve else GateStatus.REJECTED
        async with self.db.write() as conn:
            row = must_exist(await store.get(conn, approval_id), "approval", approval_id)
            # Holding the execution's row makes a runner that is parking it wait for this
            # decision, so its `resume_if_decided` cannot miss it.
            execution = await executions_store.lock_execution(conn, row.execution_id)
            if execution is None or execution.status in ENDED:
                ended = execution.status if execution is not None else "gone"
                raise Conflict(f"execution {row.execution_id} has already ended ({ended})")
            decided_now = await store.decide(
                conn, approval_id, status=status, by=actor.name, comment=comment, at=self.clock()
            )
            if not decided_now:
                current = await store.get(conn, approval_id)
                raise Conflict(f"approval {approval_id} is already {current.status if current else 'gone'}")
            requeued = await executions_store.set_status_if(
                conn, row.execution_id, expected=expect(ExecutionStatus.QUEUED, ExecutionStatus.PAUSED), status=ExecutionStatus.QUEUED
            )
            await audit_trail.record(
                conn,
                actor,
                "approval.approve" if approve else "approval.reject",
                "approval",
                approval_id,
                {"executionId": row.execution_id, "taskName": row.task_name, "comment": comment},
                self.clock(),
            )
            decided = await store.get(conn, approval_id)
        self._announce(decided, requeued)
        return decided

    async def resume_if_decided(self, execution_id: str, approval_ids: Sequence[str]) -> None:
        """Re-queue a just-parked execution whose gate was decided while it was still running."""
        async with self.db.write() as conn:
            requeued = await store.any_decided(conn, approval_ids) and await executions_store.set_status_if(
                conn, execution_id, expected=expect(ExecutionStatus.QUEUED, ExecutionStatus.PAUSED), status=ExecutionStatus.QUEUED
            )
        if requeued:
            self.bus.publish(execution_updated(execution_id, ExecutionStatus.QUEUED))
            self.on_queued()

    async def expire(self, approval_ids: Sequence[str], reason: str) -> None:
        """Close gates nobody can decide any more: their execution ended some other way."""
        now = self.clock()
        async with self.db.write() as conn:
            rows = [
                await store.get(conn, a)
                for a in approval_ids
                if await store.decide(conn, a, status=GateStatus.EXPIRED, by=SYSTEM.name, comment=reason, at=now)
            ]
        for row in rows:
            self.bus.publish(Event(APPROVAL_DECIDED, row.execution_id, approval_json(row)))

    async def expire_due(self) -> int:
        """End the gates whose timeout passed; their executions resume and fail the gate."""
        now = self.clock()
        async with self.db.read() as conn:
            due = await store.due_to_expire(conn, now)
        expired = 0
        for row in due:
            async with self.db.write() as conn:
                await executions_store.lock_execution(conn, row.execution_id)
                if not await store.decide(conn, row.id, status=GateStatus.EXPIRED, by=SYSTEM.name, comment=None, at=now):
                    continue
                requeued = await executions_store.set_status_if(
                    conn, row.execution_id, expected=expect(ExecutionStatus.QUEUED, ExecutionStatus.PAUSED), status=ExecutionStatus.QUEUED
                )
                decided = await store.get(conn, row.id)
            self._announce(decided, requeued)
            expired += 1
        return expired

    def _announce(self, row: Any, requeued: bool) -> None:
        self.bus.publish(Event(APPROVAL_DECIDED, row.execution_id, approval_json(row)))
        if requeued:
            self.bus.publish(execution_updated(row.execution_id, ExecutionStatus.QUEUED))
            self.on_queued()
