"""The first pane a new operator sees: every flow, how it last ran, and the keys to run it.

Rows are keyed by flow id. The last status and last run follow `execution.updated` events in
place: changed rows are deferred to the LiveTable, which updates them together on a short
timer, so a burst of executions costs one redraw. Only a reload (on mount, `r`, or after a
reconnection) rebuilds the table; filtering shows and hides rows locally without asking the server.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from typing import ClassVar

from rich.text import Text
from textual import work
from textual.binding import Binding
from textual.binding import BindingType
from textual.widget import Widget
from textual.widgets import DataTable
from textual.widgets import Input
from textual.widgets import Static

from workflowdev.tui.client import ApiError
from workflowdev.tui.dialogs.prompts import Confirm
from workflowdev.tui.editing import edit_flow
from workflowdev.tui.formatting import format_time
from workflowdev.tui.formatting import parse_time
from workflowdev.tui.formatting import status_text
from workflowdev.tui.navigation import OpenFlow
from workflowdev.tui.navigation import RunFlow
from workflowdev.tui.panes.base import Pane
from workflowdev.tui.session import Session
from workflowdev.tui.session import reports_api_errors
from workflowdev.tui.widgets.live_table import Cells
from workflowdev.tui.widgets.live_table import LiveTable

Json = dict[str, Any]
COLUMNS = (
    ("namespace", "Namespace", 10),
    ("name", "Name", 20),
    ("rev", "Rev", 3),
    ("status", "Last status", 12),
    ("run", "Last run", 11),
    ("triggers", "Triggers", 8),
)
"""Key, label, width: sized so every column stays visible at 80 columns."""
FLUSH_DELAY = 0.2
"""Seconds to gather execution events before redrawing the rows they changed."""
NO_FLOWS = "No flows yet — press n to write one, or run `workflowdev up --demo`."
LAST_EXECUTION_FIELDS = ("id", "status", "createdAt")


class FlowsPane(Pane):
    PANE_TITLE = "Flows"
    AUTO_FOCUS = "#flows-table"
    DEFAULT_CSS = """
    FlowsPane #flows-empty { padding: 1 2; color: $text-muted; display: none; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "filter", "Filter", id="flows.filter", key_display="/"),
        Binding("enter", "open", "Open", id="flows.open", priority=True),
        Binding("x", "execute", "Execute", id="flows.execute"),
        Binding("e", "edit", "Edit", id="flows.edit"),
        Binding("n", "new", "New", id="flows.new"),
        Binding("d", "delete", "Delete", id="flows.delete"),
        Binding("r", "reload", "Reload", id="flows.reload", show=False),
        Binding("escape", "clear_filter", "Clear filter", id="flows.clear_filter", show=False),
    ]
    REQUIRES: ClassVar[dict[str, str]] = {"execute": "executor", "edit": "editor", "new": "editor", "delete": "editor"}

    def __init__(self, session: Session) -> None:
        super().__init__(session)
        self.flows: dict[str, Json] = {}
        self.filter_text = ""
        self._execution_flows: dict[str, str] = {}
        """Execution id → flow id, for events that carry only `{id, status}`."""
        self._looked_up: set[str] = set()
        self._reloaded_for: set[str] = set()

    @property
    def table(self) -> LiveTable:
        return self.query_one("#flows-table", LiveTable)

    def compose_body(self) -> Iterable[Widget]:
        yield Input(placeholder="filter by name or namespace · esc clears", id="flows-filter", classes="filter-bar")
        yield LiveTable(id="flows-table", cursor_type="row", zebra_stripes=True, flush_delay=FLUSH_DELAY)
        yield Static(NO_FLOWS, id="flows-empty", markup=False)

    def on_mount(self) -> None:
        for key, label, width in COLUMNS:
            self.table.add_column(label, key=key, width=width)

    # --- loading and showing ----------------------------------------------------------------

    @work(exclusive=True, group="flows-load")
    @reports_api_errors
    async def reload(self) -> None:
        flows = await self.client.flows()
        self.flows = {flow["id"]: flow for flow in flows}
        for flow in flows:
            last = flow.get("lastExecution")
            if last:
                self._execution_flows[last["id"]] = flow["id"]
        self._show_rows()

    def _show_rows(self, select: str | None = None) -> None:
        """Rebuild the rows from what is held (after a load or a new filter), keeping the cursor."""
        flows = sorted(self.flows.values(), key=lambda f: (f["namespace"], f["name"]))
        rows = {flow["id"]: self._cells(flow) for flow in flows if self._matches(flow)}
        self.table.rebuild(rows, select=select or self.table.selected_key)
        self._show_empty_state()

    def _show_empty_state(self) -> None:
        empty = self.query_one("#flows-empty", Static)
        if self.table.row_count:
            empty.display = False
            return
        empty.update(NO_FLOWS if not self.flows else f"No flow matches {self.filter_text!r} — esc clears the filter.")
        empty.display = True

    def _matches(self, flow: Json) -> bool:
        needle = self.filter_text.strip().lower()
        return not needle or needle in f"{flow['namespace']}/{flow['name']}".lower()

    def _cells(self, flow: Json) -> Cells:
        triggers = flow.get("triggersCount") or 0
        return (
            flow["namespace"],
            flow["name"],
            Text(str(flow["revision"]), justify="right"),
            *self._last_run_cells(flow),
            Text(str(triggers), justify="right") if triggers else Text("—", style="dim", justify="right"),
        )

    def _last_run_cells(self, flow: Json) -> tuple[Text, str]:
        last = flow.get("lastExecution") or {}
        return status_text(last.get("status")), format_time(last.get("createdAt"), self.session.clock())

    def selected(self) -> Json | None:
        key = self.table.selected_key
        return self.flows.get(key) if key is not None else None

    # --- live events --------------------------------------------------------------------------

    def on_server_event(self, event: Json) -> None:
        if event.get("type") != "execution.updated":
            return
        data = event.get("data") or {}
        execution_id = data.get("id") or event.get("executionId")
        if not execution_id:
            return
        flow_id = data.get("flowId") or self._execution_flows.get(execution_id)
        if flow_id is not None:
            self._apply(flow_id, {**data, "id": execution_id})
        elif execution_id not in self._looked_up:
            self._looked_up.add(execution_id)
            self._look_up(execution_id)

    @work(group="flows-lookup")
    async def _look_up(self, execution_id: str) -> None:
        """An execution known only by id and status: read it once to learn its flow."""
        try:
            execution, _tasks = await self.client.execution(execution_id)
        except ApiError:
            return  # gone, or the server is away; the next resync reloads anyway
        self._apply(execution["flowId"], execution)

    def _apply(self, flow_id: str, data: Json) -> None:
        """Merge an execution's news into its flow's last run, if it is that flow's newest."""
        self._execution_flows[data["id"]] = flow_id
        flow = self.flows.get(flow_id)
        if flow is None:
            if flow_id not in self._reloaded_for:  # a flow saved elsewhere since the last load
                self._reloaded_for.add(flow_id)
                self.reload()
            return
        news = {key: data[key] for key in LAST_EXECUTION_FIELDS if data.get(key) is not None}
        last = flow.get("lastExecution")
        if last is not None and last["id"] == data["id"]:
            flow["lastExecution"] = {**last, **news}
        elif "createdAt" in news and (last is None or _later(news["createdAt"], last["createdAt"])):
            flow["lastExecution"] = news
        else:
            return  # an older execution (a retry, say): the newest one still speaks for the flow
        if flow_id in self.table.rows:  # a flow the filter hides gets its row when the filter lets it through
            self.table.defer(flow_id, self._cells(flow))

    # --- filter -------------------------------------------------------------------------------

    def action_filter(self) -> None:
        bar = self.query_one("#flows-filter", Input)
        bar.add_class("-visible")
        bar.focus()

    def apply_argument(self, argument: str) -> None:
        """`:flows demo` opens the pane filtered to `demo`."""
        self.action_filter()
        self.query_one("#flows-filter", Input).value = argument

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "flows-filter":
            self.filter_text = event.value
            self._show_rows()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "flows-filter":
            self.table.focus()

    def action_clear_filter(self) -> None:
        bar = self.query_one("#flows-filter", Input)
        bar.value = ""
        bar.remove_class("-visible")
        self.table.focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        bar = self.query_one("#flows-filter", Input)
        if action == "clear_filter" and not bar.has_class("-visible"):
            return False
        if action == "open" and bar.has_focus:
            return False  # enter in the filter bar accepts the filter
        return super().check_action(action, parameters)

    # --- acting on the selected flow -----------------------------------------------------------

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        """A mouse click on a row opens it, as enter does."""
        event.stop()
        self.action_open()

    def action_open(self) -> None:
        flow = self.selected()
        if flow is not None:
            self.post_message(OpenFlow(flow["id"]))

    def action_execute(self) -> None:
        flow = self.selected()
        if flow is None:
            self.notify("No flow selected.", severity="warning")
            return
        self.post_message(RunFlow(flow))

    def action_reload(self) -> None:
        self.reload()

    @work(exclusive=True, group="flows-edit")
    async def action_edit(self) -> None:
        flow = self.selected()
        if flow is None:
            self.notify("No flow selected.", severity="warning")
            return
        saved = await edit_flow(self, flow)
        if saved is not None:
            self._keep(saved)

    @work(exclusive=True, group="flows-edit")
    async def action_new(self) -> None:
        saved = await edit_flow(self, None)
        if saved is not None:
            self._keep(saved)

    def _keep(self, saved: Json) -> None:
        """A flow this console just saved: shown (and selected) without reloading the list."""
        self.flows[saved["id"]] = {**self.flows.get(saved["id"], {}), **saved}
        self._show_rows(select=saved["id"])

    @work(exclusive=True, group="flows-edit")
    @reports_api_errors
    async def action_delete(self) -> None:
        flow = self.selected()
        if flow is None:
            return
        question = (
            f"Delete flow {flow['namespace']}/{flow['name']}?\n"
            "Its triggers are deleted with it; its executions stay readable."
        )
        if not await self.session.ask(Confirm(question, "Delete")):
            return
        await self.client.delete_flow(flow["id"])
        self.flows.pop(flow["id"], None)
        self.table.remove(flow["id"])
        self._show_empty_state()
        self.notify(f"Deleted {flow['namespace']}/{flow['name']}.")


def _later(candidate: str, current: str) -> bool:
    """Whether timestamp `candidate` is at or after `current` (compared as times, not as text)."""
    new, old = parse_time(candidate), parse_time(current)
    return new is not None and (old is None or new >= old)
