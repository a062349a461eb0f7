"""One execution: its task runs as a live tree, the selected task's outputs and error, its log.

Everything after the first read arrives live — task runs from `task.updated` events, the
execution's own state from `execution.updated`, log lines from the logs WebSocket — so the
operator can watch a run, jump to what failed (`!`), and cancel or retry it without reloading.
The tree shows the flow's declared tasks from the start (read from the revision that runs), and
its cursor follows the task that started last.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from typing import ClassVar

from rich.console import Group
from rich.console import RenderableType
from rich.syntax import Syntax
from rich.text import Text
from textual import work
from textual.binding import Binding
from textual.binding import BindingType
from textual.containers import Horizontal
from textual.containers import VerticalScroll
from textual.widget import Widget
from textual.widgets import Static
from textual.widgets import Tree

from workflowdev.tui.client import ApiError
from workflowdev.tui.dialogs.prompts import Confirm
from workflowdev.tui.flow_outline import Planned
from workflowdev.tui.flow_outline import outline
from workflowdev.tui.formatting import TERMINAL_STATUSES
from workflowdev.tui.formatting import elapsed_ms
from workflowdev.tui.formatting import format_duration
from workflowdev.tui.formatting import format_time
from workflowdev.tui.formatting import pretty_json
from workflowdev.tui.formatting import short_id
from workflowdev.tui.formatting import status_text
from workflowdev.tui.navigation import OpenExecution
from workflowdev.tui.panes.base import Json
from workflowdev.tui.panes.execution_state import ExecutionActionsPane
from workflowdev.tui.panes.execution_state import merge_update
from workflowdev.tui.session import Session
from workflowdev.tui.session import reports_api_errors
from workflowdev.tui.widgets.log_tail import LogTail
from workflowdev.tui.widgets.task_tree import NodeRef
from workflowdev.tui.widgets.task_tree import TaskTree

LOG_BATCH = 1000
"""Log lines handed to the tail at once while history pours in; live lines go in as they come."""
LOG_FLUSH_SECONDS = 0.1


def trigger_text(trigger: Json | None) -> str:
    if not trigger:
        return "—"
    by = trigger.get("by") or trigger.get("name") or trigger.get("id")
    return f"{trigger.get('type', '?')} by {by}" if by else str(trigger.get("type", "?"))


class ExecutionScreen(ExecutionActionsPane):
    PANE_TITLE = "Execution"
    DEFAULT_CSS = """
    ExecutionScreen #execution-summary { height: auto; max-height: 3; padding: 0 1; background: $boost; }
    ExecutionScreen #execution-top { height: 1fr; }
    ExecutionScreen TaskTree { width: 1fr; height: 100%; border: round $panel-lighten-2; }
    ExecutionScreen #execution-details-box { width: 1fr; height: 100%; border: round $panel-lighten-2; padding: 0 1; }
    ExecutionScreen LogTail { height: 1fr; border: round $panel-lighten-2; }
    ExecutionScreen TaskTree:focus, ExecutionScreen LogTail:focus { border: round $accent; }
    ExecutionScreen.-zoomed #execution-top { display: none; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back", id="execution.back"),
        Binding("exclamation_mark", "first_failure", "Failed", id="execution.first_failure", key_display="!"),
        Binding("t", "filter_task", "Task", id="execution.filter_task"),
        Binding("z", "zoom", "Zoom", id="execution.zoom", show=False),
        Binding("c", "cancel", "Cancel", id="execution.cancel"),
        Binding("R", "retry", "Retry", id="execution.retry"),
        Binding("p", "replay", "Replay", id="execution.replay"),
    ]
    REQUIRES: ClassVar[dict[str, str]] = {**ExecutionActionsPane.REQUIRES, "replay": "executor"}

    def __init__(self, session: Session, execution_id: str, *, failed_first: bool = False) -> None:
        super().__init__(session)
        self.execution_id = execution_id
        self.failed_first = failed_first
        self.execution: Json | None = None
        self._loaded = False
        self._following = False
        self._last_seq = 0
        self._log_buffer: list[Json] = []
        self._jump_logs_to: str | None = None
        """A task whose first log line to show as soon as it arrives (`!` before the logs came)."""
        self._early: list[Json] = []
        """Events heard while the first read was on its way: applied once it is in."""

    @property
    def tree(self) -> TaskTree:
        return self.query_one(TaskTree)

    @property
    def logs(self) -> LogTail:
        return self.query_one(LogTail)

    @property
    def showing(self) -> bool:
        """False while the screen is not composed yet or already torn down (timers and late replies)."""
        return bool(self.query(LogTail))

    def compose_body(self) -> Iterable[Widget]:
        yield Static("loading…", id="execution-summary")
        details = VerticalScroll(Static("select a task", id="execution-details"), id="execution-details-box")
        details.border_title = "task"
        yield Horizontal(TaskTree(id="execution-tree"), details, id="execution-top")
        yield LogTail(wrap=self.session.wrap_logs, clock=self.session.clock, id="execution-logs")

    def on_mount(self) -> None:
        self.tree.border_title = "tasks"
        self.logs.border_title = "log"
        self.tree.now = self.session.clock()
        self.tree.focus()
        self.set_interval(1.0, self._tick)
        self.set_interval(LOG_FLUSH_SECONDS, self._flush_logs)

    # --- loading ----------------------------------------------------------------------------

    def reload(self) -> None:
        self._load()

    @work(exclusive=True, group="execution-load")
    @reports_api_errors
    async def _load(self) -> None:
        execution, tasks = await self.client.execution(self.execution_id)
        declared = () if self._loaded else await self._declared_tasks(execution)
        if not self.showing:
            return
        self.execution = execution
        self.tree.plan(declared)
        self.tree.load(tasks)
        self.tree.set_ended(execution.get("status") in TERMINAL_STATUSES)
        self._show_summary()
        self._show_details()
        self.refresh_bindings()
        if not self._loaded:
            self._loaded = True
            early, self._early = self._early, []
            for event in early:
                self._apply_event(event, snapshot_terminal=execution.get("status") in TERMINAL_STATUSES)
            self._follow_logs()
            if self.failed_first:
                self.action_first_failure(quiet=True)
            elif self.tree.follow_latest():
                self.call_after_refresh(self._show_details)
            elif self.tree.cursor_line < 0:
                self.tree.cursor_line = 0  # show the first task's details rather than an empty panel
                self._show_details()

    async def _declared_tasks(self, execution: Json) -> tuple[Planned, ...]:
        """The tasks of the flow revision this execution runs; none if it cannot be read (a
        deleted flow, say): the tree then shows the runs alone."""
        flow_id, revision = execution.get("flowId"), execution.get("flowRevision")
        try:
            flow = await self.client.flow(str(flow_id))
            if flow.get("revision") != revision:
                flow = next((r for r in await self.client.revisions(str(flow_id)) if r.get("revision") == revision), {})
        except ApiError:
            return ()  # own handling: the tree shows the runs alone, nothing to report
        return outline(str(flow.get("yamlContent") or ""))

    @work(exclusive=True, group="execution-logs")
    @reports_api_errors
    async def _follow_logs(self) -> None:
        """History, then live lines, until the server says the execution ended."""
        self._following = True
        try:
            async for message in self.client.follow_logs(self.execution_id):
                if message.get("type") != "log":
                    break
                if message["seq"] <= self._last_seq:
                    continue  # a retry replays the history we already show
                self._last_seq = message["seq"]
                self._log_buffer.append(message)
                if len(self._log_buffer) >= LOG_BATCH:
                    self._flush_logs()
                    await asyncio.sleep(0)  # let the screen draw between batches of history
        finally:
            self._following = False
            self._flush_logs()

    def _flush_logs(self) -> None:
        if not self._log_buffer or not self.showing:
            return
        lines, self._log_buffer = self._log_buffer, []
        self.logs.append(lines)
        if self._jump_logs_to is not None and self.logs.jump_to_task(self._jump_logs_to):
            self._jump_logs_to = None

    # --- live updates -----------------------------------------------------------------------

    def on_server_event(self, event: Json) -> None:
        if event.get("executionId") != self.execution_id:
            return
        if not self._loaded:
            self._early.append(event)
        elif self.showing:
            self._apply_event(event)

    def _apply_event(self, event: Json, *, snapshot_terminal: bool = False) -> None:
        """One event about this execution. An early one may be older than the first read: it must
        not take a finished execution back to running (task runs guard themselves in the tree)."""
        data = event.get("data") or {}
        if event.get("type") == "task.updated":
            group = self.tree.apply(data)
            if group is not None and data.get("id") == (self._selected_run() or {}).get("id"):
                self._show_details()
        elif event.get("type") == "execution.updated" and self.execution is not None:
            if snapshot_terminal and data.get("status") not in TERMINAL_STATUSES:
                return
            merge_update(self.execution, data)
            self.tree.set_ended(self.execution.get("status") in TERMINAL_STATUSES)
            self._show_summary()
            self.refresh_bindings()
            if self.execution.get("status") not in TERMINAL_STATUSES and not self._following:
                self._follow_logs()

    def _tick(self) -> None:
        """Once a second: durations of what still runs grow, with no call to the server."""
        if not self.showing:
            return
        now = self.session.clock()
        self.tree.refresh_running(now)
        if self.execution is not None and self.execution.get("status") not in TERMINAL_STATUSES:
            self._show_summary()
        selected = self._selected_run()
        if selected is not None and selected.get("status") not in TERMINAL_STATUSES:
            self._show_details()  # the selected task's own duration grows too

    # --- showing ----------------------------------------------------------------------------

    def _show_summary(self) -> None:
        execution = self.execution
        if execution is None:
            return
        now = self.session.clock()
        line = Text.assemble(
            (f"{execution.get('namespace')}/{execution.get('flowName')}", "bold"),
            f"  {short_id(execution.get('id'))}  ",
            status_text(execution.get("status")),
            f"  {trigger_text(execution.get('trigger'))}",
            f"  started {format_time(execution.get('startedAt'), now)}",
            f"  {format_duration(elapsed_ms(execution, now))}",
            f"  tasks {execution.get('tasksExecuted') or 0}/{execution.get('tasksTotal') or 0}",
        )
        inputs = execution.get("inputs")
        if inputs:
            line.append("\ninputs ", style="dim")
            line.append(json.dumps(inputs, ensure_ascii=False)[:300])
        if execution.get("error"):
            line.append("\n" + str(execution["error"]), style="red")
        self.query_one("#execution-summary", Static).update(line)

    def _selected_ref(self) -> NodeRef | None:
        node = self.tree.cursor_node
        return node.data if node is not None else None

    def _selected_run(self) -> Json | None:
        return self.tree.run_of(self._selected_ref())

    def _show_details(self) -> None:
        self.query_one("#execution-details", Static).update(self._details(self._selected_ref()))

    def _details(self, ref: NodeRef | None) -> RenderableType:
        run = self.tree.run_of(ref)
        planned = self.tree.planned_of(ref)
        if planned is not None:
            return Text.assemble((planned.name, "bold"), (f"  {planned.type}", "dim"), f"\n{self._not_run_yet(planned)}")
        if run is None:
            if ref is not None and ref.kind == "iteration":
                return Text(f"iteration {ref.key.rsplit('[', 1)[-1].rstrip(']')}", style="bold")
            return Text("select a task", style="dim")
        now = self.session.clock()
        head = Text.assemble(
            status_text(run.get("status")),
            ("  " + str(run.get("taskName")), "bold"),
            (f"  {run.get('taskType')}", "dim"),
            f"\nstarted {format_time(run.get('startedAt'), now)}",
            f" · {format_duration(elapsed_ms(run, now))}",
            f" · attempt {run.get('attempt') or 1}",
        )
        parts: list[RenderableType] = [head]
        if run.get("error"):
            parts.append(Text(str(run["error"]), style="bold red"))
        if run.get("outputs") is not None:
            parts.append(Text("outputs", style="dim"))
            parts.append(
                Syntax(
                    pretty_json(run["outputs"]), "json", theme="ansi_dark", background_color="default", word_wrap=True
                )
            )
        return Group(*parts)

    def _not_run_yet(self, planned: Planned) -> str:
        if self.tree.ended:
            return "did not run"
        return "runs only if a task fails" if planned.section == "errors" else "not started yet"

    def on_tree_node_highlighted(self, _event: Tree.NodeHighlighted[NodeRef]) -> None:
        self._show_details()
        self.refresh_bindings()

    # --- keys -------------------------------------------------------------------------------

    def acted_on(self) -> Json | None:
        return self.execution

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "filter_task":
            return self._selected_run() is not None
        if action == "replay" and super().check_action(action, parameters):
            ended = (self.execution or {}).get("status") in TERMINAL_STATUSES
            return True if ended and self._replay_spec() else None
        return super().check_action(action, parameters)

    def unavailable(self, action: str) -> str | None:
        if action == "filter_task":
            return "select a task in the tree first"
        if action == "replay":
            if (self.execution or {}).get("status") not in TERMINAL_STATUSES:
                return "only an ended execution can be replayed"
            return "select the task (or loop iteration) to replay from"
        return super().unavailable(action)

    def _replay_spec(self) -> str | None:
        """The selected node as the API's `fromTask`: `stamp`, `each[1].stamp`, or `each[1]`."""
        ref = self._selected_ref()
        if ref is None or ref.kind not in ("task", "iteration"):
            return None
        if ref.kind == "task" and self.tree.run_of(ref) is None and self.tree.planned_of(ref) is None:
            return None
        segments = ref.key.strip("/").split("/")
        loops = [segment for segment in segments[:-1] if segment.endswith("]")]
        return ".".join([*loops, segments[-1]])

    @work(group="execution-act")
    @reports_api_errors
    async def action_replay(self) -> None:
        """Ask what a replay from the selected task keeps (a dry run), confirm, then open it."""
        spec = self._replay_spec()
        if spec is None or self.execution is None:
            return
        preview = await self.client.replay(self.execution_id, spec, dry_run=True)
        kept = preview.get("keptTasks") or []
        listed = ", ".join(kept[:8]) + (f" and {preview['kept'] - 8} more" if preview.get("kept", 0) > 8 else "")
        question = (
            f"Replay {self.execution.get('namespace')}/{self.execution.get('flowName')} from {spec}?\n"
            f"Runs again in a new execution: {spec} and every task after it.\n"
            f"Kept from this one: {listed or 'nothing (it starts from the first task)'}."
        )
        if not await self.session.ask(Confirm(question, "Replay")):
            return
        started = await self.client.replay(self.execution_id, spec)
        self.post_message(OpenExecution(started["executionId"]))

    def action_back(self) -> None:
        self.dismiss()

    def action_first_failure(self, quiet: bool = False) -> None:
        """Select the first failed task and bring its first log line into view."""
        group = self.tree.first_failed()
        if group is None:
            if not quiet:
                self.notify("No task has failed.", severity="information")
            return
        self.tree.select_group(group)
        self.call_after_refresh(self._show_details)
        name = str(group.latest.get("taskName"))
        self._jump_logs_to = None if self.logs.jump_to_task(name) else name

    def action_filter_task(self) -> None:
        run = self._selected_run()
        if run is None:
            return
        name = run.get("taskName")
        task = None if self.logs.task_filter == name else name
        self.logs.set_filter(task, self.logs.level_filter)

    def action_zoom(self) -> None:
        self.toggle_class("-zoomed")
        if self.has_class("-zoomed"):
            self.logs.focus()
        else:
            self.tree.focus()
