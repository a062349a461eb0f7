"""`?`: every key the pane answers to, with what it does and the id to remap it by."""

from __future__ import annotations

from dataclasses import dataclass

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.screen import Screen
from textual.widgets import DataTable
from textual.widgets import Static


@dataclass(frozen=True)
class KeyHelp:
    keys: str
    description: str
    binding_id: str


def keys_of(screen: Screen[object]) -> list[KeyHelp]:
    """The bindings live on `screen` now (role and state checks applied): the pane's own first,
    then those that work everywhere, then Textual's own (movement, focus, copy)."""
    found: dict[str, tuple[int, KeyHelp]] = {}
    for active in screen.active_bindings.values():
        if not active.enabled:
            continue
        binding = active.binding
        display = binding.key_display or screen.app.get_key_display(binding)
        name = binding.id or binding.action
        if name in found:
            rank, known = found[name]
            if display not in known.keys.split(", "):  # one binding may be active twice (pane and table)
                found[name] = (rank, KeyHelp(f"{known.keys}, {display}", known.description, known.binding_id))
            continue
        rank = 2 if not binding.id else 0 if active.node is screen else 1
        found[name] = (rank, KeyHelp(display, binding.description or binding.action, binding.id or ""))
    return [item for _, item in sorted(found.values(), key=lambda pair: pair[0])]


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > Vertical {
        width: 76; max-width: 100%; height: 90%; border: thick $primary; background: $surface;
        padding: 0 1;
    }
    HelpScreen DataTable { height: 1fr; }
    HelpScreen .hint { color: $text-muted; }
    """
    BINDINGS = [
        Binding("escape,question_mark,q", "dismiss", "Close", id="help.close"),
        Binding("home,g", "first", "First key", id="help.first", show=False, priority=True),
        Binding("end,G", "last", "Last key", id="help.last", show=False, priority=True),
    ]

    def __init__(self, title: str, keys: list[KeyHelp]) -> None:
        super().__init__()
        self.pane_title = title
        self.keys = keys

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(f"[b]Keys — {self.pane_title}[/b]")
            table: DataTable[str] = DataTable(cursor_type="row", zebra_stripes=True)
            table.add_columns("Key", "Does", "Id (to remap it)")
            for item in self.keys:
                table.add_row(item.keys, item.description, item.binding_id)
            yield table
            yield Static(
                ": go to a pane (:flows :executions :approvals :kv :triggers :credentials :plugins :audit :nodes)"
                " · ctrl+p finds flows and executions · esc closes",
                classes="hint",
            )

    def action_first(self) -> None:
        self.query_one(DataTable).move_cursor(row=0)

    def action_last(self) -> None:
        table = self.query_one(DataTable)
        table.move_cursor(row=table.row_count - 1)

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(result)
