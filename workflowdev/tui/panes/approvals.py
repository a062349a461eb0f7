"""Approvals: the gates waiting for a person, oldest first, and on `h` the decided ones too.

The table is live: a gate that opens anywhere appears at once, a decided one leaves the pending
view (or, with history shown, changes its status in place). The row under the cursor shows its
message, context and execution inputs below the table; enter opens the decision prompt.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterable
from datetime import datetime
from typing import Any
from typing import ClassVar

from rich.console import Group
from rich.console import RenderableType
from rich.text import Text
from textual import work
from textual.binding import Binding
from textual.binding import BindingType
from textual.containers import VerticalScroll
from textual.widget import Widget
from textual.widgets import DataTable
from textual.widgets import Static

from workflowdev.tui.client import ApiError
from workflowdev.tui.dialogs.approval import ApprovalModal
from workflowdev.tui.formatting import format_duration
from workflowdev.tui.formatting import format_time
from workflowdev.tui.formatting import parse_time
from workflowdev.tui.formatting import short_id
from workflowdev.tui.formatting import status_glyph
from workflowdev.tui.gate_context import one_line_json
from workflowdev.tui.navigation import OpenApproval
from workflowdev.tui.panes.base import Pane
from workflowdev.tui.session import Session
from workflowdev.tui.session import reports_api_errors
from workflowdev.tui.widgets.live_table import Cells
from workflowdev.tui.widgets.live_table import LiveTable

__all__ = ["ApprovalModal", "ApprovalsPane"]

Json = dict[str, Any]
COLUMNS = (("", "status"), ("Age", "age"), ("Flow", "flow"), ("Execution", "execution"), ("Task", "task"),
           ("Message", "message"), ("Expires / by", "expires"))  # fmt: skip
"""(label, column key): narrow ones first, so the message takes what is left at 80 columns."""


class ApprovalsPane(Pane):
    PANE_TITLE = "Approvals"
    DEFAULT_CSS = """
    ApprovalsPane DataTable { height: 1fr; }
    ApprovalsPane #gate-detail {
        height: auto; max-height: 40%; border-top: solid $primary; padding: 0 1;
    }
    ApprovalsPane #gate-detail.-empty { display: none; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "open", "Decide", id="approvals.open", priority=True),
        Binding("h", "toggle_history", "History", id="approvals.history"),
    ]

    def __init__(self, session: Session) -> None:
        super().__init__(session)
        self.show_history = False
        self.approvals: dict[str, Json] = {}
        """Approval id → its JSON, for every row of the table."""
        self.flow_names: dict[str, str] = {}
        """Flow id → `namespace/name`; approvals carry only the id."""

    def compose_body(self) -> Iterable[Widget]:
        table = LiveTable(cursor_type="row", zebra_stripes=True, id="gates")
        for label, key in COLUMNS:
            table.add_column(label, key=key)
        yield table
        with VerticalScroll(id="gate-detail", classes="-empty"):
            yield Static("", id="gate-text")

    @property
    def table(self) -> LiveTable:
        return self.query_one("#gates", LiveTable)

    def on_mount(self) -> None:
        super().on_mount()
        self.set_interval(1.0, self._tick_ages)

    # --- loading -------------------------------------------------------------------------------

    @work(exclusive=True, group="approvals-load")
    @reports_api_errors
    async def reload(self) -> None:
        approvals = await self.client.approvals(None if self.show_history else "PENDING")
        flows = await self.client.flows()
        self.flow_names = {f["id"]: f"{f['namespace']}/{f['name']}" for f in flows}
        # the server lists newest first; a queue reads oldest first
        self.approvals = {approval["id"]: approval for approval in reversed(approvals)}
        rows = {approval_id: self._cells(approval) for approval_id, approval in self.approvals.items()}
        self.table.rebuild(rows, select=self.table.selected_key)
        for approval in self.approvals.values():
            self._name_its_flow(approval)
        self._show_detail()

    def _add(self, approval: Json) -> None:
        self.approvals[approval["id"]] = approval
        self.table.upsert(approval["id"], self._cells(approval))
        self._name_its_flow(approval)

    def _name_its_flow(self, approval: Json) -> None:
        if approval.get("flowId") and approval["flowId"] not in self.flow_names:
            self._learn_flow_name(approval["flowId"])

    def _cells(self, approval: Json) -> Cells:
        now = self.session.clock()
        message = (approval.get("message") or "").replace("\n", " ")
        return (
            status_glyph(approval.get("status")),
            self._age(approval),
            self.flow_names.get(approval.get("flowId") or "", short_id(approval.get("flowId"))),
            short_id(approval.get("executionId")),
            approval.get("taskName") or "",
            Text(message),
            self._expires_or_decider(approval, now),
        )

    @staticmethod
    def _expires_or_decider(approval: Json, now: datetime) -> str:
        """A pending gate's deadline; a decided one's decider, so the history says who."""
        if approval.get("status") != "PENDING":
            return f"by {approval['decidedBy']}" if approval.get("decidedBy") else "—"
        return format_time(approval.get("expiresAt"), now) if approval.get("expiresAt") else "—"

    def _age(self, approval: Json) -> str:
        created = parse_time(approval.get("createdAt"))
        if created is None:
            return "—"
        return format_duration(max(0.0, (self.session.clock() - created).total_seconds() * 1000))

    @work(group="approvals-flow-names")
    async def _learn_flow_name(self, flow_id: str) -> None:
        self.flow_names[flow_id] = short_id(flow_id)  # asked once, even while the answer is on its way
        try:
            flow = await self.client.flow(flow_id)
        except ApiError:
            return  # a deleted flow keeps its short id
        self.flow_names[flow_id] = f"{flow['namespace']}/{flow['name']}"
        self._redraw(lambda approval: approval.get("flowId") == flow_id)

    def _tick_ages(self) -> None:
        """Re-render the waiting times of pending rows; local only, the server is not asked."""
        self._redraw(lambda approval: approval.get("status") == "PENDING")

    def _redraw(self, which: Callable[[Json], bool]) -> None:
        """Bring the rows of the approvals `which` picks up to date; the table rewrites only changed cells."""
        self.table.batch({key: self._cells(approval) for key, approval in self.approvals.items() if which(approval)})

    # --- live ----------------------------------------------------------------------------------

    def on_server_event(self, event: Json) -> None:
        kind, data = event.get("type"), event.get("data") or {}
        if kind not in ("approval.created", "approval.decided") or "id" not in data:
            return
        approval_id = data["id"]
        if approval_id in self.approvals:
            shown = approval_id == self.table.selected_key
            self.approvals[approval_id].update(data)
            if data.get("status") != "PENDING" and not self.show_history:
                self.table.remove(approval_id)
                del self.approvals[approval_id]
            else:
                self.table.upsert(approval_id, self._cells(self.approvals[approval_id]))
            if shown:
                self._show_detail()
        elif data.get("status") == "PENDING" or self.show_history:
            self._add(dict(data))
            if len(self.approvals) == 1:
                self._show_detail()

    # --- selection and detail ------------------------------------------------------------------

    def selected(self) -> Json | None:
        approval_id = self.table.selected_key
        return self.approvals.get(approval_id) if approval_id else None

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_detail()

    def _show_detail(self) -> None:
        approval = self.selected()
        detail = self.query_one("#gate-detail")
        detail.set_class(approval is None, "-empty")
        if approval is not None:
            self.query_one("#gate-text", Static).update(self._detail_lines(approval, None))
            self._load_execution(approval["id"], approval["executionId"])

    @work(exclusive=True, group="approvals-detail")
    async def _load_execution(self, approval_id: str, execution_id: str) -> None:
        try:
            execution, _ = await self.client.execution(execution_id)
        except ApiError:
            return  # the row's own fields stay shown; the execution is just not known
        approval = self.selected()
        if approval is not None and approval["id"] == approval_id:
            self.query_one("#gate-text", Static).update(self._detail_lines(approval, execution))

    def _detail_lines(self, approval: Json, execution: Json | None) -> RenderableType:
        now = self.session.clock()
        head = Text.assemble(status_glyph(approval.get("status")), " ", (approval.get("taskName") or "?", "bold"))
        head.append(f"  {approval.get('status')}  opened {format_time(approval.get('createdAt'), now)}", style="dim")
        lines: list[RenderableType] = [head, Text(approval.get("message") or "(no message)")]
        if approval.get("decidedBy"):
            decision = f"decided by {approval['decidedBy']} at {format_time(approval.get('decidedAt'), now)}"
            lines.append(Text(decision + (f": {approval['comment']}" if approval.get("comment") else ""), "dim"))
        if approval.get("context") is not None:
            lines.append(Text.assemble(("context ", "dim"), one_line_json(approval["context"])))
        if execution is not None:
            where = f"{execution.get('namespace')}/{execution.get('flowName')} · execution {execution.get('id')}"
            lines.append(Text.assemble(("run     ", "dim"), where))
            lines.append(Text.assemble(("inputs  ", "dim"), one_line_json(execution.get("inputs") or {})))
        return Group(*lines)

    # --- actions -------------------------------------------------------------------------------

    def action_open(self) -> None:
        approval = self.selected()
        if approval is not None:
            self.post_message(OpenApproval(dict(approval)))

    def action_toggle_history(self) -> None:
        self.show_history = not self.show_history
        self.notify("Showing every gate" if self.show_history else "Showing pending gates", timeout=2)
        self.reload()

    def apply_argument(self, argument: str) -> None:
        """`:approvals all` (or `history`) shows decided gates too; `:approvals pending` hides them."""
        wanted = argument.strip().lower() in ("all", "history", "decided")
        if wanted != self.show_history:
            self.action_toggle_history()
