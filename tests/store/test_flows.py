"""store/flows.py: a deleted flow is gone from every read but its name is free again, listings
page newest-updated first, text search is literal and case-blind, and the per-page lookups."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from sqlalchemy.exc import IntegrityError

from tests.store.rows import add
from tests.store.rows import at
from tests.store.rows import execution
from tests.store.rows import executions
from tests.store.rows import flow
from tests.store.rows import flows
from workflowdev.store import flows as store
from workflowdev.store.database import Database
from workflowdev.store.models import Trigger

triggers = Trigger.__table__


async def test_a_deleted_flow_is_gone_from_reads_and_frees_its_name(db: Database) -> None:
    await add(db, flows, flow("f1", name="etl"))
    async with db.write() as conn:
        assert await store.mark_deleted(conn, "f1", at(5))
        assert not await store.mark_deleted(conn, "f1", at(6)), "deleting twice deletes once"
        await store.update_flow(conn, "f1", description="changed after deletion")
    async with db.read() as conn:
        assert await store.get_flow(conn, "f1") is None
        assert await store.get_flow_by_name(conn, "n", "etl") is None
        assert (await store.list_flows(conn))[1] == 0
    await add(db, flows, flow("f2", name="etl"))
    async with db.read() as conn:
        again = await store.get_flow_by_name(conn, "n", "etl")
    assert again is not None and again.id == "f2"


async def test_two_live_flows_cannot_share_a_namespace_and_name(db: Database) -> None:
    await add(db, flows, [flow("f1", name="etl"), flow("f2", name="etl", namespace="other")])
    with pytest.raises(IntegrityError):
        await add(db, flows, flow("f3", name="etl"))


async def test_flows_list_newest_updated_first_with_the_total_before_paging(db: Database) -> None:
    await add(db, flows, [flow("a", updated_at=at(1)), flow("b", updated_at=at(3)), flow("c", updated_at=at(3)),
                          flow("d", updated_at=at(2), namespace="other")])  # fmt: skip
    async with db.read() as conn:
        first, total = await store.list_flows(conn, limit=2)
        second, _ = await store.list_flows(conn, limit=2, offset=2)
        mine, mine_total = await store.list_flows(conn, namespace="n", limit=10)
    assert [r.id for r in first] + [r.id for r in second] == ["b", "c", "d", "a"]
    assert total == 4
    assert ([r.id for r in mine], mine_total) == (["b", "c", "a"], 3)


async def test_text_search_matches_name_or_description_whatever_the_case(db: Database) -> None:
    await add(db, flows, [flow("a", name="Nightly-ETL"), flow("b", name="x", description="Loads the ETL tables"),
                          flow("c", name="reports")])  # fmt: skip
    async with db.read() as conn:
        rows, total = await store.list_flows(conn, text="etl")
    assert sorted(r.id for r in rows) == ["a", "b"] and total == 2


NAMES = st.text(alphabet="aB%_\\x", min_size=1, max_size=5)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(names=st.lists(NAMES, min_size=1, max_size=5, unique_by=str.lower), text=st.text(alphabet="ab%_\\X", max_size=3))
async def test_text_search_is_a_literal_case_blind_substring_even_for_like_wildcards(
    db: Database, names: list[str], text: str
) -> None:
    """`%`, `_` and `\\` in the search text are characters, not patterns."""
    namespace = uuid.uuid4().hex
    await add(db, flows, [flow(uuid.uuid4().hex, namespace=namespace, name=name) for name in names])
    async with db.read() as conn:
        rows, total = await store.list_flows(conn, namespace=namespace, text=text, limit=100)
    expected = sorted(n for n in names if text.lower() in n.lower())
    assert sorted(r.name for r in rows) == expected
    assert total == len(expected)


async def test_each_flow_of_a_page_gets_its_newest_execution_and_its_trigger_count(db: Database) -> None:
    await add(db, flows, [flow("f1"), flow("f2"), flow("idle")])
    await add(db, executions, [
        execution("old", "f1", created_at=at(1), status="SUCCESS"),
        execution("new", "f1", created_at=at(2), status="RUNNING"),
        execution("tie-a", "f2", created_at=at(5)),
        execution("tie-b", "f2", created_at=at(5)),
    ])  # fmt: skip
    trigger = dict(type="schedule", enabled=True, config={}, from_yaml=False, created_at=at(0), updated_at=at(0))
    await add(db, triggers, [dict(id="t1", flow_id="f1", name="a", **trigger), dict(id="t2", flow_id="f1", name="b", **trigger),
                             dict(id="t3", flow_id="f2", name="c", **{**trigger, "enabled": False})])  # fmt: skip
    async with db.read() as conn:
        latest = await store.latest_executions(conn, ["f1", "f2", "idle"])
        counts = await store.trigger_counts(conn, ["f1", "f2", "idle"])
        assert await store.latest_executions(conn, []) == {} and await store.trigger_counts(conn, []) == {}
    assert {f: (r.id, r.status) for f, r in latest.items()} == {"f1": ("new", "RUNNING"), "f2": ("tie-b", "QUEUED")}
    assert counts == {"f1": 2, "f2": 1}, "disabled triggers count; flows without any are absent"


async def test_revisions_are_kept_and_listed_newest_first(db: Database) -> None:
    await add(db, flows, flow("f1"))
    async with db.write() as conn:
        for n in (1, 2, 3):
            await store.insert_revision(conn, "f1", n, f"rev {n}", at(n), "alice" if n < 3 else None)
        await store.update_flow(conn, "f1", revision=3, yaml_content="rev 3", updated_at=at(3))
    async with db.read() as conn:
        listed = await store.list_revisions(conn, "f1")
        second = await store.get_revision(conn, "f1", 2)
        missing = await store.get_revision(conn, "f1", 4)
        current = await store.get_flow(conn, "f1")
    assert [r.revision for r in listed] == [3, 2, 1]
    assert second is not None and (second.yaml_content, second.created_by) == ("rev 2", "alice")
    assert missing is None
    assert current is not None and (current.revision, current.updated_at) == (3, at(3))
    with pytest.raises(IntegrityError):
        async with db.write() as conn:
            await store.insert_revision(conn, "f1", 2, "again", at(9), None)


async def test_insert_flow_writes_the_row_get_flow_reads(db: Database) -> None:
    async with db.write() as conn:
        await store.insert_flow(conn, **flow("f1", description="d"))
    async with db.read() as conn:
        row = await store.get_flow(conn, "f1")
    assert row is not None and (row.name, row.description, row.created_at) == ("f1", "d", at(0))
