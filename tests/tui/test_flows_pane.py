"""The flows pane: what a new operator sees first, live as flows run, filtered with `/`."""

from __future__ import annotations

from typing import Any

from textual.widgets import DataTable
from textual.widgets import Static

from tests.conftest import Api
from tests.engine.flows_helpers import save_flow
from tests.engine.flows_helpers import start
from tests.engine.flows_helpers import wait_status
from tests.tui.conftest import open_console
from tests.tui.conftest import wait_for
from workflowdev.tui.dialogs.help import keys_of
from workflowdev.tui.panes.flow_detail import FlowScreen
from workflowdev.tui.panes.flows import FlowsPane


def flow_yaml(name: str, namespace: str = "default", message: str = "hi") -> str:
    return (
        f"name: {name}\nnamespace: {namespace}\n"
        f"tasks:\n  - name: say\n    type: util.log\n    properties:\n      message: {message}\n"
    )


def table_of(app: Any) -> DataTable[Any]:
    return app.screen.query_one("#flows-table", DataTable)


def cell(app: Any, flow_id: str, column: str) -> str:
    table = table_of(app)
    if flow_id not in table.rows:
        return ""
    value = table.get_cell(flow_id, column)
    return getattr(value, "plain", str(value))


async def test_empty_server_says_how_to_begin(server: Api) -> None:
    async with open_console(server, size=(80, 24)) as (app, pilot):
        empty = app.screen.query_one("#flows-empty", Static)
        await wait_for(pilot, lambda: empty.display, "the empty state")
        assert "press n" in str(empty.render()) and "workflowdev up --demo" in str(empty.render())


async def test_rows_show_each_flow_and_follow_its_last_run_live(server: Api) -> None:
    flow_id = await save_flow(server, flow_yaml("nightly", "ops"))
    async with open_console(server, size=(80, 24)) as (app, pilot):
        await wait_for(pilot, lambda: cell(app, flow_id, "name") == "nightly", "the flow's row")
        assert cell(app, flow_id, "namespace") == "ops"
        assert cell(app, flow_id, "rev") == "1"
        assert cell(app, flow_id, "status") == "—"
        execution_id = await start(server, flow_id)
        await wait_status(server, execution_id)
        await wait_for(pilot, lambda: "SUCCESS" in cell(app, flow_id, "status"), "the last status to follow the run")
        assert cell(app, flow_id, "run") != "—"


async def test_slash_filters_rows_as_you_type_and_escape_clears(server: Api) -> None:
    ops = await save_flow(server, flow_yaml("sync", "ops"))
    await save_flow(server, flow_yaml("report", "finance"))
    async with open_console(server) as (app, pilot):
        table = table_of(app)
        await wait_for(pilot, lambda: table.row_count == 2, "both flows")
        await pilot.press("slash", *"op")
        await wait_for(pilot, lambda: table.row_count == 1, "the filter to narrow the rows")
        assert ops in table.rows
        await pilot.press("escape")
        await wait_for(pilot, lambda: table.row_count == 2, "escape to clear the filter")


async def test_enter_keeps_the_filter_then_opens_the_flow(server: Api) -> None:
    await save_flow(server, flow_yaml("sync", "ops"))
    await save_flow(server, flow_yaml("report", "finance"))
    async with open_console(server) as (app, pilot):
        table = table_of(app)
        await wait_for(pilot, lambda: table.row_count == 2, "both flows")
        await pilot.press("slash", *"sync", "enter")
        await wait_for(pilot, lambda: table.has_focus, "enter to hand the keys back to the table")
        assert table.row_count == 1 and isinstance(app.screen, FlowsPane)
        await pilot.press("enter")
        screen = await wait_for(pilot, lambda: isinstance(app.screen, FlowScreen) and app.screen, "the flow screen")
        info = screen.query_one("#flow-info", Static)
        await wait_for(pilot, lambda: "ops/sync" in str(info.render()), "the flow's header")


async def test_delete_asks_first_and_removes_the_flow(server: Api) -> None:
    flow_id = await save_flow(server, flow_yaml("doomed"))
    async with open_console(server) as (app, pilot):
        await wait_for(pilot, lambda: flow_id in table_of(app).rows, "the flow's row")
        await pilot.press("d", "n")
        await pilot.pause()
        assert (await server.get(f"/api/v1/flows/{flow_id}")).status == 200
        await pilot.press("d", "y")
        await wait_for(pilot, lambda: flow_id not in table_of(app).rows, "the row to go")
        assert (await server.get(f"/api/v1/flows/{flow_id}")).status == 404


async def test_a_viewer_is_not_offered_what_it_may_not_do(server: Api) -> None:
    await save_flow(server, flow_yaml("look"))
    async with open_console(server) as (app, pilot):
        pane = app.screen
        assert isinstance(pane, FlowsPane)
        assert pane.check_action("execute", ()) and pane.check_action("delete", ())
        app.role = "viewer"
        app.refresh_bindings()
        await pilot.pause()
        for action in ("execute", "edit", "new", "delete"):
            assert not pane.check_action(action, ())
        offered = {key.binding_id for key in keys_of(pane)}
        assert "flows.open" in offered and "flows.filter" in offered
        assert not offered & {"flows.execute", "flows.edit", "flows.new", "flows.delete"}
