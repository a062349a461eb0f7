"""Queries on triggers and their firings."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row
from sqlalchemy import bindparam
from sqlalchemy import delete
from sqlalchemy import exists
from sqlalchemy import func
from sqlalchemy import insert
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects import sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from workflowdev.store.models import Execution
from workflowdev.store.models import Flow
from workflowdev.store.models import Trigger
from workflowdev.store.models import TriggerFiring
from workflowdev.store.paging import Page
from workflowdev.store.paging import equal_where_given
from workflowdev.store.paging import page_with_total
from workflowdev.store.statuses import UNRUN_SLOTS

executions = Execution.__table__
triggers = Trigger.__table__
firings = TriggerFiring.__table__
flows = Flow.__table__
INSERT_FIRING = insert(firings)
MARK_FIRED = (
    update(triggers).where(triggers.c.id == bindparam("trigger_id")).values(last_fired_at=bindparam("at"))
)
FREE_UNRUN_SLOT = delete(firings).where(
    firings.c.trigger_id == bindparam("slot_trigger_id"),
    firings.c.scheduled_at == bindparam("slot_instant"),
    firings.c.execution_id.is_(None),
    firings.c.state.in_([str(s) for s in UNRUN_SLOTS]),
)
"""Committed with a backfill's execution (the journal runs deletes before inserts): the slot's
unrun row gives way to the row that runs it. Two backfills of one slot both get here; the second's insert then
fails on the (trigger, instant) key, so its execution is not committed either."""


def firing_row(
    trigger_id: str,
    execution_id: str | None,
    fired_at: datetime,
    *,
    scheduled_at: datetime | None = None,
    idempotency_key: str | None = None,
    state: str | None = None,
) -> dict[str, Any]:
    """One row of `trigger_firings`: a firing, or a schedule's slot (then with `state`)."""
    return {
        "id": str(uuid.uuid4()),
        "trigger_id": trigger_id,
        "scheduled_at": scheduled_at,
        "idempotency_key": idempotency_key,
        "fired_at": fired_at,
        "execution_id": execution_id,
        "state": state,
    }


async def insert_trigger(conn: AsyncConnection, **values: Any) -> None:
    await conn.execute(insert(triggers).values(**values))


async def update_trigger(conn: AsyncConnection, trigger_id: str, **values: Any) -> None:
    await conn.execute(update(triggers).where(triggers.c.id == trigger_id).values(**values))


async def delete_trigger(conn: AsyncConnection, trigger_id: str) -> bool:
    return (await conn.execute(delete(triggers).where(triggers.c.id == trigger_id))).rowcount == 1


async def get(conn: AsyncConnection, trigger_id: str) -> Row[Any] | None:
    return (await conn.execute(select(triggers).where(triggers.c.id == trigger_id))).first()


async def by_webhook_key(conn: AsyncConnection, key: str) -> Row[Any] | None:
    """The webhook trigger with this key, only while it and its flow are live."""
    query = (
        select(triggers)
        .join(flows, flows.c.id == triggers.c.flow_id)
        .where(triggers.c.webhook_key == key, triggers.c.type == "webhook", flows.c.deleted_at.is_(None))
    )
    return (await conn.execute(query)).first()


