"""Queries on flows and their revisions. Callers pass the connection of their unit of work."""

from __future__ import annotations

from collections.abc import Collection
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row
from sqlalchemy import func
from sqlalchemy import insert
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncConnection

from workflowdev.store.models import Execution
from workflowdev.store.models import Flow
from workflowdev.store.models import FlowRevision
from workflowdev.store.models import Trigger
from workflowdev.store.paging import Page
from workflowdev.store.paging import page_with_total

flows = Flow.__table__
revisions = FlowRevision.__table__
executions = Execution.__table__
triggers = Trigger.__table__
_live = flows.c.deleted_at.is_(None)


async def insert_flow(conn: AsyncConnection, **values: Any) -> None:
    await conn.execute(insert(flows).values(**values))


async def get_flow(conn: AsyncConnection, flow_id: str) -> Row[Any] | None:
    result = await conn.execute(select(flows).where(flows.c.id == flow_id, _live))
    return result.first()


async def get_flow_by_name(conn: AsyncConnection, namespace: str, name: str) -> Row[Any] | None:
    query = select(flows).where(flows.c.namespace == namespace, flows.c.name == name, _live)
    return (await conn.execute(query)).first()


async def list_flows(
    conn: AsyncConnection,
    *,
    namespace: str | None = None,
    text: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> Page:
    """Flows newest-updated first, with the total count before paging."""
    conditions = [_live]
    if namespace is not None:
        conditions.append(flows.c.namespace == namespace)
    if text:
        pattern = "%" + text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        conditions.append(
            func.lower(flows.c.name).like(pattern, escape="\\")
            | func.lower(func.coalesce(flows.c.description, "")).like(pattern, escape="\\")
        )
    order = (flows.c.updated_at.desc(), flows.c.id)
    return await page_with_total(conn, flows, conditions, order, limit=limit, offset=offset)


async def latest_executions(conn: AsyncConnection, flow_ids: Collection[str]) -> dict[str, Row[Any]]:
    """Flow id → its newest execution `(flow_id, id, status, created_at)`, for flows that ran.

    One statement for a whole page of flows: each flow's newest execution id comes from a
    correlated subquery that walks the (flow_id, created_at) index backwards, so the cost grows
    with the page, not with how many executions a flow has.
    """
    if not flow_ids:
        return {}
    newest = (
        select(executions.c.id)
        .where(executions.c.flow_id == flows.c.id)
        .order_by(executions.c.created_at.desc(), executions.c.id.desc())
        .limit(1)
        .correlate(flows)
        .scalar_subquery()
    )
    query = (
        select(executions.c.flow_id, executions.c.id, executions.c.status, executions.c.created_at)
        .select_from(flows.join(executions, executions.c.id == newest))
        .where(flows.c.id.in_(list(flow_ids)))
    )
    return {row.flow_id: row for row in (await conn.execute(query)).all()}


async def trigger_counts(conn: AsyncConnection, flow_ids: Collection[str]) -> dict[str, int]:
    """Flow id → how many triggers it has (enabled or not); flows without any are absent."""
    if not flow_ids:
        return {}
    query = (
        select(triggers.c.flow_id, func.count())
        .where(triggers.c.flow_id.in_(list(flow_ids)))
        .group_by(triggers.c.flow_id)
    )
    return {flow_id: count for flow_id, count in (await conn.execute(query)).all()}


async def update_flow(conn: AsyncConnection, flow_id: str, **values: Any) -> None:
    await conn.execute(update(flows).where(flows.c.id == flow_id, _live).values(**values))


async def mark_deleted(conn: AsyncConnection, flow_id: str, at: datetime) -> bool:
    result = await conn.execute(update(flows).where(flows.c.id == flow_id, _live).values(deleted_at=at, updated_at=at))
    return result.rowcount == 1


async def insert_revision(
    conn: AsyncConnection,
    flow_id: str,
    revision: int,
    yaml_content: str,
    created_at: datetime,
    created_by: str | None,
) -> None:
    await conn.execute(
        insert(revisions).values(
            flow_id=flow_id,
            revision=revision,
            yaml_content=yaml_content,
            created_at=created_at,
            created_by=created_by,
        )
    )


async def list_revisions(conn: AsyncConnection, flow_id: str) -> Sequence[Row[Any]]:
    query = select(revisions).where(revisions.c.flow_id == flow_id).order_by(revisions.c.revision.desc())
    return (await conn.execute(query)).all()


async def get_revision(conn: AsyncConnection, flow_id: str, revision: int) -> Row[Any] | None:
    query = select(revisions).where(revisions.c.flow_id == flow_id, revisions.c.revision == revision)
    return (await conn.execute(query)).first()
