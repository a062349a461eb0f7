"""store/credentials.py: a secret's name is unique and is what listings sort by, ciphertext
comes back byte for byte, and the key ids in use are known (a rotation needs them)."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import pytest
from sqlalchemy.exc import IntegrityError

from tests.store.rows import at
from workflowdev.store import credentials as store
from workflowdev.store.database import Database


def secret(credential_id: str, name: str, *, key_id: str = "k1", **values: Any) -> dict[str, Any]:
    row = dict(id=credential_id, name=name, description=None, nonce=os.urandom(12), ciphertext=os.urandom(40),
               key_id=key_id, created_at=at(0), updated_at=at(0))  # fmt: skip
    return {**row, **values}


async def _insert(db: Database, *rows: dict[str, Any]) -> None:
    async with db.write() as conn:
        for row in rows:
            await store.insert_credential(conn, **row)


async def test_ciphertext_and_nonce_come_back_byte_for_byte(db: Database) -> None:
    row = secret("c1", "db-password", ciphertext=bytes(range(256)), nonce=b"\x00" * 12)
    await _insert(db, row)
    async with db.read() as conn:
        by_id = await store.get(conn, "c1")
        by_name = await store.by_name(conn, "db-password")
        assert await store.by_name(conn, "DB-PASSWORD") is None, "names are case-sensitive"
    assert by_id is not None and by_name is not None
    assert (bytes(by_id.ciphertext), bytes(by_id.nonce)) == (bytes(range(256)), b"\x00" * 12)
    assert by_name.id == "c1"


async def test_a_name_belongs_to_one_credential(db: Database) -> None:
    await _insert(db, secret("c1", "token"))
    with pytest.raises(IntegrityError):
        await _insert(db, secret("c2", "token"))


async def test_credentials_list_by_name_a_page_at_a_time_with_a_total(db: Database) -> None:
    await _insert(db, secret("1", "zeta", created_at=at(0)), secret("2", "alpha", created_at=at(9)), secret("3", "mid"))
    async with db.read() as conn:
        page, total = await store.list_credentials(conn, limit=2)
        rest, _ = await store.list_credentials(conn, limit=2, offset=2)
    assert [r.name for r in page] + [r.name for r in rest] == ["alpha", "mid", "zeta"]
    assert total == 3


async def test_update_and_delete_say_whether_the_credential_existed(db: Database) -> None:
    await _insert(db, secret("c1", "token"))
    async with db.write() as conn:
        assert await store.update_credential(conn, "c1", description="rotated", updated_at=at(5))
        assert not await store.update_credential(conn, "nope", description="x")
        row = await store.get(conn, "c1")
        assert row is not None and (row.description, row.updated_at) == ("rotated", at(5))
        assert await store.delete_credential(conn, "c1")
        assert not await store.delete_credential(conn, "c1")
        assert await store.get(conn, "c1") is None


async def test_the_key_ids_in_use_are_each_named_once(db: Database) -> None:
    await _insert(db, secret("1", "a", key_id="old"), secret("2", "b", key_id="new"), secret("3", "c", key_id="new"))
    async with db.read() as conn:
        assert await store.key_ids(conn) == {"old", "new"}
    async with db.write() as conn:
        assert [r.name for r in await store.lock_all(conn)] == ["a", "b", "c"]


async def test_no_credential_is_added_while_a_rotation_holds_them_all(db: Database) -> None:
    """A rotation re-encrypts every row it locked: a row added meanwhile, under the old key,
    would escape it. So the adder waits for the rotation's end."""
    await _insert(db, secret("1", "a", key_id="old"))
    events: list[str] = []
    locked = asyncio.Event()

    async def rotation() -> None:
        async with db.write() as conn:
            await store.lock_all(conn)
            locked.set()
            for _ in range(5):
                await asyncio.sleep(0.01)  # the adder tries meanwhile; it must not get in
            await conn.execute(store.credentials.update().values(key_id="new"))
            events.append("rotated")

    async def adder() -> None:
        await locked.wait()
        async with db.write() as conn:
            await store.insert_credential(conn, **secret("2", "b", key_id="old"))
        events.append("added")

    await asyncio.wait_for(asyncio.gather(rotation(), adder()), timeout=10)
    assert events == ["rotated", "added"]
