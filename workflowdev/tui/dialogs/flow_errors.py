"""What was wrong with an edited flow: the errors, and the YAML with each one under its line.

Dismisses True to go back to the editor with the operator's own text (nothing is lost), False to
throw the edit away. Nothing has been saved while this screen shows.
"""

from __future__ import annotations

from collections.abc import Sequence

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer
from textual.widgets import Static

from workflowdev.tui.widgets.yaml_view import Problem
from workflowdev.tui.widgets.yaml_view import problem_lines
from workflowdev.tui.widgets.yaml_view import yaml_text


class FlowErrors(Screen[bool]):
    DEFAULT_CSS = """
    FlowErrors .title { background: $error; color: $text; text-style: bold; padding: 0 1; }
    FlowErrors #problems { height: auto; max-height: 7; color: $error; padding: 0 1; }
    FlowErrors #yaml-scroll { height: 1fr; border-top: solid $error; }
    """
    BINDINGS = [
        Binding("e", "answer(True)", "Edit again", id="flow_errors.edit"),
        Binding("escape", "answer(False)", "Discard", id="flow_errors.discard"),
    ]

    def __init__(self, title: str, yaml: str, problems: Sequence[Problem]) -> None:
        super().__init__()
        self.title_text = title
        self.yaml = yaml
        self.problems = list(problems)

    def compose(self) -> ComposeResult:
        count = len(self.problems)
        noun = "problem" if count == 1 else "problems"
        yield Static(f"{self.title_text}: {count} {noun}, nothing saved", classes="title")
        with VerticalScroll(id="problems"):
            yield Static("\n".join(problem_lines(self.problems)), markup=False)
        with VerticalScroll(id="yaml-scroll"):
            yield Static(yaml_text(self.yaml, self.problems), id="yaml")
        yield Footer()

    def action_answer(self, again: bool) -> None:
        self.dismiss(again)
