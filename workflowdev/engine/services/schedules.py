"""Schedules: each instant run once, a ledger that accounts for every instant, and backfills.

Every instant an enabled schedule trigger owns gets one slot in the ledger: its row in
`trigger_firings`, unique on (trigger, instant). The row of an instant that runs is committed
with its execution, so a second node, a restart or a racing backfill that tries the same
instant fails on the key and starts nothing. After downtime a node's first look writes the
instants it does not run as well — `skipped` (catch-up off: only the latest runs) or `missed`
(past the catch-up limit) — in one write with moving `next_fire_at` past them, so no later look
meets them again. A backfill runs exactly the slots that have no execution.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError

from workflowdev.engine.clock import Clock
from workflowdev.engine.clock import rfc3339
from workflowdev.engine.errors import DomainError
from workflowdev.engine.errors import Invalid
from workflowdev.engine.language.trigger_config import MAX_CATCH_UP
from workflowdev.engine.language.trigger_config import instants_after
from workflowdev.engine.language.trigger_config import instants_due
from workflowdev.engine.language.trigger_config import next_instant
from workflowdev.engine.services import audit_trail
from workflowdev.engine.services.actor import Actor
from workflowdev.engine.services.executions import Batch
from workflowdev.engine.services.executions import ExecutionService
from workflowdev.store import triggers as store
from workflowdev.store.database import Database
from workflowdev.store.statuses import UNRUN_SLOTS
from workflowdev.store.statuses import SlotState

log = logging.getLogger(__name__)

MAX_GAP_RECORDED = 10_000
"""Instants one look writes to the ledger after downtime, the latest ones: a per-second
schedule down for a week is not worth 600,000 rows. Older instants of such a gap have no slot."""
MAX_SLOTS_LISTED = 1000
"""Slots one listing answers; ask again from the last one's instant for more."""
SLOTS_DEFAULT_SPAN = timedelta(days=1)
"""How far back a listing without a start reaches."""
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
"""No instant before this is walked: the cron library cannot step near the year 1."""
MAX_BACKFILL = 1000
"""Instants one backfill may cover; a larger range is refused, to be backfilled in parts."""
MAX_BACKFILL_CONCURRENCY = 100


@dataclass(frozen=True)
class BackfillPlan:
    """What a backfill runs: the instants of its range that have no execution yet."""

    instants: list[datetime]
    execution_ids: list[str]


def schedule_payload(trigger: Any, instant: datetime, *, backfill: str | None = None) -> dict[str, Any]:
    """What the flow sees as `trigger.*`."""
    payload = {"type": "schedule", "id": trigger.id, "scheduledAt": rfc3339(instant)}
    if backfill is not None:
        payload["backfill"] = backfill
    return payload


