"""The credentials pane: creating one through the prompts, replacing and deleting, roles.

The value typed must reach the server and nowhere else: not the screen (while typed or after),
not a notification, not the clipboard.
"""

from __future__ import annotations

from typing import Any

from tests.conftest import Api
from tests.tui.conftest import open_console
from tests.tui.conftest import wait_for
from tests.tui.table_helpers import cell
from tests.tui.table_helpers import notifications
from tests.tui.table_helpers import open_pane
from tests.tui.table_helpers import row_keys
from workflowdev.tui.dialogs.prompts import AskText
from workflowdev.tui.dialogs.prompts import Confirm
from workflowdev.tui.panes.credentials import name_problem

VALUE = "Zq9xK7wv"


async def credentials(server: Api) -> dict[str, dict[str, Any]]:
    reply = await server.get("/api/v1/credentials")
    assert reply.status == 200, reply.body
    return {c["name"]: c for c in reply.body}


def seen_anywhere(app: Any) -> str:
    return app.export_screenshot() + "\n".join(notifications(app)) + app.clipboard


async def prompt(pilot: Any, app: Any, kind: type, about: str = "", masked: bool = False) -> Any:
    """The prompt on top once it is a `kind` whose title mentions `about` (and is masked, if asked)."""

    def shown() -> Any:
        screen = app.screen
        if not isinstance(screen, kind):
            return None
        if isinstance(screen, AskText) and (about not in screen.title_text or screen.password != masked):
            return None
        return screen

    return await wait_for(pilot, shown, f"a {kind.__name__} prompt {about}")


async def test_creating_a_credential_through_the_prompts_never_shows_its_value(server: Api) -> None:
    async with open_console(server) as (app, pilot):
        pane = await open_pane(app, pilot, "credentials")
        assert row_keys(pane) == [] and "No credentials yet" in pane.status_line()

        await pilot.press("n")
        asked = await prompt(pilot, app, AskText, "name")
        await pilot.press(*"shop-token", "enter")
        assert "upper-case" in str(asked.query_one(".error").content)
        await pilot.press("ctrl+u", *"SHOP_TOKEN", "enter")
        await prompt(pilot, app, AskText, "description")
        await pilot.press(*"shop", "enter")
        masked = await prompt(pilot, app, AskText, "value", masked=True)
        await pilot.press("enter")
        assert "cannot be empty" in str(masked.query_one(".error").content)
        await pilot.press(*VALUE)
        assert VALUE not in seen_anywhere(app)
        await pilot.press("enter")

        created = await wait_for(pilot, lambda: pane.items and next(iter(pane.items.values())), "the new row")
        assert created["name"] == "SHOP_TOKEN"
        assert cell(pane, created["id"], "description") == "shop"
        assert (await credentials(server))["SHOP_TOKEN"]["description"] == "shop"
        await pilot.press("enter")
        assert VALUE not in seen_anywhere(app)

        await pilot.press("n")
        asked = await prompt(pilot, app, AskText, "name")
        await pilot.press(*"SHOP_TOKEN", "enter")
        assert "exists already" in str(asked.query_one(".error").content)
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is pane, "the prompt to close")
        assert list(await credentials(server)) == ["SHOP_TOKEN"]


def test_names_are_checked_by_the_servers_rule() -> None:
    assert name_problem("API_TOKEN") is None and name_problem("A1_B2") is None
    for bad in ("api_token", "1TOKEN", "TOKEN-X", "", "A" * 129):
        assert name_problem(bad), bad


async def test_v_replaces_a_value_d_deletes_after_confirming_and_only_admins_may(server: Api) -> None:
    await server.post("/api/v1/credentials", json={"name": "OLD", "value": "first"})
    before = (await credentials(server))["OLD"]
    async with open_console(server) as (app, pilot):
        pane = await open_pane(app, pilot, "credentials")
        await pilot.press("v")
        await prompt(pilot, app, AskText, "OLD", masked=True)
        await pilot.press(*VALUE, "enter")
        await wait_for(pilot, lambda: any("Value of OLD replaced" in n for n in notifications(app)), "the notice")
        after = (await credentials(server))["OLD"]
        assert after["encryptedValue"] != before["encryptedValue"]
        assert VALUE not in seen_anywhere(app)

        await pilot.press("d")
        await prompt(pilot, app, Confirm)
        await pilot.press("n")
        await wait_for(pilot, lambda: app.screen is pane, "the confirmation to close")
        assert "OLD" in await credentials(server)
        await pilot.press("d")
        await prompt(pilot, app, Confirm)
        await pilot.press("y")
        await wait_for(pilot, lambda: not row_keys(pane), "the row to go")
        assert await credentials(server) == {}

        for role in ("viewer", "editor"):
            app.role = role
            for action in ("create", "set_value", "delete"):
                assert not pane.check_action(action, ()), (role, action)
            assert pane.check_action("filter", ())
