"""Queries on users."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row
from sqlalchemy import delete
from sqlalchemy import func
from sqlalchemy import insert
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncConnection

from workflowdev.store.models import User

users = User.__table__


async def insert_user(conn: AsyncConnection, **values: Any) -> None:
    await conn.execute(insert(users).values(**values))


async def get(conn: AsyncConnection, user_id: str) -> Row[Any] | None:
    return (await conn.execute(select(users).where(users.c.id == user_id))).first()


async def by_username(conn: AsyncConnection, username: str) -> Row[Any] | None:
    return (await conn.execute(select(users).where(users.c.username == username))).first()


async def count(conn: AsyncConnection) -> int:
    return int((await conn.execute(select(func.count()).select_from(users))).scalar_one())


async def list_users(conn: AsyncConnection) -> Sequence[Row[Any]]:
    return (await conn.execute(select(users).order_by(users.c.username))).all()


async def set_role(conn: AsyncConnection, user_id: str, role: str, **values: Any) -> bool:
    result = await conn.execute(update(users).where(users.c.id == user_id).values(role=role, **values))
    return result.rowcount == 1


async def remove(conn: AsyncConnection, user_id: str) -> bool:
    return (await conn.execute(delete(users).where(users.c.id == user_id))).rowcount == 1
