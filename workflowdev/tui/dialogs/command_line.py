"""`:` — go anywhere by name, k9s style: `:ex failed`, `:kv orders`, `:x 1f0c`, `:q`.

Parsing is separate from the widget so the grammar is tested without a terminal.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import ModalScreen
from textual.suggester import SuggestFromList
from textual.widgets import Input

PANES: dict[str, tuple[str, ...]] = {
    "flows": ("flows", "flow", "fl", "f"),
    "executions": ("executions", "execs", "ex", "e"),
    "approvals": ("approvals", "gates", "ap", "a"),
    "kv": ("kv", "keys"),
    "triggers": ("triggers", "tr", "t"),
    "credentials": ("credentials", "creds", "cr"),
    "plugins": ("plugins", "plug", "pl", "p"),
    "audit": ("audit", "au"),
    "nodes": ("nodes", "no"),
}
"""Pane name → the words that reach it (the first is the canonical one)."""
OTHER: dict[str, tuple[str, ...]] = {
    "execution": ("execution", "x"),
    "help": ("help", "h", "?"),
    "quit": ("quit", "q", "q!"),
}


@dataclass(frozen=True)
class Command:
    target: str
    """A pane name, or `execution`, `help`, `quit`."""
    argument: str = ""


class UnknownCommand(ValueError):
    pass


def parse_command(text: str) -> Command:
    words = text.strip().lstrip(":").split(maxsplit=1)
    if not words:
        raise UnknownCommand("type a pane name: " + ", ".join(PANES))
    word, argument = words[0].lower(), (words[1].strip() if len(words) > 1 else "")
    for target, aliases in (PANES | OTHER).items():
        if word in aliases:
            if target == "execution" and not argument:
                raise UnknownCommand(":execution needs an id (or its first characters)")
            return Command(target, argument)
    raise UnknownCommand(f"no pane called {word!r}; try " + ", ".join(PANES))


class CommandLine(ModalScreen[Command | None]):
    """A one-line prompt docked at the bottom, with completion of pane names."""

    DEFAULT_CSS = """
    CommandLine { align: left bottom; background: $background 40%; }
    CommandLine Input { dock: bottom; border: tall $accent; width: 100%; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="command_line.cancel")]

    def compose(self) -> ComposeResult:
        words = [aliases[0] for aliases in PANES.values()] + ["execution ", "help", "quit"]
        yield Input(placeholder=":flows  :executions failed  :kv NAMESPACE  :x ID  :q", suggester=SuggestFromList(words))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        try:
            command = parse_command(event.value)
        except UnknownCommand as exc:
            self.notify(str(exc), severity="warning")
            return
        self.dismiss(command)

    def action_cancel(self) -> None:
        self.dismiss(None)
