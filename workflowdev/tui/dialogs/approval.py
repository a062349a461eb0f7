"""The approval prompt: everything a person needs to decide a gate, and the decision itself.

It shows the flow, the execution, what ran before the gate and what runs after it (scrolled
from the keyboard: j/k, page keys, g/G), then takes an optional comment and an approve (`a`) or
a reject (`r`), each confirmed first unless the `confirm_decisions` setting is off: a gate
answered from a pager alert at 3 a.m. should not be one stray keystroke from done. Someone else may decide the same gate meanwhile; the server then answers 409, and
the prompt says who decided what instead of pretending the operator's decision counted.
"""

from __future__ import annotations

from typing import Any
from typing import ClassVar

from rich.console import Group
from rich.console import RenderableType
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.binding import BindingType
from textual.containers import Horizontal
from textual.containers import Vertical
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button
from textual.widgets import Input
from textual.widgets import Static

from workflowdev.tui.client import ApiError
from workflowdev.tui.dialogs.prompts import Confirm
from workflowdev.tui.formatting import format_duration
from workflowdev.tui.formatting import format_time
from workflowdev.tui.formatting import pretty_json
from workflowdev.tui.formatting import status_glyph
from workflowdev.tui.formatting import status_text
from workflowdev.tui.gate_context import one_line_json
from workflowdev.tui.gate_context import ran_before
from workflowdev.tui.gate_context import runs_after
from workflowdev.tui.session import Session

Json = dict[str, Any]
DECIDER = "executor"
"""The least role that may approve or reject (API.md's table)."""


