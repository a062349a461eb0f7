"""One execution's screen: the live task tree, the failed task and its error, cancel and retry."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from typing import Any

from rich.console import Console
from textual.widgets import Static

from tests.conftest import Api
from tests.engine.flows_helpers import save_flow
from tests.engine.flows_helpers import start
from tests.engine.flows_helpers import wait_status
from tests.tui.conftest import open_console
from tests.tui.conftest import wait_for
from workflowdev.tui.app import WorkflowdevApp
from workflowdev.tui.dialogs.help import HelpScreen
from workflowdev.tui.dialogs.prompts import Confirm
from workflowdev.tui.panes.execution import ExecutionScreen
from workflowdev.tui.widgets.log_tail import LogTail
from workflowdev.tui.widgets.task_tree import TaskTree

GATED = """
name: gated
tasks:
  - name: greet
    type: util.log
    properties: {message: "hello from greet"}
  - name: checks
    type: flow.parallel
    properties:
      tasks:
        - {name: unit, type: util.log, properties: {message: unit}}
        - {name: lint, type: util.log, properties: {message: lint}}
  - name: each
    type: flow.foreach
    properties:
      items: [a, b]
      tasks:
        - {name: work, type: util.log, properties: {message: "item {{ item }}"}}
  - name: gate
    type: flow.approval
    properties: {message: "go on?"}
  - name: after
    type: util.log
    properties: {message: done}
"""

FAILING = """
name: failing
tasks:
  - name: prepare
    type: util.log
    properties: {message: preparing}
  - name: check
    type: util.assert
    properties: {condition: "{{ false }}", message: "the partner answered 503"}
"""

FLAKY = """
name: flaky
tasks:
  - name: call
    type: test.flaky
    properties: {succeed_on_attempt: 2}
"""


async def open_execution(app: WorkflowdevApp, pilot: Any, execution_id: str, **options: Any) -> ExecutionScreen:
    app.open_execution(execution_id, **options)
    screen = await wait_for(
        pilot, lambda: isinstance(app.screen, ExecutionScreen) and app.screen.execution and app.screen, "the screen"
    )
    return screen


@asynccontextmanager
async def viewing(
    server: Api, yaml: str, **options: Any
) -> AsyncIterator[tuple[WorkflowdevApp, Any, ExecutionScreen, str]]:
    """A finished execution of `yaml`, open on its screen once its tree has loaded."""
    execution_id = await start(server, await save_flow(server, yaml))
    await wait_status(server, execution_id)
    async with open_console(server) as (app, pilot):
        screen = await open_execution(app, pilot, execution_id, **options)
        await wait_for(pilot, lambda: screen.tree.groups, "the tree")
        yield app, pilot, screen, execution_id


def labels(tree: TaskTree) -> dict[str, str]:
    """Every task node's label by its path, as the operator reads it."""
    return {key: str(group.node.label) for key, group in tree.groups.items()}


def details_text(screen: ExecutionScreen) -> str:
    """The details panel as plain text, the way the operator reads it."""
    console = Console(width=200, record=True, file=io.StringIO())
    console.print(screen.query_one("#execution-details", Static).content)
    return console.export_text()


async def test_tree_follows_a_run_live_to_success(server: Api) -> None:
    execution_id = await start(server, await save_flow(server, GATED))
    await wait_status(server, execution_id, {"PAUSED"})
    async with open_console(server) as (app, pilot):
        screen = await open_execution(app, pilot, execution_id)
        tree = screen.tree
        await wait_for(pilot, lambda: "/gate" in tree.groups, "the gate in the tree")
        assert tree.groups["/gate"].latest["status"] == "WAITING"
        assert "/each[0]/work" in tree.groups and "/each[1]/work" in tree.groups, "iterations are grouped under [i]"
        assert "/checks/unit" in tree.groups, "children nest under their container"

        pending = (await server.get("/api/v1/approvals?status=PENDING")).body
        assert (await server.post(f"/api/v1/approvals/{pending[0]['id']}/approve", json={})).status == 200

        def all_done() -> bool:
            shown = labels(tree)
            return "/after" in shown and all(label.startswith("✔") for label in shown.values())

        await wait_for(pilot, all_done, "every task node to show ✔")
        await wait_for(pilot, lambda: screen.execution["status"] == "SUCCESS", "the execution to read SUCCESS")
        await wait_for(pilot, lambda: screen.logs.line_count >= 5, "the log lines")


def selected_path(screen: ExecutionScreen) -> str | None:
    node = screen.tree.cursor_node
    return node.data.key if node is not None and node.data is not None else None


async def test_bang_selects_the_failed_task_and_shows_its_error(server: Api) -> None:
    async with viewing(server, FAILING) as (_app, pilot, screen, _execution_id):
        await pilot.press("exclamation_mark")
        await wait_for(pilot, lambda: selected_path(screen) == "/check", "the failed task to be selected")
        assert "the partner answered 503" in details_text(screen)


