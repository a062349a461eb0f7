"""The audit log: appended in the same transaction as the change it records, never rewritten.

This module offers appending and reading only; nothing here updates or deletes an entry.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement
from sqlalchemy import Row
from sqlalchemy import func
from sqlalchemy import insert
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from workflowdev.store.models import AuditEntry

audit_entries = AuditEntry.__table__
INSERT = insert(audit_entries)


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """Which entries to read; every field left None matches everything."""

    actor: str | None = None
    action: str | None = None
    resource_type: str | None = None
    resource_id: str | None = None
    since: datetime | None = None
    """Entries made at or after this instant."""

    def conditions(self) -> list[ColumnElement[bool]]:
        c = audit_entries.c
        exact = (
            (c.actor, self.actor),
            (c.action, self.action),
            (c.resource_type, self.resource_type),
            (c.resource_id, self.resource_id),
        )
        conditions = [column == value for column, value in exact if value is not None]
        if self.since is not None:
            conditions.append(c.at >= self.since)
        return conditions


EVERYTHING = AuditFilter()


async def append(conn: AsyncConnection, **values: Any) -> None:
    await conn.execute(INSERT, values)


async def list_entries(
    conn: AsyncConnection,
    where: AuditFilter = EVERYTHING,
    *,
    limit: int = 100,
    offset: int = 0,
) -> Sequence[Row[Any]]:
    """Newest first, by `seq` (the order of writing) rather than `at`: nodes' clocks may disagree."""
    query = (
        select(audit_entries)
        .where(*where.conditions())
        .order_by(audit_entries.c.seq.desc())
        .limit(limit)
        .offset(offset)
    )
    return (await conn.execute(query)).all()


async def count_entries(conn: AsyncConnection, where: AuditFilter = EVERYTHING) -> int:
    query = select(func.count()).select_from(audit_entries).where(*where.conditions())
    return int((await conn.execute(query)).scalar_one())
