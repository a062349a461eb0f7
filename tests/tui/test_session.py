"""The console's session and navigation: panes ask to go places by message, and every worker
that meets a refusal tells it the same way (`session.reports_api_errors` → `App.report`).

Against a real server: each refusal below is the server's own 404, read back through the API to
know the message the toast must carry.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable
from collections.abc import Callable
from typing import Any

import pytest
from textual.notifications import Notification
from textual.pilot import Pilot
from textual.widgets import DataTable

from tests.conftest import Api
from tests.engine.flows_helpers import save_flow
from tests.tui.conftest import open_console
from tests.tui.conftest import wait_for
from tests.tui.table_helpers import open_pane
from tests.tui.test_triggers_pane import HOOKED
from tests.tui.test_triggers_pane import make_trigger
from workflowdev.tui.app import WorkflowdevApp
from workflowdev.tui.dialogs.execute_form import ExecuteForm
from workflowdev.tui.dialogs.slots import SlotsScreen
from workflowdev.tui.navigation import OpenExecution
from workflowdev.tui.navigation import OpenFlow
from workflowdev.tui.navigation import OpenSlots
from workflowdev.tui.navigation import RunFlow
from workflowdev.tui.panes.execution import ExecutionScreen
from workflowdev.tui.panes.flow_detail import FlowScreen
from workflowdev.tui.panes.flows import FlowsPane

SCHEDULE = {"cron": "0 3 * * *"}


async def run_flow(server: Api, flow_id: str) -> str:
    reply = await server.post(f"/api/v1/flows/{flow_id}/execute", json={"inputs": {}})
    assert reply.status == 201, reply.body
    return str(reply.body["executionId"])


async def test_a_message_from_a_widget_a_pane_or_a_dialog_reaches_the_app_which_opens_the_screen(
    server: Api,
) -> None:
    flow_id = await save_flow(server, HOOKED)
    execution_id = await run_flow(server, flow_id)
    trigger = await make_trigger(server, flow_id, "schedule", SCHEDULE, "nightly")
    async with open_console(server) as (app, pilot):
        flows = await wait_for(pilot, lambda: isinstance(app.screen, FlowsPane) and app.screen, "the flows pane")
        flows.query_one("#flows-table", DataTable).post_message(OpenFlow(flow_id))  # from a widget in a pane
        flow = await wait_for(pilot, lambda: isinstance(app.screen, FlowScreen) and app.screen, "the flow screen")
        assert flow.flow_id == flow_id

        flow.post_message(OpenExecution(execution_id, failed_first=True))  # from a pushed pane
        shown = await wait_for(pilot, lambda: isinstance(app.screen, ExecutionScreen) and app.screen, "the run")
        assert (shown.execution_id, shown.failed_first) == (execution_id, True)

        shown.post_message(OpenSlots(trigger, "hooked · nightly"))
        slots = await wait_for(pilot, lambda: isinstance(app.screen, SlotsScreen) and app.screen, "the slots")
        assert slots.trigger["id"] == trigger["id"]
        slots.post_message(OpenExecution(execution_id))  # from a dialog pushed as a screen
        above = await wait_for(
            pilot, lambda: isinstance(app.screen, ExecutionScreen) and app.screen is not shown and app.screen, "a run"
        )
        assert above.execution_id == execution_id
        assert [type(screen) for screen in app.screen_stack[-4:]] == [FlowScreen, ExecutionScreen, SlotsScreen, ExecutionScreen]


async def test_run_flow_asks_for_inputs_in_a_form_and_opens_the_execution_it_started(server: Api) -> None:
    flow_id = await save_flow(server, HOOKED)
    flow = (await server.get(f"/api/v1/flows/{flow_id}")).body
    async with open_console(server) as (app, pilot):
        app.screen.post_message(RunFlow(flow))
        await wait_for(pilot, lambda: isinstance(app.screen, ExecuteForm), "the execute form")
        await pilot.press("enter")
        shown = await wait_for(pilot, lambda: isinstance(app.screen, ExecutionScreen) and app.screen, "the new run")
        runs = (await server.get(f"/api/v1/executions?flowId={flow_id}")).body
        assert [run["id"] for run in runs] == [shown.execution_id]


# --- one way to tell a refusal, whichever pane's worker met it ----------------------------------

Request = tuple[str, str, Any]
"""Method, path and JSON body of the request the console made."""
Refusal = Callable[[Api, WorkflowdevApp, Pilot[None]], Awaitable[Request]]
"""Makes the console meet a 404 in some worker; returns the request that met it, to ask again."""


async def a_flow_deleted_behind_the_panes_back(server: Api, app: WorkflowdevApp, pilot: Pilot[None]) -> Request:
    flow_id = await save_flow(server, HOOKED)
    pane = app.screen
    assert isinstance(pane, FlowsPane)
    pane.reload()
    await wait_for(pilot, lambda: flow_id in pane.table.rows, "the flow's row")
    assert (await server.delete(f"/api/v1/flows/{flow_id}")).status == 204
    await pilot.press("d")
    await wait_for(pilot, lambda: type(app.screen).__name__ == "Confirm", "the confirm")
    await pilot.press("y")
    return "DELETE", f"/api/v1/flows/{flow_id}", None


async def a_trigger_gone_before_its_toggle(server: Api, app: WorkflowdevApp, pilot: Pilot[None]) -> Request:
    flow_id = await save_flow(server, HOOKED)
    trigger = await make_trigger(server, flow_id, "schedule", SCHEDULE, "nightly")
    await open_pane(app, pilot, "triggers")
    assert (await server.delete(f"/api/v1/triggers/{trigger['id']}")).status == 204
    await pilot.press("space")
    return "PUT", f"/api/v1/triggers/{trigger['id']}", {"enabled": False}


async def an_execution_that_never_was(server: Api, app: WorkflowdevApp, pilot: Pilot[None]) -> Request:
    missing = str(uuid.uuid4())
    app.screen.post_message(OpenExecution(missing))
    return "GET", f"/api/v1/executions/{missing}", None


async def the_slots_of_a_deleted_trigger(server: Api, app: WorkflowdevApp, pilot: Pilot[None]) -> Request:
    flow_id = await save_flow(server, HOOKED)
    trigger = await make_trigger(server, flow_id, "schedule", SCHEDULE, "nightly")
    assert (await server.delete(f"/api/v1/triggers/{trigger['id']}")).status == 204
    app.screen.post_message(OpenSlots(trigger, "hooked · nightly"))
    return "GET", f"/api/v1/triggers/{trigger['id']}/slots", None


@pytest.mark.parametrize(
    "refusal",
    [
        a_flow_deleted_behind_the_panes_back,
        a_trigger_gone_before_its_toggle,
        an_execution_that_never_was,
        the_slots_of_a_deleted_trigger,
    ],
)
async def test_a_refusal_in_any_panes_worker_is_one_error_toast_with_the_servers_message(
    server: Api, refusal: Refusal
) -> None:
    async with open_console(server) as (app, pilot):
        method, path, body = await refusal(server, app, pilot)
        answer = await server.call(method, path, json=body)
        assert answer.status == 404, answer.body
        expected = answer.body["error"]["message"]
        toasts = await wait_for(pilot, lambda: _errors(app), f"the refusal of {method} {path}")
        assert [(n.title, n.severity, n.message) for n in toasts] == [("Refused", "error", expected)]


def _errors(app: WorkflowdevApp) -> list[Notification]:
    return [note for note in app._notifications if note.severity == "error"]