async def test_opening_on_the_first_failure(server: Api) -> None:
    async with viewing(server, FAILING, failed_first=True) as (_app, pilot, screen, _execution_id):
        await wait_for(pilot, lambda: selected_path(screen) == "/check", "the failed task selected on open")
        await wait_for(pilot, lambda: not screen.logs.follow, "the log to stop following at the failed task's lines")


async def test_retry_asks_then_runs_the_failed_task_again(server: Api) -> None:
    async with viewing(server, FLAKY) as (app, pilot, screen, execution_id):
        await pilot.press("R")
        await wait_for(pilot, lambda: isinstance(app.screen, Confirm), "the confirmation")
        await pilot.press("y")
        await wait_status(server, execution_id, {"SUCCESS"})
        group = screen.tree.groups["/call"]
        await wait_for(pilot, lambda: str(group.node.label).startswith("✔"), "the task to turn ✔ live")
        assert "attempt 2" in str(group.node.label)
        assert [str(child.label) for child in group.node.children][0].startswith("✖ attempt 1")


async def test_cancel_needs_a_state_that_allows_it(server: Api) -> None:
    async with viewing(server, FAILING) as (app, _pilot, screen, _execution_id):
        assert screen.check_action("cancel", ()) is None, "a finished execution cannot be cancelled"
        assert screen.check_action("retry", ()) is True
        app.role = "viewer"
        assert screen.check_action("retry", ()) is False, "a viewer may not retry"


async def test_help_on_an_execution_names_each_key_once(server: Api) -> None:
    """The log's End is shown as G: two keys of one binding must read `G`, not `G, G`."""
    async with viewing(server, FAILING) as (app, pilot, screen, _id):
        screen.query_one(LogTail).focus()
        await pilot.pause()
        await pilot.press("question_mark")
        shown = await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen) and app.screen, "help")
        assert shown.keys
        for item in shown.keys:
            keys = item.keys.split(", ")
            assert len(keys) == len(set(keys)), item


async def test_a_running_task_s_own_duration_grows_in_the_details(server: Api) -> None:
    sleeping = "name: napping\ntasks:\n  - {name: nap, type: util.sleep, properties: {duration: 60s}}\n"
    execution_id = await start(server, await save_flow(server, sleeping))
    await wait_status(server, execution_id, {"RUNNING"})
    now = [datetime.now(UTC)]
    async with open_console(server, clock=lambda: now[0]) as (app, pilot):
        screen = await open_execution(app, pilot, execution_id)
        node = await wait_for(pilot, lambda: screen.tree.groups.get("/nap"), "the running task")
        screen.tree.move_cursor(node.node)
        await wait_for(pilot, lambda: "nap" in details_text(screen), "its details")
        now[0] += timedelta(minutes=5)
        await wait_for(pilot, lambda: "5m0" in details_text(screen), "the details to count the five minutes")
        await server.post(f"/api/v1/executions/{execution_id}/cancel")


PLANNED = """
name: planned
tasks:
  - name: gate
    type: flow.approval
    properties: {message: "go on?"}
  - name: branch
    type: flow.if
    properties:
      condition: "{{ true }}"
      then:
        - {name: taken, type: util.log, properties: {message: "then"}}
      else:
        - {name: untaken, type: util.log, properties: {message: "else"}}
  - name: after
    type: util.log
    properties: {message: done}
errors:
  - {name: alert, type: util.log, properties: {message: "oops"}}
finally:
  - {name: wrap_up, type: util.log, properties: {message: "bye"}}
"""


async def approve_waiting(server: Api, execution_id: str) -> None:
    pending = [a for a in (await server.get("/api/v1/approvals?status=PENDING")).body if a["executionId"] == execution_id]
    assert len(pending) == 1, pending
    assert (await server.post(f"/api/v1/approvals/{pending[0]['id']}/approve", json={})).status == 200


def root_order(tree: TaskTree) -> list[str]:
    return [child.data.key for child in tree.root.children if child.data is not None]


