"""Queries on credentials. Rows hold only ciphertext; encrypting is the engine's business."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row
from sqlalchemy import delete
from sqlalchemy import insert
from sqlalchemy import select
from sqlalchemy import text
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncConnection

from workflowdev.store.models import Credential
from workflowdev.store.paging import Page
from workflowdev.store.paging import page_with_total

credentials = Credential.__table__


async def get(conn: AsyncConnection, credential_id: str) -> Row[Any] | None:
    return (await conn.execute(select(credentials).where(credentials.c.id == credential_id))).first()


async def by_name(conn: AsyncConnection, name: str) -> Row[Any] | None:
    return (await conn.execute(select(credentials).where(credentials.c.name == name))).first()


async def list_credentials(conn: AsyncConnection, *, limit: int = 100, offset: int = 0) -> Page:
    """By name: people look a secret up by its name, not by when it was made."""
    return await page_with_total(conn, credentials, (), (credentials.c.name,), limit=limit, offset=offset)


async def insert_credential(conn: AsyncConnection, **values: Any) -> None:
    await conn.execute(insert(credentials).values(**values))


async def update_credential(conn: AsyncConnection, credential_id: str, **values: Any) -> bool:
    result = await conn.execute(update(credentials).where(credentials.c.id == credential_id).values(**values))
    return result.rowcount == 1


async def delete_credential(conn: AsyncConnection, credential_id: str) -> bool:
    result = await conn.execute(delete(credentials).where(credentials.c.id == credential_id))
    return result.rowcount == 1


async def key_ids(conn: AsyncConnection) -> set[str]:
    """The ids of every master key some row is encrypted with."""
    return set((await conn.execute(select(credentials.c.key_id).distinct())).scalars())


async def lock_all(conn: AsyncConnection) -> Sequence[Row[Any]]:
    """Every row, with the table held until the transaction ends: no row may be written, or
    added, under another key meanwhile. SQLite's write transaction already excludes writers."""
    if conn.dialect.name == "postgresql":
        await conn.execute(text("LOCK TABLE credentials IN SHARE ROW EXCLUSIVE MODE"))
    return (await conn.execute(select(credentials).order_by(credentials.c.name))).all()
