"""Queries on approvals (the gates of paused executions)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row
from sqlalchemy import func
from sqlalchemy import insert
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncConnection

from workflowdev.store.models import Approval
from workflowdev.store.paging import Page
from workflowdev.store.paging import equal_where_given
from workflowdev.store.paging import page_with_total
from workflowdev.store.statuses import GateStatus

approvals = Approval.__table__
INSERT_APPROVAL = insert(approvals)


async def get(conn: AsyncConnection, approval_id: str) -> Row[Any] | None:
    return (await conn.execute(select(approvals).where(approvals.c.id == approval_id))).first()


async def for_task_run(conn: AsyncConnection, task_run_id: str) -> Row[Any] | None:
    query = select(approvals).where(approvals.c.task_run_id == task_run_id).order_by(approvals.c.created_at.desc())
    return (await conn.execute(query)).first()


async def list_approvals(
    conn: AsyncConnection,
    *,
    status: str | None = None,
    execution_id: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> Page:
    conditions = equal_where_given((approvals.c.status, status), (approvals.c.execution_id, execution_id))
    order = (approvals.c.created_at.desc(), approvals.c.id)
    return await page_with_total(conn, approvals, conditions, order, limit=limit, offset=offset)


async def decide(conn: AsyncConnection, approval_id: str, *, status: str, by: str | None, comment: str | None, at: datetime) -> bool:
    """Move a PENDING approval to its decision; False when it was no longer pending."""
    result = await conn.execute(
        update(approvals)
        .where(approvals.c.id == approval_id, approvals.c.status == GateStatus.PENDING)
        .values(status=status, decided_by=by, comment=comment, decided_at=at)
    )
    return result.rowcount == 1


async def due_to_expire(conn: AsyncConnection, now: datetime, limit: int = 100) -> Sequence[Row[Any]]:
    query = (
        select(approvals)
        .where(approvals.c.status == GateStatus.PENDING, approvals.c.expires_at <= now)
        .order_by(approvals.c.expires_at)
        .limit(limit)
    )
    return (await conn.execute(query)).all()


async def next_expiry(conn: AsyncConnection) -> datetime | None:
    query = select(func.min(approvals.c.expires_at)).where(approvals.c.status == GateStatus.PENDING)
    return (await conn.execute(query)).scalar_one_or_none()


async def any_decided(conn: AsyncConnection, approval_ids: Sequence[str]) -> bool:
    if not approval_ids:
        return False
    query = select(func.count()).select_from(approvals).where(
        approvals.c.id.in_(list(approval_ids)), approvals.c.status != GateStatus.PENDING
    )
    return bool((await conn.execute(query)).scalar_one())


async def pending_for_execution(conn: AsyncConnection, execution_id: str) -> Sequence[Row[Any]]:
    query = select(approvals).where(approvals.c.execution_id == execution_id, approvals.c.status == GateStatus.PENDING)
    return (await conn.execute(query)).all()
