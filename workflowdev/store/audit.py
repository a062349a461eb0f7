"""The audit log: appended in the same transaction as the change it records, never rewritten."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from workflowdev.store.models import AuditEntry

audit_entries = AuditEntry.__table__
INSERT = insert(audit_entries)


async def append(conn: AsyncConnection, **values: Any) -> None:
    await conn.execute(INSERT, values)


async def list_entries(
    conn: AsyncConnection,
    *,
    actor: str | None = None,
    action: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> Sequence[Row[Any]]:
    query = select(audit_entries)
    if actor is not None:
        query = query.where(audit_entries.c.actor == actor)
    if action is not None:
        query = query.where(audit_entries.c.action == action)
    query = query.order_by(audit_entries.c.seq.desc()).limit(limit).offset(offset)
    return (await conn.execute(query)).all()
