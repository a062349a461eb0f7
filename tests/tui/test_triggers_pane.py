"""The triggers pane: switching a trigger on and off, a webhook's URL, masked secrets, roles."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable
from collections.abc import Callable
from datetime import datetime
from datetime import timedelta
from typing import Any

from sqlalchemy import update
from textual.widgets import Static

from tests.conftest import Api
from tests.engine.flows_helpers import eventually
from tests.engine.flows_helpers import save_flow
from tests.tui.conftest import open_console
from tests.tui.conftest import wait_for
from tests.tui.table_helpers import cell
from tests.tui.table_helpers import details
from tests.tui.table_helpers import notifications
from tests.tui.table_helpers import open_pane
from tests.tui.table_helpers import row_keys
from workflowdev.store.models import Trigger
from workflowdev.tui.dialogs.help import keys_of
from workflowdev.tui.dialogs.slots import SlotsScreen

HOOKED = """
name: hooked
tasks:
  - name: say
    type: util.log
    properties: {message: hooked}
"""
SECRET = "sign-with-this-0123456789"


async def make_trigger(server: Api, flow_id: str, kind: str, config: dict[str, Any], name: str) -> dict[str, Any]:
    reply = await server.post(
        "/api/v1/triggers", json={"flowId": flow_id, "type": kind, "config": config, "name": name}
    )
    assert reply.status == 201, reply.body
    return reply.body


async def test_space_switches_a_trigger_off_and_on_and_a_viewer_is_not_offered_it(server: Api) -> None:
    flow_id = await save_flow(server, HOOKED)
    trigger = await make_trigger(server, flow_id, "schedule", {"cron": "0 3 * * *"}, "nightly")
    async with open_console(server) as (app, pilot):
        pane = await open_pane(app, pilot, "triggers")
        assert row_keys(pane) == [trigger["id"]]
        assert cell(pane, trigger["id"], "flow") == "hooked"
        assert cell(pane, trigger["id"], "enabled") == "✔ on"
        assert cell(pane, trigger["id"], "next") != "—"

        await pilot.press("space")
        await wait_for(pilot, lambda: cell(pane, trigger["id"], "enabled") == "✖ off", "the row to say off")
        assert (await server.get(f"/api/v1/triggers/{trigger['id']}")).body["enabled"] is False
        assert cell(pane, trigger["id"], "next") == "—"

        await pilot.press("space")
        await wait_for(pilot, lambda: cell(pane, trigger["id"], "enabled") == "✔ on", "the row to say on")
        assert (await server.get(f"/api/v1/triggers/{trigger['id']}")).body["enabled"] is True

        app.role = "viewer"
        assert not pane.check_action("toggle", ()) and pane.check_action("copy_url", ())
        ids = {key.binding_id for key in keys_of(pane)}
        assert "triggers.toggle" not in ids and "triggers.copy_url" in ids


async def test_a_webhook_url_is_copied_and_shown_and_its_secret_never(server: Api) -> None:
    flow_id = await save_flow(server, HOOKED)
    other_id = await save_flow(server, HOOKED.replace("hooked", "other"))
    hook = await make_trigger(server, flow_id, "webhook", {"secret": SECRET}, "incoming")
    await make_trigger(server, other_id, "schedule", {"cron": "0 3 * * *"}, "nightly")
    url = f"{server.base_url}/api/v1/webhook/{hook['config']['key']}"
    async with open_console(server) as (app, pilot):
        pane = await open_pane(app, pilot, "triggers")
        assert len(row_keys(pane)) == 2

        await pilot.press("slash", *"hooked inc", "enter")
        await wait_for(pilot, lambda: row_keys(pane) == [hook["id"]], "the filter to keep the webhook")
        await pilot.press("y")
        await wait_for(pilot, lambda: any(url in note for note in notifications(app)), "the URL in a notification")
        assert app.clipboard == url

        await pilot.press("enter")
        shown = await wait_for(pilot, lambda: details(pane), "the details panel")
        assert url in shown and '"secret": "****"' in shown
        assert SECRET not in shown and SECRET not in app.export_screenshot()

        body = b'{"order": 1}'
        signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        headers = {"Content-Type": "application/json", "X-Workflowdev-Signature": signature}
        fired = await server.post(f"/api/v1/webhook/{hook['config']['key']}", data=body, headers=headers)
        assert fired.status == 201, fired.body
        await wait_for(pilot, lambda: cell(pane, hook["id"], "last") != "—", "the firing to show as last fired")

        await pilot.press("escape")
        await wait_for(pilot, lambda: len(row_keys(pane)) == 2, "esc to clear the filter")
        await pilot.press("down", "y")
        await wait_for(
            pilot, lambda: any("only webhooks have a URL" in note for note in notifications(app)), "the refusal"
        )
        assert app.clipboard == url


async def test_l_shows_a_schedules_slots_and_b_backfills_what_never_ran(server: Api) -> None:
    flow_id = await save_flow(server, HOOKED)
    schedule = await make_trigger(server, flow_id, "schedule", {"cron": "* * * * *"}, "minutely")
    hook = await make_trigger(server, flow_id, "webhook", {}, "incoming")
    db = server.runtime.db
    assert db is not None
    table = Trigger.__table__
    past = datetime.fromisoformat(schedule["nextFireAt"].replace("Z", "+00:00")) - timedelta(minutes=3)
    async with db.write() as conn:  # as if no node was up for three minutes
        await conn.execute(update(table).where(table.c.id == schedule["id"]).values(next_fire_at=past))
    server.runtime.engine.scheduler.wake()

    async def ledger() -> list[dict[str, Any]]:
        return (await server.get(f"/api/v1/triggers/{schedule['id']}/slots")).body

    async with open_console(server) as (app, pilot):
        pane = await open_pane(app, pilot, "triggers")
        await pilot.press("slash", *"incoming", "enter")
        await wait_for(pilot, lambda: row_keys(pane) == [hook["id"]], "the filter to keep the webhook")
        await pilot.press("l")
        await wait_for(pilot, lambda: any("only schedules have slots" in n for n in notifications(app)), "the refusal")
        await pilot.press("slash", *"minutely", "enter")
        await wait_for(pilot, lambda: row_keys(pane) == [schedule["id"]], "the filter to keep the schedule")
        await eventually(lambda: _at_least(ledger, 3), what="three slots in the ledger")
        await pilot.press("l")
        screen = await wait_for(pilot, lambda: isinstance(app.screen, SlotsScreen) and app.screen, "the slots screen")
        summary = await wait_for(pilot, lambda: "skipped" in _summary(screen) and _summary(screen), "the summary")
        assert "2 skipped" in summary and "b runs the 2 that never ran" in summary
        await pilot.press("b")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "Confirm", "the confirm")
        await pilot.press("y")
        await wait_for(pilot, lambda: any("2 executions queued" in n for n in notifications(app)), "the backfill")
        states = sorted(slot["state"] for slot in await ledger())
        assert states.count("backfilled") == 2 and "skipped" not in states
        await wait_for(pilot, lambda: "2 backfilled" in _summary(screen), "the reloaded ledger")


async def _at_least(read: Callable[[], Awaitable[list[Any]]], count: int) -> list[Any] | None:
    rows = await read()
    return rows if len(rows) >= count else None


def _summary(screen: SlotsScreen) -> str:
    return str(screen.query_one("#summary", Static).render())
