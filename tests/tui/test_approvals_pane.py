"""Gates in the console: the alert wherever you are, the decision prompt, and the approvals table."""

from __future__ import annotations

import io
from typing import Any

import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from rich.console import Console
from textual.containers import VerticalScroll
from textual.widgets import DataTable
from textual.widgets import Static

from tests.conftest import Api
from tests.engine.flows_helpers import save_flow
from tests.engine.flows_helpers import start
from tests.engine.flows_helpers import wait_status
from tests.tui.conftest import open_console
from tests.tui.conftest import wait_for
from workflowdev.tui.dialogs.approval import ApprovalModal
from workflowdev.tui.dialogs.prompts import Confirm
from workflowdev.tui.gate_context import ran_before
from workflowdev.tui.gate_context import runs_after
from workflowdev.tui.panes.approvals import ApprovalsPane
from workflowdev.tui.window_title import set_title

GATED = """
name: gated
namespace: shop
inputs:
  - {name: version, type: string, default: "1.0"}
tasks:
  - name: build
    type: util.log
    properties: {message: building}
  - name: gate
    type: flow.approval
    properties:
      message: ship {{ inputs.version }}?
      context: {ticket: OPS-7}
  - name: deploy
    type: util.log
    properties: {message: deploying}
"""

NESTED = """
name: nested
tasks:
  - name: prepare
    type: util.log
    properties: {message: x}
  - name: steps
    type: flow.sequential
    properties:
      tasks:
        - {name: gate, type: flow.approval, properties: {message: "ok?"}}
        - {name: inner_after, type: util.log, properties: {message: y}}
  - name: outer_after
    type: util.log
    properties: {message: z}
"""


def text_of(widget: Static) -> str:
    """What a Static shows, as plain text (its content may be any Rich renderable)."""
    console = Console(file=io.StringIO(), width=120, color_system=None)
    console.print(widget.content)
    return console.file.getvalue()  # type: ignore[attr-defined]


async def paused_gate(server: Api, **inputs: Any) -> tuple[str, dict[str, Any]]:
    execution_id = await start(server, await save_flow(server, GATED), inputs)
    await wait_status(server, execution_id, {"PAUSED"})
    (approval,) = (await server.get("/api/v1/approvals", params={"status": "PENDING"})).body
    return execution_id, approval


async def open_modal(app: Any, pilot: Any) -> ApprovalModal:
    await pilot.press("ctrl+g")
    modal = await wait_for(pilot, lambda: isinstance(app.screen, ApprovalModal) and app.screen, "the approval prompt")
    await wait_for(pilot, lambda: "deploy" in text_of(modal.query_one("#after", Static)), "what runs after the gate")
    return modal


async def test_a_gate_opening_anywhere_is_announced_and_approved_with_a_comment(server: Api) -> None:
    flow_id = await save_flow(server, GATED)
    async with open_console(server) as (app, pilot):
        assert app.current_mode == "flows" and app.pending_gates == 0
        execution_id = await start(server, flow_id, {"version": "2.5"})

        await wait_for(pilot, lambda: app.pending_gates == 1, "the header to count the gate")
        toasts = [n for n in app._notifications if "Gate opened" in n.title]
        assert toasts and "ship 2.5?" in toasts[0].message

        modal = await open_modal(app, pilot)
        before = text_of(modal.query_one("#before", Static))
        after = text_of(modal.query_one("#after", Static))
        assert "✔ build" in before and "gate" not in before and "deploy" not in before
        assert "deploy" in after and "util.log" in after and "build" not in after
        assert "shop/gated" in text_of(modal.query_one("#execution", Static))
        assert execution_id in text_of(modal.query_one("#execution", Static))
        assert "ship 2.5?" in text_of(modal.query_one("#message", Static))
        assert "OPS-7" in text_of(modal.query_one("#context", Static))

        await pilot.press("c", *"looks good", "enter", "a")
        await wait_for(pilot, lambda: isinstance(app.screen, Confirm), "the approve confirmation")
        await pilot.press("y")
        await wait_for(pilot, lambda: not isinstance(app.screen, (ApprovalModal, Confirm)), "the prompt to close")
        await wait_status(server, execution_id, {"SUCCESS"})
        (decided,) = (await server.get("/api/v1/approvals", params={"status": "APPROVED"})).body
        assert (decided["comment"], decided["decidedBy"]) == ("looks good", "anonymous")
        await wait_for(pilot, lambda: app.pending_gates == 0, "the header to drop the gate")


