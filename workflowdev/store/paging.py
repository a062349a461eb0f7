"""Listings: one page of a table's rows, and how many rows match in all.

Every list endpoint answers a page and its total (X-Total-Count), so every listing query is the
same two statements over the same conditions; they are built here, once, so the count and the
page cannot filter differently. Run them in one `Database.read()`: it gives both one snapshot,
so a commit between them cannot show in the page and not in the total.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement
from sqlalchemy import Row
from sqlalchemy import Table
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

Page = tuple[Sequence[Row[Any]], int]
"""The rows of one page, and how many rows match in all."""


def equal_where_given(*filters: tuple[ColumnElement[Any], object]) -> list[ColumnElement[bool]]:
    """`column == value` for each (column, value) whose value was given: a listing's optional filters."""
    return [column == value for column, value in filters if value is not None]


async def page_with_total(
    conn: AsyncConnection,
    table: Table,
    conditions: Sequence[ColumnElement[bool]],
    order_by: Sequence[ColumnElement[Any]],
    *,
    limit: int,
    offset: int,
) -> Page:
    """The rows of `table` meeting every condition, in `order_by`, `limit` of them from `offset`."""
    total = (await conn.execute(select(func.count()).select_from(table).where(*conditions))).scalar_one()
    query = select(table).where(*conditions).order_by(*order_by).limit(limit).offset(offset)
    return (await conn.execute(query)).all(), total
