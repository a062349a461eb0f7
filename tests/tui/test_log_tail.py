"""The log tail as the operator reads it: every line reachable, following, filters, jumps.

A tiny app holds only the widget, so each test runs in a fraction of a second; the rows are read
back with `render_line(y).text`, exactly what the terminal shows.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from datetime import timezone
from typing import Any

import pytest
from hypothesis import example
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from rich.cells import cell_len
from textual.app import App
from textual.app import ComposeResult
from textual.pilot import Pilot

from tests.tui.conftest import wait_for
from workflowdev.tui.widgets.log_store import wrap_rows
from workflowdev.tui.widgets.log_store import wrapped_count
from workflowdev.tui.widgets.log_tail import LogTail

SIZE = (80, 12)
NOW = datetime(2026, 11, 28, 14, 0, tzinfo=UTC)


class TailApp(App[None]):
    def __init__(self, zone: timezone = UTC) -> None:
        super().__init__()
        self.zone = zone

    def clock(self) -> datetime:
        return NOW.astimezone(self.zone)

    def compose(self) -> ComposeResult:
        yield LogTail(clock=self.clock, id="logs")


@asynccontextmanager
async def tail_app(zone: timezone = UTC) -> AsyncIterator[tuple[LogTail, Pilot[None]]]:
    app = TailApp(zone)
    async with app.run_test(size=SIZE) as pilot:
        tail = app.query_one(LogTail)
        tail.focus()
        await pilot.pause()
        yield tail, pilot


def lines(
    count: int, start: int = 0, *, task: str = "fetch", level: str = "info", attempt: int = 1
) -> list[dict[str, Any]]:
    return [
        {
            "type": "log",
            "seq": n + 1,
            "ts": (NOW + timedelta(milliseconds=n)).isoformat().replace("+00:00", "Z"),
            "level": level,
            "taskName": task,
            "attempt": attempt,
            "message": f"message {n}",
        }
        for n in range(start, start + count)
    ]


def screen_rows(tail: LogTail) -> list[str]:
    return [tail.render_line(y).text.rstrip() for y in range(tail.size.height)]


def last_row(tail: LogTail) -> str:
    return [row for row in screen_rows(tail) if row][-1]


async def test_an_empty_log_says_so() -> None:
    async with tail_app() as (tail, _pilot):
        assert screen_rows(tail)[0] == "no log lines yet"


async def test_a_line_shows_time_level_task_attempt_and_message() -> None:
    async with tail_app() as (tail, pilot):
        tail.append(lines(1, 345, task="fetch", level="warning", attempt=2))
        await pilot.pause()
        assert screen_rows(tail)[0] == "14:00:00.345 WARN  fetch#2 message 345"


async def test_times_are_shown_in_the_apps_clock_zone() -> None:
    async with tail_app(timezone(timedelta(hours=2))) as (tail, pilot):
        tail.append(lines(1))
        await pilot.pause()
        assert screen_rows(tail)[0].startswith("16:00:00.000 INFO")


async def test_a_hundred_thousand_lines_are_all_reachable() -> None:
    async with tail_app() as (tail, pilot):
        for batch in range(10):
            tail.append(lines(10_000, batch * 10_000))
        await pilot.pause()
        assert tail.virtual_size.height == 100_000
        assert screen_rows(tail)[-1].endswith("message 99999")
        await pilot.press("g")
        await wait_for(pilot, lambda: tail.scroll_y == 0, "the top")
        assert screen_rows(tail)[0].endswith("message 0")
        assert not tail.follow
        tail.scroll_to(y=54_321, animate=False)
        await pilot.pause()
        assert screen_rows(tail)[0].endswith("message 54321")


async def test_following_keeps_the_newest_line_in_sight() -> None:
    async with tail_app() as (tail, pilot):
        for batch in range(5):
            tail.append(lines(7, batch * 7))
            await pilot.pause()
            assert last_row(tail).endswith(f"message {batch * 7 + 6}")
        assert tail.follow and tail.pending == 0


async def test_scrolling_up_stops_following_and_counts_what_arrives() -> None:
    async with tail_app() as (tail, pilot):
        tail.append(lines(100))
        await pilot.pause()
        await pilot.press("up")
        await wait_for(pilot, lambda: not tail.follow, "following to stop")
        place = screen_rows(tail)[0]
        tail.append(lines(1_234, 100))
        await pilot.pause()
        assert tail.pending == 1_234
        rows = screen_rows(tail)
        assert rows[0] == place, "the text under the reader's eyes stays put"
        assert "▼ 1,234 new lines — G to follow" in rows[-1]
        await pilot.press("G")
        await wait_for(pilot, lambda: tail.follow, "following to resume")
        assert tail.pending == 0
        assert screen_rows(tail)[-1].endswith("message 1333")


async def test_scrolling_back_to_the_bottom_follows_again() -> None:
    async with tail_app() as (tail, pilot):
        tail.append(lines(100))
        await pilot.press("home")
        assert not tail.follow and screen_rows(tail)[0].endswith("message 0")
        tail.append(lines(5, 100))
        await pilot.pause()
        tail.scroll_to(y=tail.max_scroll_y, animate=False)
        await wait_for(pilot, lambda: tail.follow, "following once the reader is back at the bottom")
        assert tail.pending == 0
        await pilot.press("home", "end")
        assert tail.follow and last_row(tail).endswith("message 104")


async def test_the_badge_and_f_bring_following_back() -> None:
    async with tail_app() as (tail, pilot):
        tail.append(lines(50))
        await pilot.press("f")
        assert not tail.follow
        tail.append(lines(1, 50))
        await pilot.pause()
        assert "▼ 1 new line —" in screen_rows(tail)[-1]
        await pilot.click(LogTail, offset=(3, SIZE[1] - 1))
        await wait_for(pilot, lambda: tail.follow, "a click on the badge to resume following")
        assert screen_rows(tail)[-1].endswith("message 50")
        await pilot.press("f", "f")
        assert tail.follow


async def test_l_cycles_the_minimum_level() -> None:
    async with tail_app() as (tail, pilot):
        tail.append(lines(3, 0, level="debug") + lines(3, 3, level="info") + lines(2, 6, level="warning"))
        tail.append(lines(1, 8, level="error"))
        await pilot.pause()
        assert tail.virtual_size.height == 9
        seen = []
        for _ in range(4):
            await pilot.press("l")
            seen.append((tail.level_filter, tail.virtual_size.height))
        assert seen == [("INFO", 6), ("WARN", 3), ("ERROR", 1), (None, 9)]
        await pilot.press("l", "l")
        rows = [row for row in screen_rows(tail) if row]
        assert [row.split()[1] for row in rows] == ["WARN", "WARN", "ERROR"]


async def test_a_bad_level_is_refused_and_changes_nothing() -> None:
    async with tail_app() as (tail, pilot):
        tail.append(lines(3))
        tail.set_filter(task="fetch", level="WARN")
        with pytest.raises(ValueError, match="unknown log level 'loud'"):
            tail.set_filter(level="loud")
        assert (tail.task_filter, tail.level_filter) == ("fetch", "WARN")


async def test_a_task_named_like_a_level_is_only_a_task() -> None:
    async with tail_app() as (tail, pilot):
        tail.append(lines(1, task="warning") + lines(1, 1, task="b", level="warning"))
        await pilot.pause()
        assert [row.split()[1:3] for row in screen_rows(tail)[:2]] == [["INFO", "warning"], ["WARN", "b"]]


async def test_task_filter_shows_only_that_task() -> None:
    async with tail_app() as (tail, pilot):
        tail.append(lines(3, 0, task="a") + lines(2, 3, task="b") + lines(3, 5, task="a"))
        tail.set_filter(task="b")
        await pilot.pause()
        rows = [row for row in screen_rows(tail) if row]
        assert rows == ["14:00:00.003 INFO  b message 3", "14:00:00.004 INFO  b message 4"]
        tail.append(lines(1, 8, task="b") + lines(1, 9, task="a"))
        await pilot.pause()
        assert tail.virtual_size.height == 3
        tail.set_filter(task="nobody")
        await pilot.pause()
        assert screen_rows(tail)[0] == "no lines match the filter (task nobody)"


async def test_jump_to_task_shows_its_first_line_and_stops_following() -> None:
    async with tail_app() as (tail, pilot):
        tail.append(lines(5_000, task="extract") + lines(20, 5_000, task="load") + lines(5_000, 5_020, task="extract"))
        await pilot.pause()
        assert tail.jump_to_task("load")
        await pilot.pause()
        assert not tail.follow
        assert screen_rows(tail)[0].split()[2:] == ["load", "message", "5000"]
        assert tail.jump_to_task("nobody") is False


async def test_a_jump_right_after_an_append_lands_on_the_new_lines() -> None:
    async with tail_app() as (tail, pilot):
        tail.append(lines(10, task="early"))
        await pilot.pause()
        tail.append(lines(500, 10, task="late") + lines(1, 510, task="late", level="error") + lines(500, 511))
        assert tail.jump_to_first_error()
        await pilot.pause()
        assert screen_rows(tail)[0].endswith("message 510")
        assert tail.jump_to_task("late")
        await pilot.pause()
        assert screen_rows(tail)[0].endswith("late  message 10")


async def test_first_error_line_is_where_the_first_error_is_drawn() -> None:
    async with tail_app() as (tail, pilot):
        tail.append(lines(300, task="a"))
        assert tail.first_error_line() is None
        tail.append(lines(1, 300, task="b", level="error") + lines(50, 301, task="a"))
        y = tail.first_error_line()
        assert y == 300
        await pilot.pause()
        tail.scroll_to(y=y, animate=False)
        await pilot.pause()
        assert screen_rows(tail)[0].endswith("ERROR b message 300")
        tail.set_filter(task="a")
        assert tail.first_error_line() is None
        tail.set_filter(level="ERROR")
        assert tail.first_error_line() == 0


async def test_multi_line_messages_stay_readable() -> None:
    async with tail_app() as (tail, pilot):
        traceback = 'Traceback (most recent call last):\n  File "task.py", line 3\nValueError: bad\n'
        tail.append([{"ts": "2026-11-28T14:00:01Z", "level": "error", "taskName": "t", "message": traceback}])
        await pilot.pause()
        assert tail.virtual_size.height == 3
        assert screen_rows(tail)[:3] == [
            "14:00:01.000 ERROR t Traceback (most recent call last):",
            '                       File "task.py", line 3',
            "                     ValueError: bad",
        ]


async def test_long_lines_scroll_sideways() -> None:
    async with tail_app() as (tail, pilot):
        tail.append([{"ts": None, "level": "info", "taskName": None, "message": "x" * 300 + "END"}])
        await pilot.pause()
        assert tail.virtual_size.width == len("--:--:--.--- INFO  ") + 303
        tail.scroll_to(x=tail.max_scroll_x, animate=False)
        await pilot.pause()
        assert screen_rows(tail)[0].endswith("END")


def wide_lines(count: int, start: int = 0, width: int = 200) -> list[dict[str, Any]]:
    return [{**line, "message": f"{line['message']} " + "x" * width + " END"} for line in lines(count, start)]


async def test_the_new_lines_badge_shows_above_the_horizontal_scrollbar() -> None:
    async with tail_app() as (tail, pilot):
        tail.append(wide_lines(100))
        await pilot.pause()
        assert tail.show_horizontal_scrollbar, "lines wider than the pane bring the scrollbar"
        await pilot.press("up")
        await wait_for(pilot, lambda: not tail.follow, "following to stop")
        tail.append(wide_lines(3, 100))
        await wait_for(pilot, lambda: tail.pending == 3, "the new lines to be counted")
        visible = [tail.render_line(y).text for y in range(tail.scrollable_size.height)]
        assert "▼ 3 new lines — G to follow" in visible[-1], "the last row the scrollbar leaves shows the badge"
        await pilot.click(LogTail, offset=(5, tail.scrollable_size.height - 1))
        await wait_for(pilot, lambda: tail.follow, "a click on the badge to follow")


async def test_w_wraps_long_lines_at_the_panes_width_and_keeps_the_place() -> None:
    async with tail_app() as (tail, pilot):
        tail.append(wide_lines(40))
        await pilot.press("g")
        tail.scroll_to(y=20, animate=False)
        await pilot.pause()
        assert screen_rows(tail)[0].startswith("14:00:00.020 INFO  fetch message 20")
        await pilot.press("w")
        await wait_for(pilot, lambda: tail.wrap and not tail.show_horizontal_scrollbar, "wrapping")
        rows = screen_rows(tail)
        assert rows[0].startswith("14:00:00.020 INFO  fetch message 20"), "the line at the top stays at the top"
        width = tail.size.width - tail.styles.scrollbar_size_vertical
        assert all(len(row) <= width for row in rows)
        prefix = len("14:00:00.020 INFO  fetch ")
        folded = [tail.render_line(y).text[:width] for y in range(rows.index(next(r for r in rows if "message 21" in r)))]
        assert all(row[:prefix].isspace() for row in folded[1:]), "continuations are indented"
        assert "".join(row[prefix:] for row in folded).rstrip() == wide_lines(1, 20)[0]["message"], "all of it, folded"
        assert "wrapped" in str(tail.border_subtitle)
        await pilot.press("w")
        await wait_for(pilot, lambda: not tail.wrap and tail.line_count == 40, "scrolling sideways again")
        assert screen_rows(tail)[0].startswith("14:00:00.020 INFO  fetch message 20")


async def test_wrapped_lines_refold_when_the_pane_is_resized() -> None:
    app = TailApp()
    async with app.run_test(size=(60, 12)) as pilot:
        tail = app.query_one(LogTail)
        tail.wrap = True
        tail.append(wide_lines(1, width=100))
        await pilot.pause()
        narrow = tail.line_count
        await pilot.resize_terminal(120, 12)
        await wait_for(pilot, lambda: tail.line_count < narrow, "fewer rows at 120 columns")
        assert "END" in "".join(screen_rows(tail))


async def test_old_lines_are_dropped_with_a_notice_and_the_readers_place_kept() -> None:
    async with tail_app() as (tail, pilot):
        tail.store.max_lines = 100
        tail.append(lines(100))
        await pilot.press("g")
        tail.scroll_to(y=40, animate=False)
        await pilot.pause()
        place = screen_rows(tail)[0]
        tail.append(lines(30, 100))
        await pilot.pause()
        assert tail.virtual_size.height == 101
        assert screen_rows(tail)[0] == place
        await pilot.press("g")
        await pilot.pause()
        assert screen_rows(tail)[:2] == ["… 30 earlier lines dropped", "14:00:00.030 INFO  fetch message 30"]


async def test_clear_empties_the_view_and_follows_again() -> None:
    async with tail_app() as (tail, pilot):
        tail.append(lines(40))
        await pilot.press("g")
        tail.clear()
        await pilot.pause()
        assert tail.follow and tail.virtual_size.height == 0
        assert screen_rows(tail)[0] == "no log lines yet"


def test_every_key_has_an_id() -> None:
    ids = {binding.id for binding in LogTail.BINDINGS}  # type: ignore[union-attr]
    assert ids == {"logs.follow", "logs.level", "logs.wrap", "logs.end", "logs.top"}


@settings(max_examples=300, deadline=None)
@example(text="\U0001f3fb", width=1)  # a lone zero-width modifier: chop_cells gives no row for it
@given(text=st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=300), width=st.integers(1, 120))
def test_wrapped_rows_fit_the_width_and_lose_nothing(text: str, width: int) -> None:
    rows = wrap_rows(text, width)
    assert "".join(rows) == text
    assert all(cell_len(row) <= max(width, 2) for row in rows), "a wide character may not be split"
    if text.isascii():
        assert wrapped_count(text, width) == len(rows)
