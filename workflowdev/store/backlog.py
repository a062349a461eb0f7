"""Counting the work that waits, for the gauges /metrics computes on every scrape."""

from __future__ import annotations

from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from workflowdev.store.models import Approval
from workflowdev.store.models import Execution

executions = Execution.__table__
approvals = Approval.__table__


async def count_waiting(conn: AsyncConnection, *, execution_status: str, approval_status: str) -> tuple[int, int]:
    """Executions in `execution_status` and approvals in `approval_status`, in one round trip.

    Both counts are served by the (status, …) indexes of their tables.
    """
    queued = select(func.count()).select_from(executions).where(executions.c.status == execution_status)
    pending = select(func.count()).select_from(approvals).where(approvals.c.status == approval_status)
    row = (await conn.execute(select(queued.scalar_subquery(), pending.scalar_subquery()))).one()
    return int(row[0]), int(row[1])
