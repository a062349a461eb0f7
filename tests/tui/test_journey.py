"""A new operator's first minutes, as issue 8's Done-when puts it, in one go and with keys only:
the demo flows are there, one runs and is watched to the end with its logs, another stops at
its gate and is approved from the modal, and what they wrote is found in the kv browser."""

from __future__ import annotations

from typing import Any

from textual.widgets import Static

from tests.conftest import Api
from tests.tui.conftest import open_console
from tests.tui.conftest import wait_for
from tests.tui.test_approvals_pane import text_of
from workflowdev.tui.dialogs.approval import ApprovalModal
from workflowdev.tui.dialogs.execute_form import ExecuteForm
from workflowdev.tui.panes.execution import ExecutionScreen
from workflowdev.tui.panes.flows import FlowsPane
from workflowdev.tui.panes.kv import KvPane

DEMO = {"hello", "release", "fan-out", "flaky"}


def flow_ids(pane: FlowsPane) -> dict[str, str]:
    table = pane.query_one("#flows-table")
    return {str(table.get_row(key)[1]): str(key.value) for key in table.rows}


def log_text(screen: ExecutionScreen) -> str:
    tail = screen.logs
    return "\n".join(tail.render_line(y).text for y in range(tail.size.height))


def status_of(screen: ExecutionScreen) -> Any:
    return (screen.execution or {}).get("status")


async def run_flow(app: Any, pilot: Any, flows: FlowsPane, name: str) -> ExecutionScreen:
    table = flows.query_one("#flows-table")
    table.move_cursor(row=table.get_row_index(flow_ids(flows)[name]))
    await pilot.press("x")
    await wait_for(pilot, lambda: isinstance(app.screen, ExecuteForm), f"the form to run {name}")
    await pilot.press("ctrl+s")  # the demo flows' inputs all have defaults
    return await wait_for(pilot, lambda: isinstance(app.screen, ExecutionScreen) and app.screen, f"{name}'s run")


async def test_a_new_operator_runs_watches_approves_and_browses(server: Api) -> None:
    async with open_console(server, load_demo=True) as (app, pilot):
        flows = app.screen
        assert isinstance(flows, FlowsPane)
        await wait_for(pilot, lambda: DEMO <= set(flow_ids(flows)), "the demo flows in the table")

        hello = await run_flow(app, pilot, flows, "hello")
        await wait_for(pilot, lambda: status_of(hello) == "SUCCESS", "hello to succeed, live")
        await wait_for(pilot, lambda: "Hello, operator!" in log_text(hello), "hello's log line")

        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is flows, "back on the flows")
        release = await run_flow(app, pilot, flows, "release")
        await wait_for(pilot, lambda: app.pending_gates == 1, "the gate in the header")
        await pilot.press("ctrl+g")
        modal = await wait_for(pilot, lambda: isinstance(app.screen, ApprovalModal) and app.screen, "the gate")
        await wait_for(pilot, lambda: "deploy" in text_of(modal.query_one("#after", Static)), "what runs after the gate")
        await pilot.press("a", "y")  # approve, and yes
        await wait_for(pilot, lambda: status_of(release) == "SUCCESS", "release to finish once approved")
        await wait_for(pilot, lambda: app.pending_gates == 0, "the badge to clear")

        await pilot.press("colon", *"kv demo", "enter")
        kv = await wait_for(pilot, lambda: isinstance(app.screen, KvPane) and app.screen, "the kv browser")
        keys = kv.query_one("#keys")
        await wait_for(pilot, lambda: {"hello-runs", "last-release"} <= {k.value for k in keys.rows}, "their keys")
