"""A flow's screen: its YAML, a diff between revisions, restore as a new revision, its triggers."""

from __future__ import annotations

from typing import Any

from textual.widgets import DataTable
from textual.widgets import Static

from tests.conftest import Api
from tests.engine.flows_helpers import save_flow
from tests.engine.flows_helpers import start
from tests.tui.conftest import open_console
from tests.tui.conftest import wait_for
from workflowdev.tui.dialogs.prompts import Confirm
from workflowdev.tui.panes.execution import ExecutionScreen
from workflowdev.tui.panes.flow_detail import FlowScreen


def versioned(message: str) -> str:
    return (
        "name: versioned\ndescription: changes over time\n"
        f"tasks:\n  - name: say\n    type: util.log\n    properties:\n      message: {message}\n"
        "triggers:\n  - name: hook\n    type: webhook\n"
    )


async def open_flow_screen(app: Any, pilot: Any, flow_id: str) -> FlowScreen:
    app.open_flow(flow_id)
    screen = await wait_for(pilot, lambda: isinstance(app.screen, FlowScreen) and app.screen, "the flow screen")
    await wait_for(pilot, lambda: screen.flow is not None, "the flow to load")
    return screen


async def test_yaml_and_triggers_are_shown(server: Api) -> None:
    flow_id = await save_flow(server, versioned("one"))
    async with open_console(server, size=(80, 24)) as (app, pilot):
        screen = await open_flow_screen(app, pilot, flow_id)
        assert "message: one" in str(screen.query_one("#flow-yaml", Static).render())
        assert "changes over time" in str(screen.query_one("#flow-info", Static).render())
        await pilot.press("t")
        triggers = screen.query_one("#triggers-table", DataTable)
        await wait_for(pilot, lambda: triggers.row_count == 1, "the flow's trigger")
        assert [str(c) for c in triggers.get_row_at(0)[:2]] == ["webhook", "hook"]
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, FlowScreen), "escape to go back")


async def test_picked_revisions_diff_and_restore_saves_a_new_revision(server: Api) -> None:
    flow_id = await save_flow(server, versioned("one"))
    reply = await server.put(f"/api/v1/flows/{flow_id}", json={"yamlContent": versioned("two")})
    assert reply.body["revision"] == 2
    async with open_console(server, size=(80, 24)) as (app, pilot):
        screen = await open_flow_screen(app, pilot, flow_id)
        assert not screen.check_action("restore", ()), "restore is only offered on the revisions"
        await pilot.press("v")
        table = screen.query_one("#revisions-table", DataTable)
        await wait_for(pilot, lambda: table.row_count == 2 and table.has_focus, "the revisions, newest first")
        assert str(table.get_row_at(0)[0]) == "2"
        await pilot.press("down", "space")
        diff = screen.query_one("#diff", Static)
        await wait_for(pilot, lambda: "+      message: two" in str(diff.render()), "the diff")
        assert "-      message: one" in str(diff.render())
        await pilot.press("R")
        await wait_for(pilot, lambda: isinstance(app.screen, Confirm), "restore to ask first")
        await pilot.press("y")
        await wait_for(pilot, lambda: table.row_count == 3, "the new revision to show")
        flow = (await server.get(f"/api/v1/flows/{flow_id}")).body
        assert flow["revision"] == 3 and flow["yamlContent"] == versioned("one")


async def test_runs_of_the_flow_appear_live_and_x_starts_one(server: Api) -> None:
    flow_id = await save_flow(server, versioned("one"))
    async with open_console(server) as (app, pilot):
        screen = await open_flow_screen(app, pilot, flow_id)
        await pilot.press("h")
        runs = screen.query_one("#runs-table", DataTable)
        assert runs.row_count == 0
        execution_id = await start(server, flow_id)
        await wait_for(pilot, lambda: execution_id in runs.rows, "the run to appear without reloading")
        await wait_for(pilot, lambda: "SUCCESS" in str(runs.get_cell(execution_id, "status")), "its status to follow")
        await pilot.press("x", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ExecutionScreen), "the started run to open")
        assert len((await server.get(f"/api/v1/executions?flowId={flow_id}")).body) == 2
