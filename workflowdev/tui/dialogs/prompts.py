"""Small modal questions that `dismiss()` a typed answer: confirm, and ask for one line of text.

Destructive actions go through `Confirm` with the danger spelled out; the default answer is
always the harmless one, so a stray `enter` never deletes anything.
"""

from __future__ import annotations

from collections.abc import Callable

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Button
from textual.widgets import Input
from textual.widgets import Label
from textual.widgets import Static

Check = Callable[[str], str | None]
"""Returns an error message for a bad answer, None for a good one."""


class Confirm(ModalScreen[bool]):
    """`y` does it, `n`/`esc` does not; focus starts on the harmless button."""

    DEFAULT_CSS = """
    Confirm { align: center middle; }
    Confirm > Vertical {
        width: 64; max-width: 90%; height: auto; padding: 1 2;
        border: thick $error; background: $surface;
    }
    Confirm .question { margin-bottom: 1; }
    Confirm Horizontal { height: auto; align-horizontal: right; }
    Confirm Button { margin-left: 2; }
    """
    BINDINGS = [
        Binding("y", "answer(True)", "Yes", id="confirm.yes"),
        Binding("n,escape", "answer(False)", "No", id="confirm.no"),
    ]

    def __init__(self, question: str, action_label: str = "Yes") -> None:
        super().__init__()
        self.question = question
        self.action_label = action_label

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.question, classes="question")
            with Horizontal():
                yield Button("No (n)", id="no")
                yield Button(f"{self.action_label} (y)", id="yes", variant="error")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)


class AskText(ModalScreen[str | None]):
    """One line of text; `check` is run before accepting, and its complaint shown in place."""

    DEFAULT_CSS = """
    AskText { align: center middle; }
    AskText > Vertical {
        width: 70; max-width: 95%; height: auto; padding: 1 2;
        border: thick $primary; background: $surface;
    }
    AskText .error { color: $error; height: auto; }
    AskText .hint { color: $text-muted; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="ask.cancel")]

    def __init__(
        self,
        title: str,
        *,
        value: str = "",
        placeholder: str = "",
        password: bool = False,
        check: Check | None = None,
        hint: str = "",
    ) -> None:
        super().__init__()
        self.title_text = title
        self.value = value
        self.placeholder = placeholder
        self.password = password
        self.check = check
        self.hint = hint

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.title_text)
            yield Input(value=self.value, placeholder=self.placeholder, password=self.password)
            yield Static("", classes="error")
            yield Static(self.hint or "enter to accept · esc to cancel", classes="hint")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        problem = self.check(event.value) if self.check else None
        if problem:
            self.query_one(".error", Static).update(problem)
            return
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)
