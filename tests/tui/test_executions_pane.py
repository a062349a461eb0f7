"""The executions table: live rows updated in place, filters, paging, cancel with confirmation."""

from __future__ import annotations

import uuid
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from typing import Any

from tests.conftest import Api
from tests.engine.flows_helpers import save_flow
from tests.engine.flows_helpers import start
from tests.engine.flows_helpers import wait_status
from tests.tui.conftest import open_console
from tests.tui.conftest import wait_for
from workflowdev.store import executions as store
from workflowdev.tui.app import WorkflowdevApp
from workflowdev.tui.dialogs.prompts import Confirm
from workflowdev.tui.panes.executions import PAGE_SIZE
from workflowdev.tui.panes.executions import ExecutionsPane

GATED = """
name: gated
tasks:
  - name: gate
    type: flow.approval
    properties: {message: "go on?"}
"""
HANGING = """
name: hanging
tasks:
  - name: wait
    type: test.hang
"""
FAILING = """
name: failing
tasks:
  - name: check
    type: util.assert
    properties: {condition: "{{ false }}", message: nope}
"""
QUICK = """
name: quick
tasks:
  - name: hello
    type: util.log
    properties: {message: hi}
"""


async def executions_pane(app: WorkflowdevApp, pilot: Any, rows: int) -> ExecutionsPane:
    app.go("executions")
    pane = await wait_for(pilot, lambda: isinstance(app.screen, ExecutionsPane) and app.screen, "the executions pane")
    await wait_for(pilot, lambda: len(pane.rows) == rows, f"{rows} rows")
    return pane


def status_cell(pane: ExecutionsPane, execution_id: str) -> str:
    return str(pane.table.get_cell(execution_id, "status"))


def row_keys(pane: ExecutionsPane) -> list[str]:
    return [row.key.value for row in pane.table.ordered_rows]


async def approve_gate_of(server: Api, execution_id: str) -> None:
    pending = (await server.get("/api/v1/approvals?status=PENDING")).body
    gate = next(a for a in pending if a["executionId"] == execution_id)
    assert (await server.post(f"/api/v1/approvals/{gate['id']}/approve", json={})).status == 200


async def test_rows_update_in_place_and_the_cursor_stays(server: Api) -> None:
    flow_id = await save_flow(server, GATED)
    first, second, third = [await start(server, flow_id) for _ in range(3)]
    for execution_id in (first, second, third):
        await wait_status(server, execution_id, {"PAUSED"})
    async with open_console(server) as (app, pilot):
        pane = await executions_pane(app, pilot, 3)
        assert row_keys(pane) == [third, second, first], "newest first"
        await pilot.press("down")
        assert pane.selected()["id"] == second

        await approve_gate_of(server, first)
        await approve_gate_of(server, third)
        await wait_for(pilot, lambda: "SUCCESS" in status_cell(pane, first), "the first row to turn SUCCESS")
        await wait_for(pilot, lambda: "SUCCESS" in status_cell(pane, third), "the third row to turn SUCCESS")
        assert row_keys(pane) == [third, second, first], "the same rows, in the same order"
        assert pane.selected()["id"] == second, "the cursor stays on its execution"

        newest = await start(server, flow_id)
        await wait_for(pilot, lambda: row_keys(pane)[:1] == [newest], "the new execution at the top")
        assert pane.selected()["id"] == second, "a row added above does not move the cursor off its execution"


async def failed_and_succeeded(server: Api) -> tuple[str, str]:
    failed = await start(server, await save_flow(server, FAILING))
    succeeded = await start(server, await save_flow(server, QUICK))
    await wait_status(server, failed)
    await wait_status(server, succeeded)
    return failed, succeeded


async def test_status_filter_narrows_the_rows(server: Api) -> None:
    failed, succeeded = await failed_and_succeeded(server)
    async with open_console(server) as (app, pilot):
        pane = await executions_pane(app, pilot, 2)
        await pilot.press("colon", *"executions failed", "enter")
        await wait_for(pilot, lambda: row_keys(pane) == [failed], "only the failed execution")
        await pilot.press("s")  # FAILED → SUCCESS
        await wait_for(pilot, lambda: row_keys(pane) == [succeeded], "only the successful execution")


