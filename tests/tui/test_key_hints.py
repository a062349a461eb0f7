"""A key that does nothing says why: bound to nothing here, hidden from the role, or not now."""

from __future__ import annotations

from typing import Any

from tests.conftest import Api
from tests.tui.conftest import open_console
from tests.tui.conftest import wait_for
from tests.tui.test_execution_screen import FAILING
from tests.tui.test_execution_screen import viewing


def toasts(app: Any) -> list[str]:
    return [str(n.message) for n in app._notifications]


async def test_an_unbound_key_points_to_the_keys_of_the_pane(server: Api) -> None:
    async with open_console(server) as (app, pilot):
        await pilot.press("Z")
        await wait_for(pilot, lambda: any("Z does nothing here · ? lists" in t for t in toasts(app)), "the hint")
        await pilot.press("Z", "Z")
        await pilot.pause()
        assert sum("Z does nothing" in t for t in toasts(app)) == 1, "a key held down is told once"


async def test_an_action_that_does_not_apply_now_says_when_it_would(server: Api) -> None:
    async with viewing(server, FAILING) as (app, pilot, _screen, _id):
        await pilot.press("c")
        expected = "Cancel: only a queued, running or paused execution can be cancelled (this one is FAILED)"
        await wait_for(pilot, lambda: expected in toasts(app), "why cancel did nothing")


async def test_an_action_hidden_from_the_role_names_the_role_it_needs(server: Api) -> None:
    async with viewing(server, FAILING) as (app, pilot, screen, _id):
        app.role = "viewer"
        screen.refresh_bindings()
        await pilot.press("R")
        expected = "Retry needs the executor role; you are signed in as viewer"
        await wait_for(pilot, lambda: expected in toasts(app), "why retry did nothing")


async def test_a_key_a_binding_takes_gets_no_hint(server: Api) -> None:
    async with viewing(server, FAILING) as (app, pilot, screen, _id):
        await pilot.press("z")
        await wait_for(pilot, lambda: screen.has_class("-zoomed"), "the zoom")
        assert not any("does nothing" in t or "does not apply" in t for t in toasts(app))
