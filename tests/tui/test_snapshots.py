"""Snapshots of every pane at 80x24 and 120x40, from the recorded demo data set.

The data, the clock, the ids and the server's address are fixed (screenshots/replay.py serves
screenshots/dataset.json), so a changed picture means the console changed. Review a change with
the report pytest-textual-snapshot writes, then accept it with `pytest --snapshot-update`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from screenshots.replay import ReplayServer
from screenshots.scenarios import LONG_LIVED_GROUPS
from screenshots.scenarios import SCENARIOS
from screenshots.scenarios import Scenario
from screenshots.scenarios import demo_app
from screenshots.scenarios import run_before
from tests.ports import free_port
from tests.tui.conftest import wait_for
from tests.tui.test_log_tail import TailApp
from tests.tui.test_log_tail import wide_lines
from workflowdev.tui.widgets.log_tail import LogTail
from workflowdev.tui.widgets.offline_banner import OfflineBanner

SIZES = [(80, 24), (120, 40)]


@pytest.fixture(scope="module")
def replay_url() -> Iterator[str]:
    with ReplayServer() as url:
        yield url


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_pane_snapshot(snap_compare: Any, replay_url: str, scenario: Scenario, size: tuple[int, int]) -> None:
    assert snap_compare(demo_app(replay_url), terminal_size=size, run_before=run_before(scenario))


def test_sixteen_colour_theme_snapshot(snap_compare: Any, replay_url: str) -> None:
    """The ANSI theme draws with the terminal's own palette: how 16-colour terminals see it."""
    executions = next(s for s in SCENARIOS if s.name == "executions")
    assert snap_compare(demo_app(replay_url, theme="ansi-dark"), terminal_size=(80, 24), run_before=run_before(executions))


def test_no_color_snapshot(snap_compare: Any, replay_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """With NO_COLOR the console is monochrome and still readable: glyphs carry the statuses."""
    monkeypatch.setenv("NO_COLOR", "1")
    executions = next(s for s in SCENARIOS if s.name == "executions")
    assert snap_compare(demo_app(replay_url), terminal_size=(80, 24), run_before=run_before(executions))


def test_offline_snapshot(snap_compare: Any) -> None:
    """No server: one banner under the header saying since when, every figure as of then."""

    async def until_offline(pilot: Any) -> None:
        await wait_for(pilot, lambda: pilot.app.screen.query(OfflineBanner).filter(".-offline"), "the banner")
        busy = lambda: [w for w in pilot.app.workers if w.is_running and w.group not in LONG_LIVED_GROUPS]  # noqa: E731
        await wait_for(pilot, lambda: not busy(), "the panes' first reads to fail")
        await pilot.pause()

    app = demo_app(f"http://127.0.0.1:{free_port()}")
    assert snap_compare(app, terminal_size=(80, 24), run_before=until_offline)


def test_log_badge_above_the_scrollbar_snapshot(snap_compare: Any) -> None:
    """At 80 columns with lines wider than the pane: the "new lines" badge sits above the scrollbar."""

    async def paused_with_news(pilot: Any) -> None:
        tail = pilot.app.query_one(LogTail)
        tail.append(wide_lines(60))
        await pilot.press("g")
        tail.append(wide_lines(7, 60))
        await wait_for(pilot, lambda: tail.pending == 7, "the new lines counted")
        await pilot.pause()

    assert snap_compare(TailApp(), terminal_size=(80, 24), run_before=paused_with_news)


def test_log_wrapped_snapshot(snap_compare: Any) -> None:
    """`w` folds the long lines at the pane's width: no horizontal scrollbar, continuations indented."""

    async def wrapped(pilot: Any) -> None:
        pilot.app.query_one(LogTail).append(wide_lines(12, width=150))
        await pilot.press("w")
        await wait_for(pilot, lambda: pilot.app.query_one(LogTail).wrap, "wrapping")
        await pilot.pause()

    assert snap_compare(TailApp(), terminal_size=(80, 24), run_before=wrapped)