class ApprovalModal(ModalScreen[Json | None]):
    """Dismisses with the decided approval, or None when closed without deciding."""

    DEFAULT_CSS = """
    ApprovalModal { align: center middle; }
    ApprovalModal > Vertical {
        width: 100; max-width: 100%; height: 90%; max-height: 100%;
        border: thick $warning; background: $surface; padding: 0 1;
    }
    ApprovalModal VerticalScroll { height: 1fr; }
    ApprovalModal .section { color: $accent; text-style: bold; margin-top: 1; }
    ApprovalModal #message { text-style: bold; margin-top: 1; }
    ApprovalModal Input { margin-top: 1; }
    ApprovalModal #buttons { margin-top: 1; }
    ApprovalModal Horizontal { height: auto; align-horizontal: right; }
    ApprovalModal Button { margin-left: 2; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "approve", "Approve…", id="approval.approve"),
        Binding("r", "reject", "Reject…", id="approval.reject"),
        Binding("c", "comment", "Comment", id="approval.comment"),
        Binding("escape", "close", "Close", id="approval.close"),
        # The sections scroll from wherever focus is (a button, usually): at 80x24 "runs after
        # it" lies below the fold, and a mouse is not always there (over SSH it is off).
        Binding("down,j", "scroll_sections('down')", "Scroll", id="approval.scroll_down", show=False),
        Binding("up,k", "scroll_sections('up')", "Scroll up", id="approval.scroll_up", show=False),
        Binding("pagedown,ctrl+d", "scroll_sections('page_down')", "Page down", id="approval.page_down", show=False),
        Binding("pageup,ctrl+u", "scroll_sections('page_up')", "Page up", id="approval.page_up", show=False),
        Binding("home,g", "scroll_sections('home')", "Top", id="approval.top", show=False),
        Binding("end,G", "scroll_sections('end')", "Bottom", id="approval.bottom", show=False),
    ]
    DECISIONS: ClassVar[frozenset[str]] = frozenset({"approve", "reject", "comment"})

    def __init__(self, session: Session, approval: Json) -> None:
        super().__init__()
        self.session = session
        self.approval = approval
        self.deciding = False

    @property
    def may_decide(self) -> bool:
        return self.approval.get("status") == "PENDING" and self.session.may(DECIDER)

    def compose(self) -> ComposeResult:
        approval = self.approval
        with Vertical():
            yield Static(self._title(), id="title")
            with VerticalScroll():
                yield Static(Text(approval.get("message") or "(no message)"), id="message")
                if approval.get("context") is not None:
                    yield Static("Context", classes="section")
                    yield Static(Text(pretty_json(approval["context"])), id="context")
                yield Static("Flow and execution", classes="section")
                yield Static(Text("loading…", style="dim"), id="execution")
                yield Static("Ran before the gate", classes="section")
                yield Static(Text("loading…", style="dim"), id="before")
                yield Static("Runs after it", classes="section")
                yield Static(Text("loading…", style="dim"), id="after")
            if self.may_decide:
                yield Input(placeholder="comment (optional) — c to type, enter when done", id="comment")
            with Horizontal(id="buttons"):
                if self.may_decide:
                    yield Button("Approve (a)", id="approve", variant="success", compact=True)
                    yield Button("Reject (r)", id="reject", variant="error", compact=True)
                yield Button("Close (esc)", id="close", compact=True)

    def _title(self) -> Text:
        approval = self.approval
        title = Text.assemble(("⚑ Gate ", "bold"), (approval.get("taskName") or "?", "bold"), "  ")
        title.append_text(status_text(approval.get("status")))
        if approval.get("decidedBy"):
            title.append(f"  by {approval['decidedBy']}", style="dim")
        if approval.get("expiresAt"):
            title.append(f"  expires {format_time(approval['expiresAt'], self.session.clock())}", style="dim")
        return title

    def on_mount(self) -> None:
        self.query_one("#close", Button).focus()
        self.load_context()

    @work(exclusive=True, group="approval-context")
    async def load_context(self) -> None:
        """The execution first (it names the flow), then the flow's YAML for what comes after."""
        try:
            execution, tasks = await self.session.client.execution(self.approval["executionId"])
        except ApiError as exc:  # own handling: the dialog says in place what it could not read
            self.query_one("#execution", Static).update(Text(f"cannot read the execution: {exc.message}", "red"))
            self.query_one("#before", Static).update("—")
            self.query_one("#after", Static).update("—")
            return
        self.query_one("#execution", Static).update(self._execution_lines(execution))
        self.query_one("#before", Static).update(self._before_lines(tasks))
        following: list[tuple[str, str]] | None = None
        flow_id = self.approval.get("flowId") or execution.get("flowId")
        if flow_id:
            try:
                flow = await self.session.client.flow(flow_id)
            except ApiError:
                flow = {}  # deleted since: executions stay readable, the flow's future does not
            following = runs_after(flow.get("yamlContent"), self.approval.get("taskName") or "")
        self.query_one("#after", Static).update(self._after_lines(following))

    def _execution_lines(self, execution: Json) -> RenderableType:
        now = self.session.clock()
        trigger = execution.get("trigger") or {}
        flow = Text.assemble(("flow       ", "dim"), f"{execution.get('namespace')}/{execution.get('flowName')}")
        flow.append(f"  (revision {execution.get('flowRevision')})", style="dim")
        run = Text.assemble(("execution  ", "dim"), execution.get("id", ""), "  ")
        run.append_text(status_text(execution.get("status")))
        started = Text.assemble(
            ("started    ", "dim"),
            format_time(execution.get("startedAt") or execution.get("createdAt"), now),
            ("   trigger ", "dim"),
            str(trigger.get("type") or "manual"),
        )
        inputs = Text.assemble(("inputs     ", "dim"), one_line_json(execution.get("inputs") or {}))
        return Group(flow, run, started, inputs)

    def _before_lines(self, tasks: list[Json]) -> RenderableType:
        finished = ran_before(tasks, self.approval)
        if not finished:
            return Text("nothing: the gate is the first task", style="dim")
        lines = []
        for task in finished:
            line = Text.assemble(status_glyph(task.get("status")), " ", task.get("taskName") or "?")
            line.append(f"  {task.get('taskType') or ''}  {format_duration(task.get('durationMs'))}", style="dim")
            lines.append(line)
        return Group(*lines)

    @staticmethod
    def _after_lines(following: list[tuple[str, str]] | None) -> RenderableType:
        if following is None:
            return Text("—", style="dim")
        if not following:
            return Text("nothing: the gate is the last task", style="dim")
        return Group(*(Text.assemble("○ ", name, (f"  {kind}", "dim")) for name, kind in following))

    # --- deciding --------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in self.DECISIONS:
            return self.may_decide and not self.deciding
        return True

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "approve":
            self.action_approve()
        elif event.button.id == "reject":
            self.action_reject()
        else:
            self.dismiss(None)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """Enter leaves the comment, so the single-letter keys decide again."""
        event.stop()
        self.query_one("#approve", Button).focus()

    def action_scroll_sections(self, how: str) -> None:
        sections = self.query_one(VerticalScroll)
        {
            "down": sections.scroll_down,
            "up": sections.scroll_up,
            "page_down": sections.scroll_page_down,
            "page_up": sections.scroll_page_up,
            "home": sections.scroll_home,
            "end": sections.scroll_end,
        }[how](animate=False)

    def action_comment(self) -> None:
        self.query_one("#comment", Input).focus()

    def action_close(self) -> None:
        """Esc inside the comment only leaves it (the text stays); anywhere else closes the prompt."""
        if isinstance(self.focused, Input):
            self.query_one("#close", Button).focus()
            return
        self.dismiss(None)

    def action_approve(self) -> None:
        self.decide(approve=True)

    def action_reject(self) -> None:
        self.decide(approve=False)

    @work(exclusive=True, group="approval-decision")
    async def decide(self, approve: bool) -> None:
        if not self.may_decide or self.deciding:
            return
        if self.session.confirm_decisions:
            name = self.approval.get("taskName")
            question = (
                f"Approve gate {name}? Its execution goes on." if approve
                else f"Reject gate {name}? Its execution fails."
            )  # fmt: skip
            if not await self.session.ask(Confirm(question, "Approve" if approve else "Reject")):
                return
        comment = self.query_one("#comment", Input).value.strip() or None
        client = self.session.client
        self.deciding = True
        self.refresh_bindings()
        try:
            decided = await (client.approve if approve else client.reject)(self.approval["id"], comment)
        except ApiError as exc:  # own handling: a 409 explains who decided first
            self.deciding = False
            self.refresh_bindings()
            if exc.status == 409:
                await self._decided_elsewhere(exc)
            else:
                self.session.report(exc)
            return
        verb = "Approved" if approve else "Rejected"
        self.notify(f"{verb} gate {decided.get('taskName')}", title=verb, markup=False)
        self.dismiss(decided)

    async def _decided_elsewhere(self, conflict: ApiError) -> None:
        """Say who got there first; the prompt closes, since there is nothing left to decide."""
        try:
            current = await self.session.client.approval(self.approval["id"])
        except ApiError:
            current = {}
        status = str(current.get("status") or "")
        if status in ("APPROVED", "REJECTED", "EXPIRED"):
            who = current.get("decidedBy") or "someone"
            message = f"Gate {self.approval.get('taskName')} was already {status.lower()} by {who}"
            if current.get("comment"):
                message += f": {current['comment']}"
        else:
            message = conflict.message
        self.notify(message, title="Already decided", severity="warning", timeout=10, markup=False)
        self.dismiss(None)
