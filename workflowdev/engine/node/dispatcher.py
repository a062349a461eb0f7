"""The dispatcher: claims executions under a lease and keeps their runners going.

One loop per node. It claims when woken (an execution was queued here, or a NOTIFY says one was
queued elsewhere) and on a poll: NOTIFY wake-ups are hints, the poll is the guarantee (work
whose hint was lost, and leases of dead nodes, which nobody can announce). While LISTEN is up
the poll is slower. Between claims it renews the leases of its runners (and notices cancels
requested through the database there), and sweeps gates that timed out. It claims at most as
many executions as the global cap leaves room for and applies each flow's `concurrency`.

When the database goes away every step fails: the loop stops claiming, backs off, logs the
outage once, and picks up again when the database answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from dataclasses import dataclass
from dataclasses import field
from datetime import datetime
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from workflowdev.engine.errors import DomainError
from workflowdev.engine.language.flow import Flow
from workflowdev.engine.language.flow import FlowInvalid
from workflowdev.engine.node.background import BackgroundLoop
from workflowdev.engine.run.deps import EngineDeps
from workflowdev.engine.run.lifecycle import ExecutionStatus
from workflowdev.engine.run.lifecycle import execution_updated
from workflowdev.engine.run.lifecycle import expect
from workflowdev.engine.run.runner import Runner
from workflowdev.engine.services.executions import CompiledFlows
from workflowdev.engine.services.executions import execution_json
from workflowdev.store import executions as store
from workflowdev.store.database import Database
from workflowdev.store.outage import Outage

log = logging.getLogger(__name__)

PREVIOUS_RUNNER_GRACE = 5.0
"""Seconds a re-claimed execution waits for its previous runner here to finish letting go."""
PURGE_INTERVAL = 60.0
"""Seconds between sweeps of expired key-value entries (they already read as missing)."""
LISTENING_POLL = 10.0
"""Seconds between claims without a wake-up while LISTEN is up (see `claim_poll`)."""


def new_lease_token() -> str:
    """A fresh fence for one grant of a lease (a claim, or a reservation on insert)."""
    return secrets.token_hex(16)


@dataclass
class DispatcherSettings:
    max_running: int = 200
    lease_seconds: float = 30.0
    poll_interval: float = 1.0
    """Seconds between looks for work when nothing can wake this node (SQLite, LISTEN down),
    and between sweeps of gates that timed out."""

    def claim_poll(self, listening: bool) -> float:
        """Seconds between claims nobody woke: longer while NOTIFY wakes this node, but short
        enough that the leases of a dead node are taken over within about two lease lengths."""
        if not listening:
            return self.poll_interval
        return max(self.poll_interval, min(LISTENING_POLL, self.lease_seconds))


@dataclass
class Dispatcher:
    db: Database
    deps: EngineDeps
    flows: CompiledFlows
    node_id: str
    settings: DispatcherSettings = field(default_factory=DispatcherSettings)
    runners: dict[str, tuple[Runner, asyncio.Task[None]]] = field(default_factory=dict)
    _background: BackgroundLoop = field(default_factory=lambda: BackgroundLoop("dispatcher"))
    listening: bool = False
    """Whether NOTIFY wake-ups reach this node (PostgreSQL with LISTEN up)."""
    _last_claim: float = 0.0
    _last_renewal: float = 0.0
    _last_expiry_sweep: float = 0.0
    _last_purge: float = 0.0
    _outage: Outage = field(default_factory=lambda: Outage(log, "claiming executions"))
    _retry_delay: float = 0.0
    _reserved: int = 0
    _backlog: bool = False
    """Work may be waiting that this node had no room for: claim when a runner ends."""

    async def start(self) -> None:
        async with self.db.write() as conn:
            handed_back = await store.expire_leases_of(conn, self.node_id, self.deps.clock())
        if handed_back:
            log.info("resuming %d executions this node held before it stopped", handed_back)
        self._background.start(self._loop())

    async def stop(self) -> None:
        """Stop claiming, stop the runners, and hand their leases back for a quick resume."""
        await self._background.stop()
        for runner, _task in list(self.runners.values()):
            runner.stop("shutdown")
        if self.runners:
            await asyncio.gather(*(task for _, task in self.runners.values()), return_exceptions=True)
        with contextlib.suppress(Exception):
            async with self.db.write() as conn:
                await store.expire_leases_of(conn, self.node_id, self.deps.clock(), stopping=True)

    def wake(self) -> None:
        self._background.wake()

    def set_listening(self, up: bool) -> None:
        """LISTEN came up (hints may have been missed meanwhile: look now) or went down."""
        self.listening = up
        if up:
            self._background.wake()

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
        while not self._background.stopping:
            woken = await self._background.sleep(self._sleep_time())
            if self._background.stopping:
                return
            claim_due = time.monotonic() - self._last_claim >= self.settings.claim_poll(self.listening)
            try:
                await self._tick(claim=woken or claim_due or self._outage.ongoing)
            except Exception as exc:  # noqa: BLE001 - the database may be away; try again later
                self._retry_delay = self._outage.failed(exc)
                continue
            self._outage.succeeded()

    def _sleep_time(self) -> float:
        """Until the next thing due: a retry after a failure, a claim, a sweep or a renewal."""
        if self._outage.ongoing:
            return self._retry_delay
        due = [
            self._last_claim + self.settings.claim_poll(self.listening),
            self._last_expiry_sweep + self.settings.poll_interval,
        ]
        if self.runners:
            due.append(self._last_renewal + self.settings.lease_seconds / 3)
        return max(0.0, min(due) - time.monotonic())

    def reserve(self, flow: Flow) -> dict[str, Any] | None:
        """Lease fields for an execution queued on this node, when it can start here at once.

        The execution is then inserted already leased to this node and handed over with
        `adopt`, skipping the claim round trip. Flows with a concurrency limit always go
        through the claim, where the limit is applied.
        """
        if self._background.stopping or flow.concurrency is not None:
            return None
        if self._room() <= 0:
            self._backlog = True
            return None
        self._reserved += 1
        return {
            "lease_owner": self.node_id,
            "lease_expires_at": self._lease_until(self.deps.clock()),
            "lease_token": new_lease_token(),
        }

    def release(self) -> None:
        self._reserved -= 1

    def adopt(self, execution: Any, flow: Flow) -> None:
        """Start a runner for an execution this node inserted under its own lease."""
        self._reserved -= 1
        if self._background.stopping:
            return
        self._start_runner(Runner(self.deps, execution, flow, (), 0, self.node_id))

    def _lease_until(self, now: datetime) -> datetime:
        """When a lease granted or renewed at `now` runs out, unless renewed again."""
        return now + timedelta(seconds=self.settings.lease_seconds)

    def _room(self) -> int:
        return self.settings.max_running - len(self.runners) - self._reserved

    async def _tick(self, *, claim: bool) -> None:
        if time.monotonic() - self._last_expiry_sweep >= self.settings.poll_interval:
            self._last_expiry_sweep = time.monotonic()
            await self.deps.approvals.expire_due()
        if time.monotonic() - self._last_purge >= PURGE_INTERVAL:
            self._last_purge = time.monotonic()
            await self.deps.kv.purge_expired()
        if time.monotonic() - self._last_renewal >= self.settings.lease_seconds / 3:
            await self._renew()
        if claim:
            self._last_claim = time.monotonic()
            await self._claim()

    async def _claim(self) -> None:
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
                    lease_until=self._lease_until(now),
                    limit=room,
                    token=new_lease_token(),
                    exclude=seen,
                )
                rows = await store.get_executions(conn, claimed)
                admitted = [eid for eid in claimed if await self._admit(conn, eid, rows.get(eid))]
            still_here = [eid for eid in admitted if eid in self.runners]
            await self._spawn([eid for eid in admitted if eid not in self.runners])
            for execution_id in still_here:
                if await self._previous_runner_done(execution_id):
                    await self._spawn([execution_id])
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
            await store.set_status_if(conn, execution_id, expected=[ExecutionStatus.QUEUED], lease_owner=None, lease_expires_at=None)
        return False

    async def _admit(self, conn: AsyncConnection, execution_id: str, row: Any) -> bool:
        """Apply its batch's limit and its flow's concurrency to a claimed execution; False
        leaves it unstarted. An admitted one is RUNNING within the claim's transaction, so the
        next one claimed with it counts it."""
        if row is None or row.status != ExecutionStatus.QUEUED:
            return True
        try:
            flow = await self.flows.load(self.db, row.flow_id, row.flow_revision)
        except (FlowInvalid, DomainError):
            return True  # no limits to apply: `_start_claimed` fails it, saying why, and the queue moves on
        if flow.concurrency is None and row.batch_id is None:
            return True
        if row.batch_id is not None and await store.count_running(conn, batch_id=row.batch_id) >= row.batch_limit:
            await self._hand_back(conn, execution_id)
            return False
        if flow.concurrency is None or await store.count_running(conn, flow_id=row.flow_id) < flow.concurrency.limit:
            await store.set_status_if(
                conn, execution_id, expected=expect(ExecutionStatus.RUNNING, ExecutionStatus.QUEUED), status=ExecutionStatus.RUNNING
            )
            return True
        behavior = flow.concurrency.behavior
        if behavior == "queue":
            await self._hand_back(conn, execution_id)
            return False
        now = self.deps.clock()
        ended = ExecutionStatus.CANCELLED if behavior == "cancel" else ExecutionStatus.FAILED
        await store.set_status_if(
            conn,
            execution_id,
            expected=expect(ended, ExecutionStatus.QUEUED),
            status=ended,
            error=f"concurrency limit {flow.concurrency.limit} reached for flow {row.flow_name}",
            finished_at=now,
            duration_ms=0,
            lease_owner=None,
            lease_expires_at=None,
        )
        row = await store.get_execution(conn, execution_id)
        asyncio.get_running_loop().call_soon(
            self.deps.bus.publish, execution_updated(execution_id, row.status, **execution_json(row))
        )
        return False

    @staticmethod
    async def _hand_back(conn: AsyncConnection, execution_id: str) -> None:
        """Leave a claimed execution queued for a later claim: its limit is reached."""
        await store.set_status_if(conn, execution_id, expected=[ExecutionStatus.QUEUED], lease_owner=None, lease_expires_at=None)

    async def _spawn(self, execution_ids: list[str]) -> None:
        """Start runners for claimed executions, from what they recorded so far.

        One read for the whole claim, not one per execution: a claim takes up to `max_running`
        executions, and reading them one by one kept the last of them waiting for the others'
        round trips (and this loop from claiming again) while the first ones already ran.
        """
        if not execution_ids:
            return
        async with self.db.read() as conn:
            rows = await store.get_executions(conn, execution_ids)
            prior = await store.task_runs_of(conn, execution_ids)
            seqs = await store.max_log_seqs(conn, execution_ids)
        for execution_id in execution_ids:
            if (row := rows.get(execution_id)) is not None:
                await self._start_claimed(row, prior.get(execution_id, []), seqs.get(execution_id, 0))

    async def _start_claimed(self, row: Any, prior: list[Any], seq: int) -> None:
        execution_id = row.id
        try:
            flow = await self.flows.load(self.db, row.flow_id, row.flow_revision)
        except Exception as exc:  # noqa: BLE001 - a revision that no longer parses fails its execution
            log.warning("execution %s cannot start: %s", execution_id, exc)
            now = self.deps.clock()
            async with self.db.write() as conn:
                await store.set_status_if(
                    conn,
                    execution_id,
                    expected=expect(ExecutionStatus.FAILED, ExecutionStatus.QUEUED, ExecutionStatus.RUNNING),
                    status=ExecutionStatus.FAILED,
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
            if self._backlog and not self._background.stopping:
                self._background.wake()

    async def _renew(self) -> None:
        self._last_renewal = time.monotonic()
        tokens = {execution_id: entry[0].execution.lease_token for execution_id, entry in self.runners.items()}
        ids = list(tokens)
        if not ids:
            return
        now = self.deps.clock()
        async with self.db.write() as conn:
            held = await store.renew_leases(
                conn,
                owner=self.node_id,
                tokens=tokens,
                now=now,
                lease_until=self._lease_until(now),
            )
            cancelled = await store.cancel_requested(conn, ids)
        for execution_id in ids:
            entry = self.runners.get(execution_id)
            if entry is None:
                continue
            if execution_id not in held:
                log.warning("execution %s: its lease is gone (another node took it over); stopping here", execution_id)
                entry[0].stop("lost")
            elif execution_id in cancelled:
                entry[0].stop("cancel")