async def test_approve_asks_first_unless_the_setting_is_off(server: Api) -> None:
    execution_id, approval = await paused_gate(server)
    async with open_console(server) as (app, pilot):
        await open_modal(app, pilot)
        await pilot.press("a")
        confirm = await wait_for(pilot, lambda: isinstance(app.screen, Confirm) and app.screen, "the confirmation")
        assert "Approve gate gate?" in confirm.question
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, ApprovalModal), "back at the prompt")
        assert (await server.get(f"/api/v1/approvals/{approval['id']}")).body["status"] == "PENDING"
    async with open_console(server, confirm_decisions=False) as (app, pilot):
        await open_modal(app, pilot)
        await pilot.press("a")  # one key: the operator said so in the config file
        await wait_status(server, execution_id, {"SUCCESS"})


async def test_the_prompt_scrolls_from_the_keyboard_at_80x24(server: Api) -> None:
    await paused_gate(server)
    async with open_console(server, size=(80, 24)) as (app, pilot):
        modal = await open_modal(app, pilot)
        sections = modal.query_one(VerticalScroll)
        await wait_for(pilot, lambda: sections.max_scroll_y > 0, "more sections than fit")
        await pilot.press("end")
        await wait_for(pilot, lambda: sections.scroll_y == sections.max_scroll_y, "the last section in view")
        await pilot.press("k")
        await wait_for(pilot, lambda: sections.scroll_y == sections.max_scroll_y - 1, "one line up")
        await pilot.press("g")
        await wait_for(pilot, lambda: sections.scroll_y == 0, "back at the top")


async def test_reject_asks_first_and_fails_the_execution(server: Api) -> None:
    execution_id, approval = await paused_gate(server)
    async with open_console(server) as (app, pilot):
        await open_modal(app, pilot)
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, Confirm), "the reject confirmation")
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, ApprovalModal), "back at the prompt")
        assert (await server.get(f"/api/v1/approvals/{approval['id']}")).body["status"] == "PENDING"

        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, Confirm), "the reject confirmation")
        await pilot.press("y")
        await wait_status(server, execution_id, {"FAILED"})
        assert (await server.get(f"/api/v1/approvals/{approval['id']}")).body["status"] == "REJECTED"


async def test_a_viewer_sees_the_context_only_and_a_gate_decided_elsewhere_says_who(server: Api) -> None:
    execution_id, approval = await paused_gate(server)
    async with open_console(server) as (app, pilot):
        app.role = "viewer"
        modal = await open_modal(app, pilot)
        assert "build" in text_of(modal.query_one("#before", Static))
        assert not modal.query("#approve") and not modal.query("#comment")
        assert modal.check_action("approve", ()) is False and modal.check_action("reject", ()) is False
        await pilot.press("a", "escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, ApprovalModal), "the prompt to close")
        assert (await server.get(f"/api/v1/approvals/{approval['id']}")).body["status"] == "PENDING"

        app.role = "executor"
        await open_modal(app, pilot)
        rejected = await server.post(f"/api/v1/approvals/{approval['id']}/reject", json={"comment": "too late"})
        assert rejected.status == 200

        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(app.screen, Confirm), "the approve confirmation")
        await pilot.press("y")

        await wait_for(pilot, lambda: not isinstance(app.screen, (ApprovalModal, Confirm)), "the prompt to close")
        warnings = [n.message for n in app._notifications if n.title == "Already decided"]
        assert warnings == ["Gate gate was already rejected by anonymous: too late"]
        assert (await server.get(f"/api/v1/approvals/{approval['id']}")).body["status"] == "REJECTED"
        await wait_status(server, execution_id, {"FAILED"})


async def test_the_pane_lists_pending_gates_live_and_history_on_h(server: Api) -> None:
    first_execution, first = await paused_gate(server, version="1")
    async with open_console(server, size=(80, 24)) as (app, pilot):
        await pilot.press("3")
        pane = await wait_for(pilot, lambda: isinstance(app.screen, ApprovalsPane) and app.screen, "the pane")
        table = pane.query_one(DataTable)
        await wait_for(pilot, lambda: table.row_count == 1, "the pending gate")
        row = [str(cell) for cell in table.get_row(first["id"])]
        assert "shop/gated" in row and first_execution[:8] in row and "ship 1?" in row
        await wait_for(pilot, lambda: "OPS-7" in text_of(pane.query_one("#gate-text", Static)), "the gate's context")
        await wait_for(pilot, lambda: '"version": "1"' in text_of(pane.query_one("#gate-text", Static)), "inputs")

        second_execution = await start(server, await save_flow(server, GATED.replace("gated", "other")))
        await wait_for(pilot, lambda: table.row_count == 2, "the new gate to appear live")
        assert table.get_row_index(first["id"]) == 0  # oldest first, as the queue is answered
        await server.post(f"/api/v1/approvals/{first['id']}/approve", json={})
        await wait_for(pilot, lambda: table.row_count == 1, "the decided gate to leave the pending view")
        assert first["id"] not in pane.approvals

        await pilot.press("h")
        await wait_for(pilot, lambda: table.row_count == 2, "history to show the decided gate")
        assert {a["status"] for a in pane.approvals.values()} == {"APPROVED", "PENDING"}
        (pending,) = [a for a in pane.approvals.values() if a["status"] == "PENDING"]
        assert pending["executionId"] == second_execution
        assert "by anonymous" in [str(cell) for cell in table.get_row(first["id"])]  # who decided

        await pilot.press("enter")
        modal = await wait_for(pilot, lambda: isinstance(app.screen, ApprovalModal) and app.screen, "the prompt")
        assert modal.approval["id"] in pane.approvals


