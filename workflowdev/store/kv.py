"""Queries on the key-value store. Values are JSON text; expiry is checked by the caller's clock.

An expired row stays in the table until `purge_expired` removes it, so every read filters on
expiry; writes replace such a row as if it were missing.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row
from sqlalchemy import delete
from sqlalchemy import distinct
from sqlalchemy import func
from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects import sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from workflowdev.store.models import KVEntry

kv_entries = KVEntry.__table__
_PK = [kv_entries.c.namespace, kv_entries.c.key]
_LOCK_ATTEMPTS = 5


def _live(now: datetime) -> Any:
    return or_(kv_entries.c.expires_at.is_(None), kv_entries.c.expires_at > now)


def _insert(conn: AsyncConnection) -> Any:
    """The dialect's INSERT, which knows ON CONFLICT (both SQLite and PostgreSQL have it)."""
    return (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(kv_entries)


def _this(namespace: str, key: str) -> Any:
    return (kv_entries.c.namespace == namespace) & (kv_entries.c.key == key)


async def get(conn: AsyncConnection, namespace: str, key: str, now: datetime) -> Row[Any] | None:
    return (await conn.execute(select(kv_entries).where(_this(namespace, key), _live(now)))).first()


async def put(
    conn: AsyncConnection, namespace: str, key: str, value: str, now: datetime, expires_at: datetime | None
) -> None:
    """Insert or replace in one statement, so two writers of a new key cannot both insert."""
    values = {"value": value, "updated_at": now, "expires_at": expires_at}
    statement = _insert(conn).values(namespace=namespace, key=key, **values)
    await conn.execute(statement.on_conflict_do_update(index_elements=_PK, set_=values))


async def lock_for_update(conn: AsyncConnection, namespace: str, key: str, placeholder: str, now: datetime) -> Row[Any]:
    """The entry's row, created as `placeholder` if missing, locked until the transaction ends.

    Creating first (ON CONFLICT DO NOTHING) gives a row to lock even for a missing key: two
    transactions that both find the key missing do not both insert; the second waits for the
    first's commit and then locks the committed row. Expired rows are returned too (the caller
    treats them as missing). On SQLite the write transaction (BEGIN IMMEDIATE) already
    serialises writers, and FOR UPDATE does not exist.

    On PostgreSQL a delete committed between the two statements leaves nothing to lock; each
    statement sees the latest commits (READ COMMITTED), so inserting again settles it.
    """
    create = (
        _insert(conn)
        .values(namespace=namespace, key=key, value=placeholder, updated_at=now, expires_at=None)
        .on_conflict_do_nothing(index_elements=_PK)
    )
    query = select(kv_entries).where(_this(namespace, key))
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    for _ in range(_LOCK_ATTEMPTS):
        await conn.execute(create)
        row = (await conn.execute(query)).first()
        if row is not None:
            return row
    raise RuntimeError(f"kv {namespace}/{key} was deleted {_LOCK_ATTEMPTS} times while being locked")


async def remove(conn: AsyncConnection, namespace: str, key: str, now: datetime) -> bool:
    result = await conn.execute(delete(kv_entries).where(_this(namespace, key), _live(now)))
    return result.rowcount == 1


def _listed(namespace: str, now: datetime, prefix: str) -> Any:
    condition = (kv_entries.c.namespace == namespace) & _live(now)
    if prefix:
        # Not LIKE: SQLite's LIKE ignores ASCII case, PostgreSQL's does not.
        condition &= func.substr(kv_entries.c.key, 1, len(prefix)) == prefix
    return condition


async def list_keys(
    conn: AsyncConnection, namespace: str, now: datetime, *, prefix: str = "", limit: int = 1000, offset: int = 0
) -> Sequence[Row[Any]]:
    query = (
        select(kv_entries.c.key, kv_entries.c.updated_at, kv_entries.c.expires_at)
        .where(_listed(namespace, now, prefix))
        .order_by(kv_entries.c.key)
        .limit(limit)
        .offset(offset)
    )
    return (await conn.execute(query)).all()


async def count_keys(conn: AsyncConnection, namespace: str, now: datetime, *, prefix: str = "") -> int:
    query = select(func.count()).select_from(kv_entries).where(_listed(namespace, now, prefix))
    return int((await conn.execute(query)).scalar_one())


async def list_namespaces(
    conn: AsyncConnection, now: datetime, *, limit: int = 1000, offset: int = 0
) -> Sequence[Row[Any]]:
    """Rows of (namespace, keys): each namespace holding live keys, with how many, by name."""
    namespace = kv_entries.c.namespace
    query = (
        select(namespace, func.count().label("keys"))
        .where(_live(now))
        .group_by(namespace)
        .order_by(namespace)
        .limit(limit)
        .offset(offset)
    )
    return (await conn.execute(query)).all()


async def count_namespaces(conn: AsyncConnection, now: datetime) -> int:
    query = select(func.count(distinct(kv_entries.c.namespace))).where(_live(now))
    return int((await conn.execute(query)).scalar_one())


async def purge_expired(conn: AsyncConnection, now: datetime) -> int:
    result = await conn.execute(delete(kv_entries).where(kv_entries.c.expires_at <= now))
    return result.rowcount
