"""store/paging.py: a page and its total come from the same conditions, so paging through a
listing visits every matching row once, and an optional filter left out filters nothing."""

from __future__ import annotations

import uuid

from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from tests.store.rows import add
from tests.store.rows import at
from tests.store.rows import flow
from tests.store.rows import flows
from workflowdev.store.database import Database
from workflowdev.store.paging import equal_where_given
from workflowdev.store.paging import page_with_total


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    stamps=st.lists(st.integers(0, 3), max_size=12),
    descriptions=st.lists(st.sampled_from(["x", "y"]), min_size=12, max_size=12),
    limit=st.integers(1, 5),
)
async def test_pages_of_a_listing_cover_every_matching_row_once_in_order_and_the_total_counts_them(
    db: Database, stamps: list[int], descriptions: list[str], limit: int
) -> None:
    namespace = uuid.uuid4().hex
    rows = [flow(f"{namespace[:8]}-{i:02}", namespace=namespace, updated_at=at(s), description=descriptions[i])
            for i, s in enumerate(stamps)]  # fmt: skip
    await add(db, flows, rows)
    conditions = [flows.c.namespace == namespace, flows.c.description == "x"]
    order = (flows.c.updated_at.desc(), flows.c.id)
    expected = [r["id"] for r in sorted((r for r in rows if r["description"] == "x"), key=lambda r: (-r["updated_at"].timestamp(), r["id"]))]
    seen: list[str] = []
    async with db.read() as conn:
        for offset in range(0, len(expected) + limit, limit):
            page, total = await page_with_total(conn, flows, conditions, order, limit=limit, offset=offset)
            assert total == len(expected)
            assert len(page) <= limit
            seen += [r.id for r in page]
    assert seen == expected


async def test_an_optional_filter_left_out_filters_nothing_rather_than_matching_null(db: Database) -> None:
    await add(db, flows, [flow("a", description=None), flow("b", description="d")])
    conditions = equal_where_given((flows.c.description, None), (flows.c.namespace, "n"))
    assert len(conditions) == 1
    async with db.read() as conn:
        page, total = await page_with_total(conn, flows, conditions, (flows.c.id,), limit=10, offset=0)
        empty, none = await page_with_total(conn, flows, equal_where_given((flows.c.name, "zzz")), (flows.c.id,), limit=10, offset=0)
    assert ([r.id for r in page], total) == (["a", "b"], 2)
    assert (list(empty), none) == ([], 0)


async def test_a_page_past_the_end_is_empty_but_still_says_how_many_match(db: Database) -> None:
    await add(db, flows, [flow(f"f{i}") for i in range(3)])
    async with db.read() as conn:
        page, total = await page_with_total(conn, flows, [], (flows.c.id,), limit=10, offset=50)
    assert (list(page), total) == ([], 3)
