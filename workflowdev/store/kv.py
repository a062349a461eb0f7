"""Queries on the key-value store. Values are JSON text; expiry is checked by the caller's clock."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, delete, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from workflowdev.store.models import KVEntry

kv_entries = KVEntry.__table__


def _live(now: datetime) -> Any:
    return or_(kv_entries.c.expires_at.is_(None), kv_entries.c.expires_at > now)


async def get(conn: AsyncConnection, namespace: str, key: str, now: datetime, *, for_update: bool = False) -> Row[Any] | None:
    query = select(kv_entries).where(kv_entries.c.namespace == namespace, kv_entries.c.key == key, _live(now))
    if for_update and conn.dialect.name == "postgresql":
        query = query.with_for_update()
    return (await conn.execute(query)).first()


async def put(
    conn: AsyncConnection, namespace: str, key: str, value: str, now: datetime, expires_at: datetime | None
) -> None:
    """Insert or replace; a replaced entry takes the new expiry."""
    values = {"value": value, "updated_at": now, "expires_at": expires_at}
    result = await conn.execute(
        update(kv_entries).where(kv_entries.c.namespace == namespace, kv_entries.c.key == key).values(**values)
    )
    if result.rowcount == 0:
        await conn.execute(insert(kv_entries).values(namespace=namespace, key=key, **values))


async def remove(conn: AsyncConnection, namespace: str, key: str, now: datetime) -> bool:
    result = await conn.execute(
        delete(kv_entries).where(kv_entries.c.namespace == namespace, kv_entries.c.key == key, _live(now))
    )
    return result.rowcount == 1


async def list_keys(
    conn: AsyncConnection, namespace: str, now: datetime, *, prefix: str = "", limit: int = 1000, offset: int = 0
) -> Sequence[Row[Any]]:
    query = select(kv_entries.c.key, kv_entries.c.updated_at, kv_entries.c.expires_at).where(
        kv_entries.c.namespace == namespace, _live(now)
    )
    if prefix:
        escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(kv_entries.c.key.like(escaped + "%", escape="\\"))
    return (await conn.execute(query.order_by(kv_entries.c.key).limit(limit).offset(offset))).all()


async def purge_expired(conn: AsyncConnection, now: datetime) -> int:
    result = await conn.execute(delete(kv_entries).where(kv_entries.c.expires_at <= now))
    return result.rowcount
