"""A multi-line JSON editor that only lets valid JSON out.

The text is parsed before the dialog closes: a mistake is shown with its line and column, the
cursor jumps there, and nothing is sent to the server. The answer is wrapped in `Edited`, since
`null` is a perfectly good JSON value and must not read as "cancelled".
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.binding import BindingType
from textual.containers import Horizontal
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Button
from textual.widgets import Label
from textual.widgets import Static
from textual.widgets import TextArea


@dataclass(frozen=True)
class Edited:
    value: Any


@dataclass(frozen=True)
class JsonProblem:
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}, column {self.column}: {self.message}"


def parse_json(text: str) -> tuple[Any, JsonProblem | None]:
    """The value, or where and why it is not JSON (one-based line and column, as editors count)."""
    try:
        return json.loads(text), None
    except json.JSONDecodeError as exc:
        return None, JsonProblem(exc.lineno, exc.colno, exc.msg)


class JsonEditor(ModalScreen[Edited | None]):
    DEFAULT_CSS = """
    JsonEditor { align: center middle; }
    JsonEditor > Vertical {
        width: 100; max-width: 100%; height: 90%; max-height: 100%;
        border: thick $primary; background: $surface; padding: 0 1;
    }
    JsonEditor TextArea { height: 1fr; }
    JsonEditor #json-error { color: $error; height: auto; }
    JsonEditor .hint { color: $text-muted; }
    JsonEditor Horizontal { height: auto; align-horizontal: right; }
    JsonEditor Button { margin-left: 2; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "save", "Save", id="json_editor.save", priority=True),
        Binding("escape", "cancel", "Cancel", id="json_editor.cancel"),
    ]

    def __init__(self, title: str, text: str) -> None:
        super().__init__()
        self.title_text = title
        self.text = text

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.title_text)
            yield TextArea(self.text, soft_wrap=False, show_line_numbers=True, id="json-text")
            yield Static("", id="json-error")
            with Horizontal():
                yield Static("ctrl+s saves · esc cancels", classes="hint")
                yield Button("Cancel (esc)", id="cancel")
                yield Button("Save (ctrl+s)", id="save", variant="primary")

    def on_mount(self) -> None:
        self.query_one(TextArea).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "save":
            self.action_save()
        else:
            self.action_cancel()

    def action_save(self) -> None:
        editor = self.query_one(TextArea)
        value, problem = parse_json(editor.text)
        if problem is not None:
            self.query_one("#json-error", Static).update(Text(f"Not valid JSON, nothing saved — {problem}"))
            editor.cursor_location = (problem.line - 1, problem.column - 1)
            editor.focus()
            return
        self.dismiss(Edited(value))

    def action_cancel(self) -> None:
        self.dismiss(None)