async def test_tasks_not_started_yet_are_shown_in_the_flows_order(server: Api) -> None:
    execution_id = await start(server, await save_flow(server, PLANNED))
    await wait_status(server, execution_id, {"PAUSED"})
    async with open_console(server) as (app, pilot):
        screen = await open_execution(app, pilot, execution_id)
        tree = screen.tree
        await wait_for(pilot, lambda: selected_path(screen) == "/gate", "the cursor on the waiting gate")
        assert root_order(tree) == ["/gate", "/branch", "/after", "/alert", "/wrap_up"]
        assert {"/branch/taken", "/branch/untaken", "/after", "/alert", "/wrap_up"} <= set(tree.planned)
        waiting_after = tree.planned["/after"][1]
        assert str(waiting_after.label).startswith("· after util.log")
        assert "if a task fails" in str(tree.planned["/alert"][1].label)
        tree.move_cursor(waiting_after)
        await wait_for(pilot, lambda: "not started yet" in details_text(screen), "the planned task's details")

        await approve_waiting(server, execution_id)
        await wait_for(pilot, lambda: screen.execution["status"] == "SUCCESS", "the execution to end")
        await wait_for(pilot, lambda: "/wrap_up" in tree.groups, "the finally task to run")
        assert tree.groups["/after"].node is waiting_after, "the run took over the node that waited for it"
        assert root_order(tree) == ["/gate", "/branch", "/after", "/alert", "/wrap_up"]
        assert "/branch/taken" in tree.groups
        await wait_for(pilot, lambda: "not run" in str(tree.planned["/alert"][1].label), "the handler that never ran")
        assert "/branch/untaken" not in tree.groups or tree.groups["/branch/untaken"].latest["status"] == "SKIPPED"


GATES = """
name: gates
tasks:
  - {name: g1, type: flow.approval, properties: {message: one}}
  - {name: g2, type: flow.approval, properties: {message: two}}
  - {name: g3, type: flow.approval, properties: {message: three}}
  - {name: last, type: util.log, properties: {message: done}}
"""


async def test_the_cursor_follows_the_running_task_until_the_operator_moves_it(server: Api) -> None:
    execution_id = await start(server, await save_flow(server, GATES))
    await wait_status(server, execution_id, {"PAUSED"})
    async with open_console(server) as (app, pilot):
        screen = await open_execution(app, pilot, execution_id)
        await wait_for(pilot, lambda: selected_path(screen) == "/g1", "the cursor on the waiting gate")

        await approve_waiting(server, execution_id)
        await wait_for(pilot, lambda: selected_path(screen) == "/g2", "the cursor to follow to the next gate")
        await wait_for(pilot, lambda: "g2" in details_text(screen), "the followed task's details")

        await pilot.press("up")
        await wait_for(pilot, lambda: selected_path(screen) == "/g1", "the operator's own move")
        await approve_waiting(server, execution_id)
        tree = screen.tree
        await wait_for(pilot, lambda: "/g3" in tree.groups and tree.groups["/g3"].latest["status"] == "WAITING", "g3")
        assert selected_path(screen) == "/g1", "a cursor the operator moved to a finished task stays there"

        await pilot.press("down", "down")
        await wait_for(pilot, lambda: selected_path(screen) == "/g3", "the cursor back on the running task")
        await approve_waiting(server, execution_id)
        await wait_for(pilot, lambda: selected_path(screen) == "/last", "following to resume")


LOOPED = """
name: looped
tasks:
  - name: each
    type: flow.foreach
    properties:
      items: [a, b, c]
      tasks:
        - {name: stamp, type: util.echo, properties: {value: "{{ item }}"}}
  - {name: after, type: util.log, properties: {message: done}}
"""


async def test_p_replays_from_the_selected_iteration_after_saying_what_it_keeps(server: Api) -> None:
    async with viewing(server, LOOPED) as (app, pilot, screen, execution_id):
        tree = screen.tree
        await wait_for(pilot, lambda: "/each[1]/stamp" in tree.groups, "the iterations")
        tree.select_group(tree.groups["/each[1]/stamp"])
        await wait_for(pilot, lambda: selected_path(screen) == "/each[1]/stamp", "the second iteration's task")
        await wait_for(pilot, lambda: screen.check_action("replay", ()) is True, "replay offered")
        await pilot.press("p")
        confirm = await wait_for(pilot, lambda: isinstance(app.screen, Confirm) and app.screen, "the confirmation")
        assert "from each[1].stamp?" in confirm.question
        assert "Kept from this one: each[0].stamp, each[2].stamp." in confirm.question
        await pilot.press("y")
        replay = await wait_for(
            pilot, lambda: isinstance(app.screen, ExecutionScreen) and app.screen.execution_id != execution_id and app.screen,
            "the replay's own screen",
        )  # fmt: skip
        body = await wait_status(server, replay.execution_id)
        kept = sorted(t["iteration"] for t in body["tasks"] if t["taskName"] == "stamp" and t["replayedFrom"] == execution_id)
        assert kept == [0, 2]


async def test_replay_waits_for_the_end_and_a_selected_task(server: Api) -> None:
    async with viewing(server, FAILING) as (app, _pilot, screen, _execution_id):
        assert screen.check_action("replay", ()) is True, "a task is selected on open"
        app.role = "viewer"
        assert screen.check_action("replay", ()) is False, "a viewer may not replay"
