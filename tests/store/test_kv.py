"""store/kv.py: expiry by the caller's clock (an expired row reads and deletes as missing, and a
write replaces it), listing by literal, case-sensitive prefix, and the locked row that makes
concurrent increments queue instead of losing updates."""

from __future__ import annotations

import asyncio
import json
import uuid

from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from tests.store.rows import at
from workflowdev.store import kv as store
from workflowdev.store.database import Database


async def _put(db: Database, namespace: str, key: str, value: object, *, now: int = 0, expires: int | None = None) -> None:
    async with db.write() as conn:
        await store.put(conn, namespace, key, json.dumps(value), at(now), None if expires is None else at(expires))


async def test_an_entry_reads_until_its_expiry_and_not_from_that_instant_on(db: Database) -> None:
    await _put(db, "ns", "k", {"a": 1}, expires=10)
    async with db.read() as conn:
        before = await store.get(conn, "ns", "k", at(9))
        on_the_instant = await store.get(conn, "ns", "k", at(10))
    assert before is not None and json.loads(before.value) == {"a": 1} and before.expires_at == at(10)
    assert on_the_instant is None


async def test_a_put_replaces_the_value_and_its_expiry_even_of_an_expired_row(db: Database) -> None:
    await _put(db, "ns", "k", 1, expires=10)
    await _put(db, "ns", "k", 2, now=20)
    async with db.read() as conn:
        row = await store.get(conn, "ns", "k", at(1000))
    assert row is not None and (json.loads(row.value), row.updated_at, row.expires_at) == (2, at(20), None)


async def test_null_round_trips_as_a_value_not_as_a_missing_entry(db: Database) -> None:
    await _put(db, "ns", "k", None)
    async with db.read() as conn:
        row = await store.get(conn, "ns", "k", at(0))
    assert row is not None and json.loads(row.value) is None


async def test_removing_an_expired_entry_reports_nothing_removed(db: Database) -> None:
    await _put(db, "ns", "gone", 1, expires=5)
    await _put(db, "ns", "live", 1)
    async with db.write() as conn:
        assert not await store.remove(conn, "ns", "gone", at(6))
        assert not await store.remove(conn, "ns", "missing", at(6))
        assert await store.remove(conn, "ns", "live", at(6))
        assert await store.get(conn, "ns", "live", at(6)) is None


async def test_purge_deletes_only_rows_expired_by_then_and_counts_them(db: Database) -> None:
    await _put(db, "ns", "a", 1, expires=5)
    await _put(db, "ns", "b", 1, expires=10)
    await _put(db, "ns", "c", 1)
    async with db.write() as conn:
        assert await store.purge_expired(conn, at(10)) == 2
        assert await store.purge_expired(conn, at(10)) == 0
    async with db.read() as conn:
        assert [r.key for r in await store.list_keys(conn, "ns", at(0))] == ["c"]


async def test_namespaces_list_by_name_with_their_live_keys_only(db: Database) -> None:
    await _put(db, "b", "k1", 1)
    await _put(db, "b", "k2", 1, expires=5)
    await _put(db, "a", "k1", 1)
    await _put(db, "a", "k2", 1)
    await _put(db, "only-expired", "k", 1, expires=5)
    async with db.read() as conn:
        rows = await store.list_namespaces(conn, at(6))
        paged = await store.list_namespaces(conn, at(6), limit=1, offset=1)
        count = await store.count_namespaces(conn, at(6))
    assert [(r.namespace, r.keys) for r in rows] == [("a", 2), ("b", 1)]
    assert [r.namespace for r in paged] == ["b"]
    assert count == 2


async def test_keys_list_in_key_order_a_page_at_a_time(db: Database) -> None:
    for key in ("b", "a", "c", "d"):
        await _put(db, "ns", key, 1)
    await _put(db, "other", "a0", 1)
    async with db.read() as conn:
        first = await store.list_keys(conn, "ns", at(0), limit=2)
        second = await store.list_keys(conn, "ns", at(0), limit=2, offset=2)
        assert await store.count_keys(conn, "ns", at(0)) == 4
    assert [r.key for r in first] + [r.key for r in second] == ["a", "b", "c", "d"]


KEYS = st.text(alphabet="aA_%\\b", min_size=1, max_size=4)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(keys=st.lists(KEYS, min_size=1, max_size=6, unique=True), prefix=st.text(alphabet="aA_%\\", max_size=2))
async def test_a_prefix_is_literal_and_case_sensitive_and_the_count_agrees_with_the_list(
    db: Database, keys: list[str], prefix: str
) -> None:
    """Not LIKE: `_` and `%` are characters, and `a` does not list `A...` (SQLite's LIKE would)."""
    namespace = uuid.uuid4().hex
    async with db.write() as conn:
        for key in keys:
            await store.put(conn, namespace, key, "1", at(0), None)
    async with db.read() as conn:
        listed = [r.key for r in await store.list_keys(conn, namespace, at(0), prefix=prefix)]
        counted = await store.count_keys(conn, namespace, at(0), prefix=prefix)
    expected = sorted(k for k in keys if k.startswith(prefix))
    assert listed == expected
    assert counted == len(expected)


async def test_locking_a_missing_key_creates_the_placeholder_and_an_existing_one_is_left_as_it_is(db: Database) -> None:
    await _put(db, "ns", "expired", 7, expires=5)
    async with db.write() as conn:
        created = await store.lock_for_update(conn, "ns", "new", "0", at(10))
        kept = await store.lock_for_update(conn, "ns", "expired", "0", at(10))
    assert (created.value, created.expires_at) == ("0", None)
    assert (kept.value, kept.expires_at) == ("7", at(5)), "the caller decides what an expired row means"


async def test_increments_under_the_lock_queue_and_none_is_lost(db: Database) -> None:
    """The service's increment, reduced to its store calls: lock, read, write back."""

    async def increment() -> None:
        async with db.write() as conn:
            row = await store.lock_for_update(conn, "ns", "counter", "0", at(0))
            await asyncio.sleep(0)  # let the others reach their lock
            await store.put(conn, "ns", "counter", str(int(row.value) + 1), at(0), None)

    await asyncio.gather(*(increment() for _ in range(6)))
    async with db.read() as conn:
        row = await store.get(conn, "ns", "counter", at(0))
    assert row is not None and row.value == "6"


async def test_two_writers_of_a_new_key_do_not_collide(db: Database) -> None:
    async def writer(value: int) -> None:
        async with db.write() as conn:
            await store.put(conn, "ns", "fresh", str(value), at(0), None)

    await asyncio.gather(writer(1), writer(2))
    async with db.read() as conn:
        row = await store.get(conn, "ns", "fresh", at(0))
    assert row is not None and row.value in ("1", "2")
