"""The line at the top of every pane: where you are, who you are, and what needs you.

It reads the app's reactive state (connection, counts, pending gates) rather than asking the
server itself, so every pane shows the same figures and none of them polls.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.widget import Widget

if TYPE_CHECKING:
    from workflowdev.tui.app import WorkflowdevApp


class StatusHeader(Widget):
    """`workflowdev ▸ Executions   admin@127.0.0.1:8080   ▶ 2  ⏸ 1  ✖ 4   ⚑ 1 gate   ● live`."""

    DEFAULT_CSS = """
    StatusHeader {
        dock: top;
        height: 1;
        background: $panel;
        color: $foreground;
    }
    """

    def __init__(self, title: str) -> None:
        super().__init__()
        self.pane_title = title

    @property
    def workflowdev(self) -> WorkflowdevApp:
        return self.app  # type: ignore[return-value]

    def on_mount(self) -> None:
        app = self.workflowdev
        for name in ("connected", "counts", "pending_gates", "identity"):
            self.watch(app, name, self._changed, init=False)

    def _changed(self, _value: object) -> None:
        self.refresh()

    def render(self) -> Text:
        app = self.workflowdev
        left = Text.assemble(("workflowdev", "bold"), " ▸ ", (self.pane_title, "bold cyan"))
        middle = Text(app.identity, style="dim")
        if app.role == "viewer":
            middle.append(" ")
            middle.append(" read-only ", style="bold reverse")
        width = self.size.width
        for right in (self._figures(compact=False), self._figures(compact=True)):
            free = width - left.cell_len - right.cell_len
            if free >= middle.cell_len + 4:
                pad = free - middle.cell_len
                return Text.assemble(left, " " * (pad // 2), middle, " " * (pad - pad // 2), right)
        # Narrower than the essentials: the compact figures, and who you are cut short with a
        # sign that it was.
        middle.truncate(max(1, width - left.cell_len - right.cell_len - 2), overflow="ellipsis")
        return Text.assemble(left, " ", middle, " ", right)

    def _figures(self, *, compact: bool) -> Text:
        """The counts, the gates and the link; `compact` drops the words (80 columns)."""
        app = self.workflowdev
        running, paused, failed = app.counts
        figures = Text()
        words = ("", "", "") if compact else (" running", " paused", " failed")
        gap = " " if compact else "  "
        figures.append(f"▶ {running}{words[0]}{gap}", style="blue" if running else "dim")
        figures.append(f"⏸ {paused}{words[1]}{gap}", style="magenta" if paused else "dim")
        figures.append(f"✖ {failed}{words[2]}", style="red" if failed else "dim")
        if app.pending_gates:
            noun = "" if compact else " gate" if app.pending_gates == 1 else " gates"
            figures.append(gap)
            figures.append(f"⚑ {app.pending_gates}{noun} ", style="bold reverse yellow")
        figures.append(gap)
        live = ("●" if compact else "● live") if app.connected else ("○" if compact else "○ offline")
        figures.append(live, style="green" if app.connected else "bold red")
        return figures
