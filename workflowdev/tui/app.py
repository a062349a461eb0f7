"""The console: one Textual app, one API client, one live event stream shared by every pane.

The app owns what every pane needs to agree on — who is logged in, whether the server is
reachable, how many executions run, pause or failed, which gates wait — and fans the server's
events out to the panes through a signal. Panes are Textual modes (`:flows`, `:executions`, …)
each keeping its own stack, so going to another pane and back returns to where you were.

Panes get what they need from the App as one `Session` at construction, and ask to go places by
posting navigation messages (`navigation.py`) that bubble up here: the App alone builds screens.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import datetime
from datetime import timedelta
from functools import partial
from typing import Any
from typing import ClassVar

from textual import work
from textual.app import App
from textual.binding import Binding
from textual.binding import BindingType
from textual.reactive import reactive
from textual.signal import Signal

from workflowdev.tui.access import role_allows
from workflowdev.tui.client import ApiClient
from workflowdev.tui.client import ApiError
from workflowdev.tui.client import Disconnected
from workflowdev.tui.client import Unauthorized
from workflowdev.tui.commands import FindProvider
from workflowdev.tui.demo import demo_flows
from workflowdev.tui.demo import load_demo
from workflowdev.tui.dialogs.command_line import PANES
from workflowdev.tui.dialogs.command_line import Command
from workflowdev.tui.dialogs.command_line import CommandLine
from workflowdev.tui.dialogs.execute_form import ExecuteForm
from workflowdev.tui.dialogs.help import HelpScreen
from workflowdev.tui.dialogs.help import keys_of
from workflowdev.tui.dialogs.login import LoginScreen
from workflowdev.tui.dialogs.prompts import Confirm
from workflowdev.tui.dialogs.slots import SlotsScreen
from workflowdev.tui.formatting import Clock
from workflowdev.tui.formatting import system_clock
from workflowdev.tui.formatting import use_monochrome
from workflowdev.tui.keymap_check import keymap_problems
from workflowdev.tui.navigation import OpenApproval
from workflowdev.tui.navigation import OpenExecution
from workflowdev.tui.navigation import OpenFlow
from workflowdev.tui.navigation import OpenSlots
from workflowdev.tui.navigation import RunFlow
from workflowdev.tui.panes.approvals import ApprovalModal
from workflowdev.tui.panes.approvals import ApprovalsPane
from workflowdev.tui.panes.audit import AuditPane
from workflowdev.tui.panes.base import Pane
from workflowdev.tui.panes.credentials import CredentialsPane
from workflowdev.tui.panes.execution import ExecutionScreen
from workflowdev.tui.panes.executions import ExecutionsPane
from workflowdev.tui.panes.flow_detail import FlowScreen
from workflowdev.tui.panes.flows import FlowsPane
from workflowdev.tui.panes.kv import KvPane
from workflowdev.tui.panes.nodes import NodesPane
from workflowdev.tui.panes.plugins import PluginsPane
from workflowdev.tui.panes.triggers import TriggersPane
from workflowdev.tui.session import Session
from workflowdev.tui.session import reports_api_errors
from workflowdev.tui.window_title import RESTORE_TITLE
from workflowdev.tui.window_title import SAVE_TITLE
from workflowdev.tui.window_title import set_title

Json = dict[str, Any]
RECOUNT_DELAY = 0.3
"""Seconds to gather execution events before re-reading the header's counts: a burst of 500
finished executions costs one recount, not 500."""
RETRY_SECONDS = 2.0
"""Between attempts to reach a server that did not answer at start."""
FAILED_WINDOW = timedelta(hours=24)
PANE_MODES: dict[str, type[Pane]] = {
    "flows": FlowsPane,
    "executions": ExecutionsPane,
    "approvals": ApprovalsPane,
    "kv": KvPane,
    "triggers": TriggersPane,
    "credentials": CredentialsPane,
    "plugins": PluginsPane,
    "audit": AuditPane,
    "nodes": NodesPane,
}
"""Mode name → its pane; each is made with the session when first shown (not a class MODES,
which Textual would construct with no arguments)."""


def choose_theme(environ: Mapping[str, str] = os.environ) -> str:
    """The ANSI theme (the terminal's own palette) unless the terminal says it has more colours."""
    rich_colours = environ.get("COLORTERM", "") in ("truecolor", "24bit") or "256color" in environ.get("TERM", "")
    return "textual-dark" if rich_colours else "ansi-dark"


class WorkflowdevApp(App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "workflowdev"
    COMMANDS = App.COMMANDS | {FindProvider}
    DEFAULT_MODE = "flows"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("colon", "command_line", "Go", id="app.command_line", key_display=":"),
        Binding("question_mark", "help", "Keys", id="app.help", key_display="?"),
        Binding("ctrl+g", "oldest_gate", "Gate", id="app.oldest_gate"),
        Binding("1", "go('flows')", "Flows", id="app.go_flows", show=False),
        Binding("2", "go('executions')", "Executions", id="app.go_executions", show=False),
        Binding("3", "go('approvals')", "Approvals", id="app.go_approvals", show=False),
        Binding("4", "go('kv')", "Key-value", id="app.go_kv", show=False),
        Binding("ctrl+q", "quit", "Quit", id="app.quit", priority=True, show=False),
    ]

    connected: reactive[bool] = reactive(False)
    counts: reactive[tuple[int, int, int]] = reactive((0, 0, 0))
    """Executions running, paused, and failed in the last 24 hours."""
    pending_gates: reactive[int] = reactive(0)
    identity: reactive[str] = reactive("")
    offline_since: reactive[datetime | None] = reactive(None)
    """When the server stopped answering (None while live, or before it first answered)."""

    def __init__(
        self,
        server_url: str,
        *,
        token: str | None = None,
        clock: Clock = system_clock,
        keymap: Mapping[str, str] | None = None,
        theme: str | None = None,
        offer_demo: bool = False,
        load_demo: bool = False,
        confirm_decisions: bool = True,
        wrap_logs: bool = False,
        gate_alert: bool = False,
        server_label: str | None = None,
    ) -> None:
        super().__init__()
        use_monochrome(self.no_color)
        self.client = ApiClient(server_url, token)
        self.server_label = server_label or server_url.split("://", 1)[-1]
        self._wall_clock = clock
        self.gate_alert = gate_alert
        """Ring the bell and retitle the terminal when a gate starts waiting (the `gate_alert` setting)."""
        self._title_saved = False
        """The terminal's own title is on the stack: ours shows until no gate waits."""
        self.offer_demo = offer_demo
        self.load_demo_at_start = load_demo
        self.server_events: Signal[Json] = Signal(self, "server-events")
        """Every event of /api/v1/events, plus `{"type": "resync"}` after a reconnection."""
        self.session = Session(
            client=self.client,
            clock=self.clock,
            report=self.report,
            ask=self.push_screen_wait,
            server_events=self.server_events,
            confirm_decisions=confirm_decisions,
            wrap_logs=wrap_logs,
        )
        for mode, pane in PANE_MODES.items():
            self.add_mode(mode, partial(pane, self.session))
        self._recount_pending = False
        self._panes_stale = False
        """Set when the session could not start at once: the panes' first reads failed."""
        self.keymap_entries = dict(keymap or {})
        """As the config file gave them, checked at mount (`keymap_check`)."""
        if keymap:
            self.set_keymap(dict(keymap))
        self.theme = theme or choose_theme()

    @property
    def role(self) -> str | None:
        return self.session.role

    @role.setter
    def role(self, role: str | None) -> None:
        self.session.role = role

    # --- session ----------------------------------------------------------------------------

    def on_mount(self) -> None:
        for problem in keymap_problems(self.keymap_entries, type(self)):
            self.notify(problem, title="Keymap", severity="warning", timeout=20)
        self.start_session()

    async def on_unmount(self) -> None:
        if self._title_saved:
            self._write_title(RESTORE_TITLE)  # quitting leaves the operator's own title, not a gate's
        await self.client.close()

    @work(exclusive=True, group="session")
    async def start_session(self, reason: str = "") -> None:
        """Find out who we are (logging in if the server asks), then go live."""
        while True:
            try:
                me = await self.client.me()
                break
            except Unauthorized as exc:
                self._link_state(True)
                self._panes_stale = True
                await self.push_screen_wait(LoginScreen(self.client, self.server_label, reason or exc.message))
                reason = ""
            except Disconnected:
                self._link_state(False)  # the banner says so, once; no toast every retry
                self._panes_stale = True
                self.set_timer(RETRY_SECONDS, lambda: self.start_session())
                return
        self.role = str(me.get("role"))
        who = me.get("username") or "anonymous"
        self.identity = f"{who} ({self.role}) @ {self.server_label}"
        self.refresh_bindings()
        if self._panes_stale:  # what the panes read before the login, or before the server was up, failed
            self._panes_stale = False
            self.server_events.publish({"type": "resync"})
        self.stream_events()
        await self.recount()
        await self._maybe_offer_demo()

    @work(exclusive=True, group="events")
    async def stream_events(self) -> None:
        """Read the events stream for the whole session; the client reconnects by itself."""
        try:
            async for event in self.client.events(on_state=self._link_state):
                self._observe(event)
                self.server_events.publish(event)
        except Unauthorized:
            self.start_session("your session has expired; log in again")
        except ApiError as exc:
            self.notify(exc.message, title="Live updates stopped", severity="error", timeout=10)

    def _link_state(self, connected: bool) -> None:
        if not connected and self.offline_since is None:
            self.offline_since = self._wall_clock()
        elif connected:
            self.offline_since = None
        self.connected = connected

    def clock(self) -> datetime:
        """Now, for every duration and age on screen; while offline, the moment the link went:
        what the panes show is as of then, so a RUNNING task's timer must not keep counting."""
        return self.offline_since or self._wall_clock()

    def _observe(self, event: Json) -> None:
        kind = event.get("type")
        if kind == "approval.created":
            data = event.get("data") or {}
            message = data.get("message") or "waiting for a decision"
            self.notify(
                f"{data.get('taskName', 'gate')}: {message}\nctrl+g to answer", title="⚑ Gate opened", timeout=8
            )
            if self.gate_alert:
                self.bell()
                self._write_title(set_title(f"⚑ gate {data.get('taskName', '')} waiting · workflowdev"))
        if kind in ("resync", "execution.updated", "approval.created", "approval.decided"):
            self._schedule_recount()

    def _schedule_recount(self) -> None:
        if not self._recount_pending:
            self._recount_pending = True
            self.set_timer(RECOUNT_DELAY, self._run_recount)

    def _run_recount(self) -> None:
        self._recount_pending = False
        self.run_worker(self.recount(), group="recount", exclusive=True)

    async def recount(self) -> None:
        """Re-read the header's figures: three counts and the pending gates."""
        since = (self.clock() - FAILED_WINDOW).strftime("%Y-%m-%dT%H:%M:%SZ")
        try:
            running = await self.client.count_executions("RUNNING")
            paused = await self.client.count_executions("PAUSED")
            failed = await self.client.count_executions("FAILED,TIMED_OUT", since=since)
            gates = await self.client.count_approvals("PENDING")
        except ApiError:
            return  # the stream reports the outage; the next resync recounts
        self.counts = (running, paused, failed)
        self.pending_gates = gates
        if gates == 0 and self._title_saved:
            self._write_title(RESTORE_TITLE)

    def _write_title(self, sequence: str) -> None:
        """Straight to the terminal, through Textual's driver (it has no title API of its own);
        the operator's title is saved before the first change and put back when no gate waits."""
        driver = self._driver
        if driver is None:
            return
        if sequence == RESTORE_TITLE:
            self._title_saved = False
        elif not self._title_saved:
            self._title_saved = True
            sequence = SAVE_TITLE + sequence
        driver.write(sequence)
        driver.flush()

    async def _maybe_offer_demo(self) -> None:
        if not (self.offer_demo or self.load_demo_at_start) or not role_allows(self.role, "editor"):
            return
        if not self.load_demo_at_start:
            if await self.client.flows(limit=1):
                return
            question = f"No flows here yet. Load the demo flows ({', '.join(demo_flows())}) to try things out?"
            if not await self.push_screen_wait(Confirm(question, "Load demo")):
                return
        try:
            names = await load_demo(self.client)
        except ApiError as exc:
            self.report(exc)
            return
        self.notify("Loaded: " + ", ".join(names) + ". Select one and press x to run it.", title="Demo flows")
        self.server_events.publish({"type": "resync"})

    # --- going places -----------------------------------------------------------------------

    def report(self, exc: BaseException) -> None:
        """Tell the operator what the server said; a lost session brings back the login screen.
        While the link is down the banner speaks for every failed read. The link's state is the
        event stream's to say: one failed request must not mark a live console offline."""
        if isinstance(exc, Unauthorized):
            self.start_session("your session has expired; log in again")
            return
        if isinstance(exc, Disconnected) and not self.connected:
            return  # the offline banner says so, once, rather than a toast per failed read
        message = exc.message if isinstance(exc, ApiError) else str(exc)
        self.notify(message, title="Refused" if isinstance(exc, ApiError) and exc.status else "Error", severity="error")

    def action_go(self, pane: str, argument: str = "") -> None:
        self.go(pane, argument)

    def go(self, pane: str, argument: str = "") -> None:
        if self.current_mode != pane:
            self.switch_mode(pane)
        if argument:
            screen = self.screen
            if isinstance(screen, Pane):
                self.call_after_refresh(screen.apply_argument, argument)

    def open_flow(self, flow_id: str) -> None:
        self.push_screen(FlowScreen(self.session, flow_id))

    def open_execution(self, execution_id: str, *, failed_first: bool = False) -> None:
        self.push_screen(ExecutionScreen(self.session, execution_id, failed_first=failed_first))

    def open_approval(self, approval: Json) -> None:
        self.push_screen(ApprovalModal(self.session, approval))

    def on_open_flow(self, message: OpenFlow) -> None:
        self.open_flow(message.flow_id)

    def on_open_execution(self, message: OpenExecution) -> None:
        self.open_execution(message.execution_id, failed_first=message.failed_first)

    def on_open_approval(self, message: OpenApproval) -> None:
        self.open_approval(message.approval)

    def on_open_slots(self, message: OpenSlots) -> None:
        self.push_screen(SlotsScreen(self.session, message.trigger, message.title))

    def on_run_flow(self, message: RunFlow) -> None:
        """The form dismisses the new execution's id: open it, so the operator watches it run."""

        def started(execution_id: str | None) -> None:
            if execution_id:
                self.open_execution(execution_id)

        self.push_screen(ExecuteForm(self.session, message.flow), started)

    async def action_command_line(self) -> None:
        # Awaiting the mount keeps keys typed right after `:` (`:kv⏎` typed fast) for the prompt.
        await self.push_screen(CommandLine(), self._run_command)

    def _run_command(self, command: Command | None) -> None:
        if command is None:
            return
        if command.target == "quit":
            self.exit()
        elif command.target == "help":
            self.action_help()
        elif command.target == "execution":
            self._open_execution_by_prefix(command.argument)
        elif command.target in PANES:
            self.go(command.target, command.argument)

    @work(group="lookup")
    @reports_api_errors
    async def _open_execution_by_prefix(self, prefix: str) -> None:
        recent = await self.client.executions(limit=1000)
        matches = [e for e in recent if e["id"].startswith(prefix.lower())]
        if len(matches) == 1:
            self.open_execution(matches[0]["id"])
        elif not matches and len(prefix) == 36:
            self.open_execution(prefix)
        else:
            self.notify(f"{len(matches)} recent executions start with {prefix!r}", severity="warning")

    def action_help(self) -> None:
        screen = self.screen
        title = screen.PANE_TITLE if isinstance(screen, Pane) else type(screen).__name__
        self.push_screen(HelpScreen(title, keys_of(screen)))

    @work(group="gate", exclusive=True)
    @reports_api_errors
    async def action_oldest_gate(self) -> None:
        pending = await self.client.approvals("PENDING")
        if not pending:
            self.notify("No gate is waiting.")
            return
        self.open_approval(min(pending, key=lambda a: a.get("createdAt") or ""))
