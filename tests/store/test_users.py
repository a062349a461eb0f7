"""store/users.py: a username is unique, users list by username, and changes say whether the
user existed."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.exc import IntegrityError

from tests.store.rows import at
from workflowdev.store import users as store
from workflowdev.store.database import Database


def user(user_id: str, username: str, role: str = "viewer") -> dict[str, Any]:
    return dict(id=user_id, username=username, password_hash="scrypt$x", role=role, created_at=at(0), updated_at=at(0))


async def _insert(db: Database, *rows: dict[str, Any]) -> None:
    async with db.write() as conn:
        for row in rows:
            await store.insert_user(conn, **row)


async def test_users_list_by_username_and_are_counted(db: Database) -> None:
    await _insert(db, user("1", "zoe"), user("2", "adam", "admin"), user("3", "mia"))
    async with db.read() as conn:
        assert [u.username for u in await store.list_users(conn)] == ["adam", "mia", "zoe"]
        assert await store.count(conn) == 3
        found = await store.by_username(conn, "adam")
        assert found is not None and (found.id, found.role) == ("2", "admin")
        assert await store.by_username(conn, "Adam") is None
        assert (await store.get(conn, "3")).username == "mia"  # type: ignore[union-attr]


async def test_a_username_belongs_to_one_user(db: Database) -> None:
    await _insert(db, user("1", "adam"))
    with pytest.raises(IntegrityError):
        await _insert(db, user("2", "adam"))


async def test_role_changes_and_removal_say_whether_the_user_existed(db: Database) -> None:
    await _insert(db, user("1", "adam"), user("2", "eve"))
    async with db.write() as conn:
        assert await store.set_role(conn, "1", "operator", updated_at=at(5))
        assert not await store.set_role(conn, "nope", "admin")
        assert await store.remove(conn, "2")
        assert not await store.remove(conn, "2")
    async with db.read() as conn:
        adam = await store.get(conn, "1")
        assert adam is not None and (adam.role, adam.updated_at) == ("operator", at(5))
        assert await store.get(conn, "2") is None
        assert await store.count(conn) == 1
