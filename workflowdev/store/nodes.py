"""Queries on the node registry: which processes share this database, and what they hold.

A node's running executions are not stored with it: they are counted from the leases it holds,
which are the truth about who works on what.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row
from sqlalchemy import delete
from sqlalchemy import func
from sqlalchemy import insert
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncConnection

from workflowdev.store.models import Execution
from workflowdev.store.models import Node
from workflowdev.store.statuses import ExecutionStatus

nodes = Node.__table__
executions = Execution.__table__


async def register(
    conn: AsyncConnection, *, node_id: str, address: str | None, roles: Sequence[str], version: str, now: datetime
) -> None:
    """Write this node's row afresh (a restarted node keeps its id, and starts again)."""
    await conn.execute(delete(nodes).where(nodes.c.id == node_id))
    await conn.execute(
        insert(nodes).values(
            id=node_id, address=address, roles=list(roles), version=version, started_at=now, heartbeat_at=now
        )
    )


async def heartbeat(conn: AsyncConnection, node_id: str, *, address: str | None, now: datetime) -> bool:
    """Say this node is alive; False when its row is gone (pruned while it was cut off)."""
    result = await conn.execute(update(nodes).where(nodes.c.id == node_id).values(heartbeat_at=now, address=address))
    return result.rowcount == 1


async def remove(conn: AsyncConnection, node_id: str) -> None:
    await conn.execute(delete(nodes).where(nodes.c.id == node_id))


async def prune(conn: AsyncConnection, *, silent_since: datetime) -> int:
    """Forget nodes whose last heartbeat is older than `silent_since`."""
    return (await conn.execute(delete(nodes).where(nodes.c.heartbeat_at < silent_since))).rowcount


async def list_nodes(conn: AsyncConnection, now: datetime) -> Sequence[Row[Any]]:
    """Every registered node with `running`: the executions it holds under a live lease."""
    held = (
        select(executions.c.lease_owner.label("owner"), func.count().label("running"))
        .where(executions.c.status == ExecutionStatus.RUNNING, executions.c.lease_expires_at >= now)
        .group_by(executions.c.lease_owner)
        .subquery()
    )
    query = (
        select(nodes, func.coalesce(held.c.running, 0).label("running"))
        .select_from(nodes.outerjoin(held, held.c.owner == nodes.c.id))
        .order_by(nodes.c.started_at, nodes.c.id)
    )
    return (await conn.execute(query)).all()
