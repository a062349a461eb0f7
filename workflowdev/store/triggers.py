"""Queries on triggers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, delete, select
from sqlalchemy.ext.asyncio import AsyncConnection

from workflowdev.store.models import Trigger

triggers = Trigger.__table__


async def list_for_flow(
    conn: AsyncConnection, flow_id: str, *, from_yaml: bool | None = None
) -> Sequence[Row[Any]]:
    query = select(triggers).where(triggers.c.flow_id == flow_id)
    if from_yaml is not None:
        query = query.where(triggers.c.from_yaml.is_(from_yaml))
    return (await conn.execute(query.order_by(triggers.c.created_at, triggers.c.id))).all()


async def delete_for_flow(conn: AsyncConnection, flow_id: str) -> None:
    await conn.execute(delete(triggers).where(triggers.c.flow_id == flow_id))
