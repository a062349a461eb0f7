"""The dispatcher: claims executions under a lease and keeps their runners going.

One loop per node. It wakes when told (an execution was queued here) or every `poll_interval`
(work queued elsewhere, expired leases, gates that timed out): NOTIFY-style wake-ups are hints,
the poll is the guarantee. It claims at most as many executions as the global cap leaves room
for, applies each flow's `concurrency`, renews the leases of its runners, and notices cancels
requested through the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from workflowdev.engine.deps import EngineDeps
from workflowdev.engine.events import EXECUTION_UPDATED, Event
from workflowdev.engine.executions import CompiledFlows, execution_json
from workflowdev.engine.flow import Flow
from workflowdev.engine.runner import Runner
from workflowdev.store import executions as store
from workflowdev.store.database import Database

log = logging.getLogger(__name__)
PREVIOUS_RUNNER_GRACE = 5.0
"""Seconds a re-claimed execution waits for its previous runner here to finish letting go."""
PURGE_INTERVAL = 60.0
"""Seconds between sweeps of expired key-value entries (they already read as missing)."""


@dataclass
class DispatcherSettings:
    max_running: int = 200
    lease_seconds: float = 30.0
    poll_interval: float = 1.0


@dataclass
class Dispatcher:
    db: Database
    deps: EngineDeps
    flows: CompiledFlows
    node_id: str
    settings: DispatcherSettings = field(default_factory=DispatcherSettings)
    runners: dict[str, tuple[Runner, asyncio.Task[None]]] = field(default_factory=dict)
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _loop_task: asyncio.Task[None] | None = None
    _stopping: bool = False
    _last_renewal: float = 0.0
    _last_expiry_sweep: float = 0.0
    _last_purge: float = 0.0
    _reserved: int = 0
    _backlog: bool = False
    """Work may be waiting that this node had no room for: claim when a runner ends."""

    async def start(self) -> None:
        async with self.db.write() as conn:
            handed_back = await store.expire_leases_of(conn, self.node_id, self.deps.clock())
        if handed_back:
            log.info("resuming %d executions this node held before it stopped", handed_back)
        self._loop_task = asyncio.create_task(self._loop(), name="dispatcher")

    async def stop(self) -> None:
        """Stop claiming, stop the runners, and hand their leases back for a quick resume."""
        self._stopping = True
        self._wake.set()
        if self._loop_task is not None:
            await self._loop_task
        for runner, _task in list(self.runners.values()):
            runner.stop("shutdown")
        if self.runners:
            await asyncio.gather(*(task for _, task in self.runners.values()), return_exceptions=True)
        with contextlib.suppress(Exception):
            async with self.db.write() as conn:
                await store.expire_leases_of(conn, self.node_id, self.deps.clock())

    def wake(self) -> None:
        self._wake.set()

    def cancel_local(self, execution_id: str) -> bool:
        entry = self.runners.get(execution_id)
        if entry is None:
            return False
        entry[0].stop("cancel")
        return True

    @property
    def running(self) -> int:
        return len(self.runners)

    async def _loop(self) -> None:
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.settings.poll_interval)
            self._wake.clear()
            if self._stopping:
                return
            try:
                await self._tick()
            except Exception:  # noqa: BLE001 - the database may be away; try again next tick
                log.warning("dispatcher tick failed", exc_info=True)

    def reserve(self, flow: Flow) -> dict[str, Any] | None:
        """Lease fields for an execution queued on this node, when it can start here at once.

        The execution is then inserted already leased to this node and handed over with
        `adopt`, skipping the claim round trip. Flows with a concurrency limit always go
        through the claim, where the limit is applied.
        """
        if self._stopping or flow.concurrency is not None:
            return None
        if self._room() <= 0:
            self._backlog = True
            return None
        self._reserved += 1
        return {
            "lease_owner": self.node_id,
            "lease_expires_at": self.deps.clock() + timedelta(seconds=self.settings.lease_seconds),
        }

    def release(self) -> None:
        self._reserved -= 1

    def adopt(self, execution: Any, flow: Flow) -> None:
        """Start a runner for an execution this node inserted under its own lease."""
        self._reserved -= 1
        if self._stopping:
            return
        self._start_runner(Runner(self.deps, execution, flow, (), 0, self.node_id))

    def _room(self) -> int:
        return self.settings.max_running - len(self.runners) - self._reserved

    async def _tick(self) -> None:
        if time.monotonic() - self._last_expiry_sweep >= self.settings.poll_interval:
            self._last_expiry_sweep = time.monotonic()
            await self.deps.approvals.expire_due()
        if time.monotonic() - self._last_purge >= PURGE_INTERVAL:
            self._last_purge = time.monotonic()
            await self.deps.kv.purge_expired()
        if time.monotonic() - self._last_renewal >= self.settings.lease_seconds / 3:
            await self._renew()
        # Executions held back by their flow's limit stay the oldest in the queue: claim past
        # them (never twice in a tick) until the room is used or nothing else is queued.
        seen: set[str] = set()
        held_back = False
        while (room := self._room()) > 0:
            now = self.deps.clock()
            async with self.db.write() as conn:
                claimed = await store.claim(
                    conn,
                    owner=self.node_id,
                    now=now,
                    lease_until=now + timedelta(seconds=self.settings.lease_seconds),
                    limit=room,
                    exclude=seen,
                )
                admitted = [eid for eid in claimed if await self._admit(conn, eid)]
            for execution_id in admitted:
                if await self._previous_runner_done(execution_id):
                    await self._spawn(execution_id)
            seen.update(claimed)
            held_back = held_back or len(admitted) < len(claimed)
            if len(claimed) < room:
                self._backlog = held_back
                return
        self._backlog = True

    async def _previous_runner_done(self, execution_id: str) -> bool:
        """A gate decided while its runner was still parking re-queues the execution before
        that runner has let go of it here: wait for it to finish, then run the new walk. If it
        does not finish soon, hand the claim back; the runner's end wakes a new claim."""
        entry = self.runners.get(execution_id)
        if entry is None:
            return True
        done, _ = await asyncio.wait({entry[1]}, timeout=PREVIOUS_RUNNER_GRACE)
        if done and execution_id not in self.runners:
            return True
        self._backlog = True
        async with self.db.write() as conn:
            await store.set_status_if(conn, execution_id, expected=["QUEUED"], lease_owner=None, lease_expires_at=None)
        return False

    async def _admit(self, conn: AsyncConnection, execution_id: str) -> bool:
        """Apply the flow's concurrency to a claimed execution; False leaves it unstarted."""
        row = await store.get_execution(conn, execution_id)
        if row is None or row.status != "QUEUED":
            return True
        flow = await self.flows.load(self.db, row.flow_id, row.flow_revision)
        if flow.concurrency is None:
            return True
        busy = await store.count_running(conn, row.flow_id)
        if busy < flow.concurrency.limit:
            await store.set_status_if(conn, execution_id, expected=["QUEUED"], status="RUNNING")
            return True
        behavior = flow.concurrency.behavior
        if behavior == "queue":
            await store.set_status_if(conn, execution_id, expected=["QUEUED"], lease_owner=None, lease_expires_at=None)
            return False
        now = self.deps.clock()
        await store.set_status_if(
            conn,
            execution_id,
            expected=["QUEUED"],
            status="CANCELLED" if behavior == "cancel" else "FAILED",
            error=f"concurrency limit {flow.concurrency.limit} reached for flow {row.flow_name}",
            finished_at=now,
            duration_ms=0,
            lease_owner=None,
            lease_expires_at=None,
        )
        ended = await store.get_execution(conn, execution_id)
        asyncio.get_running_loop().call_soon(
            self.deps.bus.publish, Event(EXECUTION_UPDATED, execution_id, execution_json(ended))
        )
        return False

    async def _spawn(self, execution_id: str) -> None:
        async with self.db.read() as conn:
            row = await store.get_execution(conn, execution_id)
            prior = await store.list_task_runs(conn, execution_id)
            seq = await store.max_log_seq(conn, execution_id)
        try:
            flow = await self.flows.load(self.db, row.flow_id, row.flow_revision)
        except Exception as exc:  # noqa: BLE001 - a revision that no longer parses fails its execution
            log.warning("execution %s cannot start: %s", execution_id, exc)
            now = self.deps.clock()
            async with self.db.write() as conn:
                await store.set_status_if(
                    conn,
                    execution_id,
                    expected=["QUEUED", "RUNNING"],
                    status="FAILED",
                    error=f"the flow revision could not be loaded: {exc}",
                    finished_at=now,
                    lease_owner=None,
                    lease_expires_at=None,
                )
            return
        runner = Runner(self.deps, row, flow, prior, seq, self.node_id)
        if row.cancel_requested:
            runner.stop_reason = "cancel"
        self._start_runner(runner)

    def _start_runner(self, runner: Runner) -> None:
        task = asyncio.create_task(self._run(runner), name=f"execution-{runner.execution.id}")
        self.runners[runner.execution.id] = (runner, task)

    async def _run(self, runner: Runner) -> None:
        try:
            await runner.run()
        except Exception as exc:  # noqa: BLE001 - one execution's crash must not take the node down
            log.exception("runner of execution %s crashed", runner.execution.id)
            with contextlib.suppress(Exception):
                await runner.crashed(exc)
        finally:
            self.runners.pop(runner.execution.id, None)
            if self._backlog and not self._stopping:
                self._wake.set()

    async def _renew(self) -> None:
        self._last_renewal = time.monotonic()
        ids = list(self.runners)
        if not ids:
            return
        now = self.deps.clock()
        async with self.db.write() as conn:
            held = await store.renew_leases(
                conn, owner=self.node_id, ids=ids, lease_until=now + timedelta(seconds=self.settings.lease_seconds)
            )
            cancelled = await store.cancel_requested(conn, ids)
        for execution_id in ids:
            entry = self.runners.get(execution_id)
            if entry is None:
                continue
            if execution_id not in held:
                entry[0].stop("lost")
            elif execution_id in cancelled:
                entry[0].stop("cancel")