class Schedules:
    def __init__(self, db: Database, executions: ExecutionService, clock: Clock, late_after: timedelta) -> None:
        self.db = db
        self.executions = executions
        self.clock = clock
        self.late_after = late_after

    async def fire_due(self) -> int:
        """Fire what is due; returns how many executions were started."""
        now = self.clock()
        async with self.db.read() as conn:
            due = await store.due_schedules(conn, now)
        fired = 0
        for trigger in due:
            fired += await self._fire_due(trigger, now)
        return fired

    async def next_due_at(self) -> datetime | None:
        async with self.db.read() as conn:
            return await store.next_schedule_at(conn)

    async def _fire_due(self, trigger: Any, now: datetime) -> int:
        """Run the instants due up to now (all with catchUp, up to its limit, else the latest),
        then, in one write, record the others and move `next_fire_at` past now.

        Running first means a crash in between is repaired by the next look: an instant that
        already ran is refused by its key, and recording the rest leaves its slot as it is.
        """
        config = trigger.config or {}
        cron, timezone = config["cron"], config.get("timezone", "UTC")
        gap = instants_due(cron, timezone, since=trigger.next_fire_at, until=now, limit=MAX_GAP_RECORDED)
        catch_up = bool(config.get("catchUp"))
        run = gap[-MAX_CATCH_UP:] if catch_up else gap[-1:]
        passed = gap[: len(gap) - len(run)]
        fired = 0
        for instant in run:
            fired += await self._fire(trigger, instant)
        following = next_instant(cron, timezone, gap[-1] if gap else now)
        while following <= now:
            following = next_instant(cron, timezone, following)
        async with self.db.write() as conn:
            state = SlotState.MISSED if catch_up else SlotState.SKIPPED
            await store.record_unrun_slots(conn, trigger.id, passed, state, now)
            await store.advance_schedule(conn, trigger.id, expected=trigger.next_fire_at, next_fire_at=following)
        return fired

    async def _fire(self, trigger: Any, instant: datetime) -> bool:
        """Run one instant; False when its slot is taken (here or elsewhere) or the flow refused."""
        now = self.clock()
        state = SlotState.LATE if now - instant > self.late_after else SlotState.FIRED
        try:
            await self._start(trigger, instant, state, schedule_payload(trigger, instant))
        except IntegrityError:
            return False
        except DomainError as exc:  # the flow's inputs no longer match, or the flow is gone
            log.warning("schedule %s could not start its flow: %s", trigger.name, exc.message)
            async with self.db.write() as conn:
                await store.record_unrun_slots(conn, trigger.id, [instant], SlotState.MISSED, now)
            return False
        return True

    async def _start(
        self,
        trigger: Any,
        instant: datetime,
        state: SlotState,
        payload: dict[str, Any],
        *,
        actor: Actor | None = None,
        batch: Batch | None = None,
        free_unrun: bool = False,
    ) -> str:
        now = self.clock()
        execution_id = str(uuid.uuid4())
        slot = store.firing_row(trigger.id, execution_id, now, scheduled_at=instant, state=state)
        freeing = [(store.FREE_UNRUN_SLOT, {"slot_trigger_id": trigger.id, "slot_instant": instant})] if free_unrun else []
        await self.executions.start(
            trigger.flow_id,
            actor=actor or Actor(f"trigger:{trigger.name}"),
            inputs=(trigger.config or {}).get("inputs") or {},
            trigger=payload,
            execution_id=execution_id,
            also=[*freeing, (store.INSERT_FIRING, slot), (store.MARK_FIRED, {"trigger_id": trigger.id, "at": now})],
            batch=batch,
        )
        return execution_id

    # -- the ledger ------------------------------------------------------------------------

    async def slots(
        self, trigger: Any, since: datetime | None, until: datetime | None, limit: int = MAX_SLOTS_LISTED
    ) -> Sequence[Any]:
        """The slots in [since, until), oldest first; by default those of the last day."""
        _require_schedule(trigger)
        until = until or self.clock() + timedelta(microseconds=1)
        since = since or max(until, EARLIEST + SLOTS_DEFAULT_SPAN) - SLOTS_DEFAULT_SPAN
        async with self.db.read() as conn:
            return await store.slots(conn, trigger.id, since, until, min(limit, MAX_SLOTS_LISTED))

    # -- backfill --------------------------------------------------------------------------

    async def backfill(
        self,
        trigger: Any,
        since: datetime,
        until: datetime,
        *,
        concurrency: int | None,
        dry_run: bool,
        actor: Actor,
    ) -> BackfillPlan:
        """Run every instant in [since, until) that has no execution yet, each exactly once;
        instants after now are the schedule's own to fire.

        A slot that ran (fired, late, backfilled) is never run again. Two backfills of the same
        range, on one node or two, each start only the slots they win: a slot's execution is
        committed with its ledger row, whose key refuses the second. The executions form one
        batch that runs at most `concurrency` at a time.
        """
        _require_schedule(trigger)
        instants = self._range(trigger, since, until)
        async with self.db.read() as conn:
            recorded = {row.scheduled_at: row.state for row in await store.slots_at(conn, trigger.id, instants)}
        todo = [i for i in instants if recorded.get(i, SlotState.MISSED) in UNRUN_SLOTS]
        if dry_run or not todo:
            return BackfillPlan(todo, [])
        batch_id = str(uuid.uuid4())
        batch = Batch(batch_id, concurrency) if concurrency is not None else None
        started: list[str] = []
        for instant in todo:
            payload = schedule_payload(trigger, instant, backfill=batch_id)
            try:
                started.append(await self._start(
                    trigger, instant, SlotState.BACKFILLED, payload, actor=actor, batch=batch, free_unrun=True
                ))
            except IntegrityError:
                continue  # another backfill, here or on another node, took this slot first
        async with self.db.write() as conn:
            await audit_trail.record(conn, actor, "trigger.backfill", "trigger", trigger.id, {
                "from": rfc3339(since), "to": rfc3339(until), "batch": batch_id, "started": len(started),
            }, self.clock())
        return BackfillPlan(todo, started)

    def _range(self, trigger: Any, since: datetime, until: datetime) -> list[datetime]:
        if since >= until:
            raise Invalid("from must be before to", [{"path": "from", "message": "must be before to"}])
        if since < EARLIEST:
            raise Invalid("from must be 1970 or later", [{"path": "from", "message": "must be 1970 or later"}])
        until = min(until, self.clock() + timedelta(microseconds=1))  # instants to come fire by themselves
        config = trigger.config or {}
        instants: list[datetime] = []
        for instant in instants_after(config["cron"], config.get("timezone", "UTC"), since - timedelta(microseconds=1)):
            if instant >= until:
                break
            if len(instants) == MAX_BACKFILL:
                raise Invalid(
                    f"the range holds more than {MAX_BACKFILL} instants of this schedule; backfill it in parts",
                    [{"path": "to", "message": f"at most {MAX_BACKFILL} instants per backfill"}],
                )
            instants.append(instant)
        return instants


def _require_schedule(trigger: Any) -> None:
    if trigger.type != "schedule":
        raise Invalid(f"trigger {trigger.name} is a {trigger.type} trigger; only schedules have slots")
