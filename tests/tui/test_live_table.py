"""LiveTable: rows found by key, only changed cells rewritten, bursts coalesced, cursor kept."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from rich.console import RenderableType
from textual.app import App
from textual.app import ComposeResult
from textual.pilot import Pilot

from tests.tui.conftest import wait_for
from workflowdev.tui.widgets.live_table import Cells
from workflowdev.tui.widgets.live_table import LiveTable


class CountingTable(LiveTable):
    """Records which cells were rewritten and how many batches ran: what the operator would see flicker."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.rewritten: list[tuple[str, str]] = []
        self.batches = 0

    def update_cell(self, row_key: Any, column_key: Any, value: RenderableType, *, update_width: bool = False) -> None:
        self.rewritten.append((getattr(row_key, "value", row_key), getattr(column_key, "value", column_key)))
        super().update_cell(row_key, column_key, value, update_width=update_width)

    def batch(self, updates: Any) -> None:
        self.batches += 1
        super().batch(updates)


class TableApp(App[None]):
    def __init__(self, **options: Any) -> None:
        super().__init__()
        self.options = options

    def compose(self) -> ComposeResult:
        yield CountingTable(id="table", cursor_type="row", **self.options)

    def on_mount(self) -> None:
        table = self.query_one(CountingTable)
        table.add_column("Name", key="name")
        table.add_column("Status", key="status")


@asynccontextmanager
async def live_table(**options: Any) -> AsyncIterator[tuple[CountingTable, Pilot[None]]]:
    app = TableApp(**options)
    async with app.run_test(size=(60, 12)) as pilot:
        await pilot.pause()
        yield app.query_one(CountingTable), pilot


def row(name: str, status: str) -> Cells:
    return (name, status)


async def test_upsert_adds_then_rewrites_only_changed_cells() -> None:
    async with live_table() as (table, _pilot):
        table.upsert("a", row("alpha", "RUNNING"))
        table.upsert("b", row("beta", "QUEUED"))
        table.upsert("a", row("alpha", "SUCCESS"))
        table.upsert("b", row("beta", "QUEUED"))
        assert table.keys == ["a", "b"]
        assert table.get_row("a") == ["alpha", "SUCCESS"]
        assert table.rewritten == [("a", "status")]


async def test_remove_drops_the_row_and_tolerates_a_second_time() -> None:
    async with live_table() as (table, _pilot):
        table.batch({"a": row("alpha", "x"), "b": row("beta", "y")})
        table.remove("a")
        table.remove("a")
        assert table.keys == ["b"]


async def test_the_cursor_stays_on_its_row_when_rows_before_it_go() -> None:
    async with live_table() as (table, pilot):
        table.batch({key: row(key, "RUNNING") for key in "abcd"})
        table.move_cursor(row=2)
        assert table.selected_key == "c"
        table.batch({"a": None, "e": row("e", "QUEUED"), "b": None})
        await pilot.pause()
        assert table.keys == ["c", "d", "e"]
        assert table.selected_key == "c"


async def test_a_sorted_table_keeps_order_and_cursor() -> None:
    async with live_table(sort_key=lambda cells: cells[0], reverse=True) as (table, _pilot):
        table.batch({"1": row("2026-11-01", "SUCCESS"), "2": row("2026-11-02", "FAILED")})
        assert table.keys == ["2", "1"]
        table.move_cursor(row=1)
        table.upsert("3", row("2026-11-03", "RUNNING"))
        assert table.keys == ["3", "2", "1"]
        assert table.selected_key == "1"


async def test_defer_coalesces_a_burst_into_one_batch() -> None:
    async with live_table() as (table, pilot):
        for n in range(200):
            table.defer("a", row("alpha", f"step {n}"))
            table.defer(f"r{n % 5}", row(f"r{n % 5}", str(n)))
        assert table.row_count == 0, "nothing is drawn until the burst is gathered"
        await wait_for(pilot, lambda: table.row_count == 6, "the deferred rows")
        assert table.batches == 1
        assert table.get_row("a") == ["alpha", "step 199"]
        assert table.get_row("r4") == ["r4", "199"]


async def test_sync_makes_the_table_hold_exactly_the_given_rows() -> None:
    async with live_table() as (table, _pilot):
        table.batch({key: row(key, "old") for key in "abc"})
        table.move_cursor(row=1)
        table.rewritten.clear()
        table.sync({"b": row("b", "old"), "c": row("c", "new"), "d": row("d", "new")})
        assert table.keys == ["b", "c", "d"]
        assert table.rewritten == [("c", "status")]
        assert table.selected_key == "b"


async def test_a_row_of_the_wrong_width_is_refused_and_changes_nothing() -> None:
    async with live_table() as (table, _pilot):
        table.upsert("a", row("alpha", "x"))
        with pytest.raises(ValueError, match="row 'b' has 3 cells for 2 columns"):
            table.batch({"a": None, "b": ("beta", "y", "extra")})
        assert table.keys == ["a"]


async def test_sync_takes_the_order_given_and_keeps_the_cursor_on_its_row() -> None:
    async with live_table() as (table, pilot):
        table.batch({key: row(key, "x") for key in "abc"})
        table.move_cursor(row=1)
        table.sync({"c": row("c", "x"), "a": row("a", "x"), "b": row("b", "y")})
        await pilot.pause()
        assert table.keys == ["c", "a", "b"]
        assert table.get_row("b") == ["b", "y"]
        assert table.selected_key == "b"


async def test_sync_narrowing_many_rows_keeps_the_cursor_on_a_row_that_stays() -> None:
    async with live_table() as (table, pilot):
        table.batch({f"k{n:02}": row(f"k{n:02}", "x") for n in range(12)})
        table.move_cursor(row=5)
        table.sync({"k05": row("k05", "x"), "k06": row("k06", "x")})
        await pilot.pause()
        assert table.keys == ["k05", "k06"]
        assert table.selected_key == "k05"


async def test_rebuild_puts_the_cursor_on_the_row_asked_for_else_on_the_top_row() -> None:
    async with live_table() as (table, pilot):
        table.batch({key: row(key, "x") for key in "abc"})
        table.rebuild({"x": row("x", "1"), "c": row("c", "2"), "y": row("y", "3")}, select="c")
        await pilot.pause()
        assert table.keys == ["x", "c", "y"]
        assert table.selected_key == "c"
        table.rebuild({"p": row("p", "1"), "q": row("q", "2")}, select="c")
        await pilot.pause()
        assert table.selected_key == "p"
        table.upsert("p", row("p", "new"))
        assert table.get_row("p") == ["p", "new"], "rebuilt rows are kept current like any other"


async def test_a_change_applied_now_outdates_one_still_queued() -> None:
    async with live_table() as (table, _pilot):
        table.upsert("a", row("alpha", "old"))
        table.defer("a", row("alpha", "queued"))
        table.defer("b", row("beta", "queued"))
        table.remove("a")
        table.flush()
        assert table.keys == ["b"], "the removed row is not brought back by the older queued change"
        table.defer("c", row("gamma", "queued"))
        table.sync({"b": row("beta", "read")})
        table.flush()
        assert table.keys == ["b"]
        assert table.get_row("b") == ["beta", "read"]