def test_runs_after_lists_later_siblings_then_the_ancestors_followers() -> None:
    assert runs_after(NESTED, "gate") == [("inner_after", "util.log"), ("outer_after", "util.log")]
    assert runs_after(GATED, "gate") == [("deploy", "util.log")]
    assert runs_after(GATED, "deploy") == []


@pytest.mark.parametrize("yaml_content", ["", "tasks: [", "- a list", "tasks: {gate: 1}", None])
def test_runs_after_gives_up_quietly_on_what_it_cannot_read(yaml_content: str | None) -> None:
    assert runs_after(yaml_content, "gate") is None


def test_ran_before_keeps_runs_finished_when_the_gate_opened() -> None:
    tasks = [
        {"taskName": "b", "startedAt": "2026-01-01T10:00:02Z", "finishedAt": "2026-01-01T10:00:03Z"},
        {"taskName": "a", "startedAt": "2026-01-01T10:00:00Z", "finishedAt": "2026-01-01T10:00:01Z"},
        {"taskName": "gate", "startedAt": "2026-01-01T10:00:04Z", "finishedAt": "2026-01-01T10:09:00Z"},
        {"taskName": "late", "startedAt": "2026-01-01T10:09:01Z", "finishedAt": "2026-01-01T10:09:02Z"},
        {"taskName": "running", "startedAt": "2026-01-01T10:00:02Z", "finishedAt": None},
    ]
    opened = {"createdAt": "2026-01-01T10:00:04Z"}
    assert [t["taskName"] for t in ran_before(tasks, opened)] == ["a", "b"]


async def test_gate_alert_rings_and_names_the_gate_in_the_window_title(server: Api) -> None:
    flow_id = await save_flow(server, GATED)
    async with open_console(server, gate_alert=True) as (app, pilot):
        written: list[str] = []
        bells: list[bool] = []
        assert app._driver is not None
        original_write = app._driver.write
        app._driver.write = lambda data: (written.append(data), original_write(data))[1]  # type: ignore[method-assign]
        app.bell = lambda: bells.append(True)  # type: ignore[method-assign]
        execution_id = await start(server, flow_id)
        await wait_for(pilot, lambda: app.pending_gates == 1, "the gate counted")
        titles = [data for data in written if data.startswith(("\x1b[22;2t", "\x1b]2;"))]
        assert bells == [True]
        assert titles and titles[0].startswith("\x1b[22;2t\x1b]2;⚑ gate gate waiting"), "saved, then set"
        (approval,) = (await server.get("/api/v1/approvals", params={"status": "PENDING"})).body
        assert (await server.post(f"/api/v1/approvals/{approval['id']}/approve", json={})).status == 200
        await wait_status(server, execution_id, {"SUCCESS"})
        await wait_for(pilot, lambda: "\x1b[23;2t" in written, "the operator's own title restored")


async def test_without_gate_alert_the_terminal_is_left_alone(server: Api) -> None:
    flow_id = await save_flow(server, GATED)
    async with open_console(server) as (app, pilot):
        bells: list[bool] = []
        app.bell = lambda: bells.append(True)  # type: ignore[method-assign]
        await start(server, flow_id)
        await wait_for(pilot, lambda: app.pending_gates == 1, "the gate counted")
        assert bells == [] and not app._title_saved


def test_a_title_cannot_carry_control_characters() -> None:
    assert set_title("gate\x07\x1b]0;evil\x1b\\ok") == "\x1b]2;gate]0;evil\\ok\x07"


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=200))
def test_any_title_is_one_sequence(text: str) -> None:
    sequence = set_title(text)
    body = sequence.removeprefix("\x1b]2;").removesuffix("\x07")
    assert sequence == f"\x1b]2;{body}\x07" and len(body) <= 80
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in body)
