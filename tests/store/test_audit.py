"""store/audit.py: entries read newest first in the order they were written (not by their
clocks), filters combine, `since` includes its instant, and the count agrees with the list."""

from __future__ import annotations

import uuid
from typing import Any

from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from tests.store.rows import at
from workflowdev.store import audit as store
from workflowdev.store.audit import AuditFilter
from workflowdev.store.database import Database


def entry(actor: str = "alice", action: str = "flow.create", *, seconds: int = 0, **values: Any) -> dict[str, Any]:
    row = dict(id=str(uuid.uuid4()), at=at(seconds), actor=actor, action=action, resource_type="flow",
               resource_id="f1", details=None, remote_addr=None)  # fmt: skip
    return {**row, **values}


async def _append(db: Database, *entries: dict[str, Any]) -> None:
    async with db.write() as conn:
        for values in entries:
            await store.append(conn, **values)


async def test_entries_read_newest_written_first_even_when_node_clocks_disagree(db: Database) -> None:
    await _append(db, entry(seconds=10, resource_id="first"), entry(seconds=5, resource_id="second"),
                  entry(seconds=7, resource_id="third"))  # fmt: skip
    async with db.read() as conn:
        rows = await store.list_entries(conn)
        page = await store.list_entries(conn, limit=1, offset=1)
    assert [r.resource_id for r in rows] == ["third", "second", "first"]
    assert [r.resource_id for r in page] == ["second"]


async def test_since_includes_entries_made_at_that_instant(db: Database) -> None:
    await _append(db, entry(seconds=4), entry(seconds=5), entry(seconds=6))
    async with db.read() as conn:
        assert await store.count_entries(conn, AuditFilter(since=at(5))) == 2


async def test_details_round_trip_as_json(db: Database) -> None:
    details = {"namespace": "n", "keys": [1, 2], "nested": {"ok": True, "none": None}}
    await _append(db, entry(details=details, remote_addr="10.0.0.1"))
    async with db.read() as conn:
        (row,) = await store.list_entries(conn)
    assert (row.details, row.remote_addr) == (details, "10.0.0.1")


ACTORS = st.sampled_from(["alice", "bob"])
ACTIONS = st.sampled_from(["flow.create", "kv.set"])


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    written=st.lists(st.tuples(ACTORS, ACTIONS, st.integers(0, 3)), max_size=8),
    actor=st.none() | ACTORS,
    action=st.none() | ACTIONS,
    since=st.none() | st.integers(0, 3),
)
async def test_filters_combine_and_the_count_agrees_with_the_listing(
    db: Database, written: list[tuple[str, str, int]], actor: str | None, action: str | None, since: int | None
) -> None:
    resource = uuid.uuid4().hex  # this example's entries only
    await _append(db, *(entry(a, act, seconds=s, resource_id=resource, details={"n": i}) for i, (a, act, s) in enumerate(written)))
    where = AuditFilter(actor=actor, action=action, resource_type="flow", resource_id=resource,
                        since=None if since is None else at(since))  # fmt: skip
    async with db.read() as conn:
        rows = await store.list_entries(conn, where, limit=100)
        counted = await store.count_entries(conn, where)
    expected = [
        i for i, (a, act, s) in enumerate(written)
        if actor in (None, a) and action in (None, act) and (since is None or s >= since)
    ][::-1]  # fmt: skip
    assert [r.details["n"] for r in rows] == expected
    assert counted == len(expected)
