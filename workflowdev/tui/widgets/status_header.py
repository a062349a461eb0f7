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
        right = Text()
        running, paused, failed = app.counts
        right.append(f"▶ {running} running  ", style="blue" if running else "dim")
        right.append(f"⏸ {paused} paused  ", style="magenta" if paused else "dim")
        right.append(f"✖ {failed} failed", style="red" if failed else "dim")
        if app.pending_gates:
            noun = "gate" if app.pending_gates == 1 else "gates"
            right.append(f"  ⚑ {app.pending_gates} {noun} ", style="bold reverse yellow")
        right.append("  ")
        right.append("● live" if app.connected else "○ offline", style="green" if app.connected else "bold red")
        middle = Text(f"  {app.identity}  ", style="dim")
        width = self.size.width
        free = width - left.cell_len - right.cell_len
        if free >= middle.cell_len:
            pad = free - middle.cell_len
            return Text.assemble(left, " " * (pad // 2), middle, " " * (pad - pad // 2), right)
        return Text.assemble(left, " " * max(1, free), right)