async def test_flow_filter_narrows_the_rows(server: Api) -> None:
    failed, succeeded = await failed_and_succeeded(server)
    async with open_console(server) as (app, pilot):
        pane = await executions_pane(app, pilot, 2)
        await pilot.press("slash", *"quic")
        await wait_for(pilot, lambda: row_keys(pane) == [succeeded], "only the quick flow's execution")
        await pilot.press("escape")
        await wait_for(pilot, lambda: pane.table.row_count == 2, "every execution again")


async def test_cancel_asks_first(server: Api) -> None:
    execution_id = await start(server, await save_flow(server, HANGING))
    await wait_status(server, execution_id, {"RUNNING"})
    async with open_console(server) as (app, pilot):
        pane = await executions_pane(app, pilot, 1)
        await wait_for(pilot, lambda: "RUNNING" in status_cell(pane, execution_id), "the running row")

        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, Confirm), "the confirmation")
        await pilot.press("n")
        await wait_for(pilot, lambda: app.screen is pane, "the dialog to close")
        assert (await server.get(f"/api/v1/executions/{execution_id}")).body["execution"]["status"] == "RUNNING"

        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, Confirm), "the confirmation")
        await pilot.press("y")
        await wait_status(server, execution_id, {"CANCELLED"})
        await wait_for(pilot, lambda: "CANCELLED" in status_cell(pane, execution_id), "the row to read CANCELLED")
        assert pane.check_action("cancel", ()) is None, "a cancelled execution cannot be cancelled again"


async def test_pages_in_more_as_the_cursor_nears_the_end(server: Api) -> None:
    flow_id = await save_flow(server, QUICK)
    total = 1200
    await insert_finished_executions(server, flow_id, total)
    async with open_console(server) as (app, pilot):
        pane = await executions_pane(app, pilot, PAGE_SIZE)
        while pane.table.row_count < total:
            shown = pane.table.row_count
            await pilot.press("ctrl+end")
            await wait_for(pilot, lambda n=shown: pane.table.row_count > n, f"the page after row {shown}")
            assert pane.table.row_count == min(shown + PAGE_SIZE, total), "one page at a time"
        keys = row_keys(pane)
        assert len(set(keys)) == total
        created = [pane.rows[key]["createdAt"] for key in keys]
        assert created == sorted(created, reverse=True), "still newest first"


async def insert_finished_executions(server: Api, flow_id: str, count: int) -> None:
    """Many finished executions at once, straight into the store: running them would take minutes."""
    flow = (await server.get(f"/api/v1/flows/{flow_id}")).body
    base = datetime(2026, 1, 1, tzinfo=UTC)
    rows = [
        {
            "id": str(uuid.uuid4()),
            "flow_id": flow_id,
            "flow_name": flow["name"],
            "namespace": flow["namespace"],
            "flow_revision": 1,
            "status": "SUCCESS",
            "tasks_total": 1,
            "tasks_executed": 1,
            "inputs": {},
            "labels": {},
            "trigger": {"type": "manual"},
            "error": None,
            "outputs": None,
            "parent_execution_id": None,
            "parent_task_run_id": None,
            "created_at": base + timedelta(seconds=i),
            "started_at": base + timedelta(seconds=i),
            "finished_at": base + timedelta(seconds=i, milliseconds=40),
            "duration_ms": 40,
            "lease_owner": None,
            "lease_expires_at": None,
            "cancel_requested": False,
        }
        for i in range(count)
    ]
    async with server.runtime.db.write() as conn:
        await conn.execute(store.INSERT_EXECUTION, rows)


async def test_role_hides_cancel_and_retry(server: Api) -> None:
    execution_id = await start(server, await save_flow(server, FAILING))
    await wait_status(server, execution_id)
    async with open_console(server) as (app, pilot):
        pane = await executions_pane(app, pilot, 1)
        assert pane.check_action("retry", ()) is True
        assert pane.check_action("cancel", ()) is None, "shown disabled: a failed execution cannot be cancelled"
        app.role = "viewer"
        assert pane.check_action("retry", ()) is False
        assert pane.check_action("open", ()) is True
