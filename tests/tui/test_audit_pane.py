"""The audit pane: newest first, re-read on `r` and on coming back, filtered, admin only."""

from __future__ import annotations

from tests.conftest import Api
from tests.tui.conftest import USERS_PASSWORD
from tests.tui.conftest import open_console
from tests.tui.conftest import wait_for
from tests.tui.table_helpers import cell
from tests.tui.table_helpers import details
from tests.tui.table_helpers import notifications
from tests.tui.table_helpers import open_pane
from tests.tui.table_helpers import row_keys


async def test_lists_the_credential_created_just_before_and_rereads_on_r(server: Api) -> None:
    created = (await server.post("/api/v1/credentials", json={"name": "AUDITED", "value": "v4lue-kept-out"})).body
    async with open_console(server) as (app, pilot):
        pane = await open_pane(app, pilot, "audit")
        newest = row_keys(pane)[0]
        assert cell(pane, newest, "action") == "credential.create"
        assert cell(pane, newest, "actor") == "anonymous"
        assert cell(pane, newest, "resource").startswith("credential ")
        await pilot.press("enter")
        shown = await wait_for(pilot, lambda: details(pane), "the entry's details")
        assert created["id"] in shown and "AUDITED" in shown and "v4lue-kept-out" not in shown

        await server.delete(f"/api/v1/credentials/{created['id']}")
        await pilot.press("r")
        await wait_for(pilot, lambda: cell(pane, row_keys(pane)[0], "action") == "credential.delete", "the new entry")
        assert row_keys(pane)[1] == newest

        await pilot.press("slash", *"create")
        await wait_for(pilot, lambda: row_keys(pane) == [newest], "the filter to keep the creation")


async def test_a_non_admin_is_told_the_log_needs_the_admin_role(secured_server: Api) -> None:
    login = await secured_server.post("/auth/login", json={"username": "viewer", "password": USERS_PASSWORD})
    async with open_console(secured_server, token=login.body["token"]) as (app, pilot):
        pane = await open_pane(app, pilot, "audit")
        assert pane.status_line() == "The audit log needs the admin role."
        assert row_keys(pane) == []
        assert "needs the admin role" in app.export_screenshot().replace("&#160;", " ")

        app.role = "admin"  # a console wrong about its role: the server's 403 reads the same
        await pilot.press("r")
        await wait_for(pilot, lambda: pane.reads >= 2, "the re-read")
        assert pane.status_line() == "The audit log needs the admin role." and row_keys(pane) == []
        assert not [note for note in notifications(app) if "Refused" in note]