async def list_triggers(
    conn: AsyncConnection,
    *,
    flow_id: str | None = None,
    kind: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> Page:
    conditions = equal_where_given((triggers.c.flow_id, flow_id), (triggers.c.type, kind))
    order = (triggers.c.created_at.desc(), triggers.c.id)
    return await page_with_total(conn, triggers, conditions, order, limit=limit, offset=offset)


async def list_for_flow(
    conn: AsyncConnection, flow_id: str, *, from_yaml: bool | None = None
) -> Sequence[Row[Any]]:
    query = select(triggers).where(triggers.c.flow_id == flow_id)
    if from_yaml is not None:
        query = query.where(triggers.c.from_yaml.is_(from_yaml))
    return (await conn.execute(query.order_by(triggers.c.created_at, triggers.c.id))).all()


async def delete_for_flow(conn: AsyncConnection, flow_id: str) -> None:
    await conn.execute(delete(triggers).where(triggers.c.flow_id == flow_id))


async def due_schedules(conn: AsyncConnection, now: datetime, limit: int = 100) -> Sequence[Row[Any]]:
    query = (
        select(triggers)
        .where(triggers.c.type == "schedule", triggers.c.enabled.is_(True), triggers.c.next_fire_at <= now)
        .order_by(triggers.c.next_fire_at)
        .limit(limit)
    )
    return (await conn.execute(query)).all()


async def next_schedule_at(conn: AsyncConnection) -> datetime | None:
    query = select(func.min(triggers.c.next_fire_at)).where(triggers.c.type == "schedule", triggers.c.enabled.is_(True))
    return (await conn.execute(query)).scalar_one_or_none()


async def advance_schedule(
    conn: AsyncConnection, trigger_id: str, *, expected: datetime, next_fire_at: datetime
) -> bool:
    """Move `next_fire_at` on, only if no one else did: the node that wins this advances it."""
    result = await conn.execute(
        update(triggers)
        .where(triggers.c.id == trigger_id, triggers.c.next_fire_at == expected)
        .values(next_fire_at=next_fire_at)
    )
    return result.rowcount == 1


async def unfired_ends(
    conn: AsyncConnection, trigger: Any, statuses: Sequence[str], since: datetime, until: datetime, limit: int
) -> Sequence[Row[Any]]:
    """Executions of the flow trigger's upstream flow that ended in one of `statuses` from
    `since` (and the trigger's creation) until before `until`, and have no firing of it yet,
    oldest end first."""
    fired = exists().where(firings.c.trigger_id == trigger.id, firings.c.idempotency_key == executions.c.id)
    query = (
        select(executions.c.id, executions.c.flow_id, executions.c.flow_name, executions.c.status)
        .where(
            executions.c.flow_id == trigger.upstream_flow_id,
            executions.c.finished_at >= max(since, trigger.created_at),
            executions.c.finished_at < until,
            executions.c.status.in_(list(statuses)),
            ~fired,
        )
        .order_by(executions.c.finished_at)
        .limit(limit)
    )
    return (await conn.execute(query)).all()


async def enabled_flow_triggers(conn: AsyncConnection) -> Sequence[Row[Any]]:
    query = select(triggers).where(triggers.c.type == "flow", triggers.c.enabled.is_(True))
    return (await conn.execute(query)).all()


async def followed_flow_ids(conn: AsyncConnection) -> Sequence[str]:
    """The upstream flows of the enabled flow triggers."""
    query = select(triggers.c.upstream_flow_id).where(triggers.c.type == "flow", triggers.c.enabled.is_(True)).distinct()
    return (await conn.execute(query)).scalars().all()


async def flow_triggers_of(conn: AsyncConnection, upstream_flow_id: str) -> Sequence[Row[Any]]:
    query = select(triggers).where(
        triggers.c.type == "flow", triggers.c.enabled.is_(True), triggers.c.upstream_flow_id == upstream_flow_id
    )
    return (await conn.execute(query)).all()


async def firing_by_idempotency(conn: AsyncConnection, trigger_id: str, key: str, since: datetime) -> Row[Any] | None:
    query = select(firings).where(
        firings.c.trigger_id == trigger_id, firings.c.idempotency_key == key, firings.c.fired_at >= since
    )
    return (await conn.execute(query)).first()


async def firings_of(conn: AsyncConnection, trigger_id: str) -> Sequence[Row[Any]]:
    query = select(firings).where(firings.c.trigger_id == trigger_id).order_by(firings.c.scheduled_at, firings.c.fired_at)
    return (await conn.execute(query)).all()


async def retire_idempotency_key(conn: AsyncConnection, trigger_id: str, key: str, before: datetime) -> bool:
    """Free a key whose firing is older than `before`, so it can be used again; the firing
    stays as history. A firing newer than `before` is never touched, which is what makes
    reuse race-free: only the unique key decides between calls inside the window."""
    result = await conn.execute(
        update(firings)
        .where(firings.c.trigger_id == trigger_id, firings.c.idempotency_key == key, firings.c.fired_at < before)
        .values(idempotency_key=None)
    )
    return result.rowcount > 0


async def record_unrun_slots(
    conn: AsyncConnection, trigger_id: str, instants: Sequence[datetime], state: str, now: datetime
) -> None:
    """Write `state` for the instants that have no slot yet; instants another node (or an
    earlier look) recorded keep what they say."""
    if not instants:
        return
    rows = [firing_row(trigger_id, None, now, scheduled_at=instant, state=state) for instant in instants]
    dialect_insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    statement = dialect_insert(firings).on_conflict_do_nothing(index_elements=["trigger_id", "scheduled_at"])
    await conn.execute(statement, rows)


async def slots(
    conn: AsyncConnection, trigger_id: str, since: datetime, until: datetime, limit: int
) -> Sequence[Row[Any]]:
    """The ledger's slots of a schedule in [since, until), oldest first."""
    query = (
        select(firings.c.scheduled_at, firings.c.state, firings.c.execution_id, firings.c.fired_at)
        .where(firings.c.trigger_id == trigger_id, firings.c.scheduled_at >= since, firings.c.scheduled_at < until)
        .order_by(firings.c.scheduled_at)
        .limit(limit)
    )
    return (await conn.execute(query)).all()


async def slots_at(conn: AsyncConnection, trigger_id: str, instants: Sequence[datetime]) -> Sequence[Row[Any]]:
    """The recorded slots among `instants` (a backfill's range, at most a thousand)."""
    if not instants:
        return []
    query = select(firings.c.scheduled_at, firings.c.state).where(
        firings.c.trigger_id == trigger_id, firings.c.scheduled_at.in_(list(instants))
    )
    return (await conn.execute(query)).all()
