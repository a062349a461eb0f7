"""`x`: run a flow, with one field per declared input, checked before anything is sent.

The form dismisses the new execution's id, so whoever opened it can show the run at once. A flow
without inputs gets the same form with nothing to fill in: `x` then `enter` runs it. What the
server still refuses (a 400) is shown in the form, beside the field it names, and nothing else
happens.
"""

from __future__ import annotations

from typing import Any

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.containers import Vertical
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Button
from textual.widgets import Input
from textual.widgets import Label
from textual.widgets import Static
from textual.widgets import Switch

from workflowdev.tui.client import ApiError
from workflowdev.tui.client import Unauthorized
from workflowdev.tui.flow_inputs import BadValue
from workflowdev.tui.flow_inputs import InputSpec
from workflowdev.tui.flow_inputs import input_specs
from workflowdev.tui.flow_inputs import parse_value
from workflowdev.tui.session import Session

Json = dict[str, Any]


class ExecuteForm(ModalScreen[str | None]):
    """Dismisses the id of the execution it started, or None when cancelled."""

    DEFAULT_CSS = """
    ExecuteForm { align: center middle; }
    ExecuteForm > Vertical {
        width: 76; max-width: 100%; height: auto; max-height: 100%; padding: 0 1;
        border: thick $primary; background: $surface;
    }
    ExecuteForm VerticalScroll { height: auto; max-height: 13; }
    ExecuteForm .field { height: auto; margin-bottom: 1; }
    ExecuteForm .field Label { width: 100%; }
    ExecuteForm .about, ExecuteForm .hint { color: $text-muted; }
    ExecuteForm .error { color: $error; height: auto; display: none; }
    ExecuteForm Horizontal { height: auto; align-horizontal: right; }
    ExecuteForm Button { margin-left: 2; }
    """
    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="execute.cancel"),
        Binding("ctrl+s", "submit", "Run", id="execute.submit"),
    ]

    def __init__(self, session: Session, flow: Json) -> None:
        super().__init__()
        self.session = session
        self.flow = flow
        self.specs = input_specs(flow.get("yamlContent") or "")

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(f"[b]Run {self.flow['namespace']}/{self.flow['name']}[/b] (revision {self.flow['revision']})")
            if self.specs:
                with VerticalScroll():
                    for spec in self.specs:
                        yield from self._field(spec)
            else:
                yield Static("This flow takes no inputs.", classes="about")
            yield Static("", id="form-error", classes="error")
            with Horizontal():
                yield Button("Cancel (esc)", id="cancel")
                yield Button("Run (enter)", id="run", variant="primary")
            yield Static("* required · enter or ctrl+s runs · esc cancels", classes="hint")

    def _field(self, spec: InputSpec) -> ComposeResult:
        marker = " *" if spec.must_be_given else ""
        about = f" — {spec.description}" if spec.description else ""
        with Vertical(classes="field"):
            yield Label(f"[b]{spec.name}[/b]{marker} [dim]{spec.type}{about}[/dim]")
            if spec.type == "boolean":
                yield Switch(value=bool(spec.default), id=f"input-{spec.name}")
            else:
                placeholder = {"object": '{"key": "value"}', "array": "[1, 2, 3]"}.get(spec.type, spec.type)
                yield Input(value=spec.initial_text(), placeholder=placeholder, id=f"input-{spec.name}")
            yield Static("", id=f"error-{spec.name}", classes="error")

    def on_mount(self) -> None:
        first = self.query(f"#input-{self.specs[0].name}") if self.specs else self.query("#run")
        first.first().focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "run":
            self.action_submit()
        else:
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_submit(self) -> None:
        inputs = self._read()
        if inputs is not None:
            self._send(inputs)

    def _read(self) -> Json | None:
        """The inputs to send, or None after showing every field's problem."""
        self._clear_errors()
        inputs: Json = {}
        problems = {}
        for spec in self.specs:
            widget = self.query_one(f"#input-{spec.name}", Widget)
            if isinstance(widget, Switch):
                inputs[spec.name] = widget.value
                continue
            text = widget.value if isinstance(widget, Input) else ""
            blank = not text if spec.type == "string" else not text.strip()
            if blank:
                if spec.must_be_given:
                    problems[spec.name] = "required: type a value"
                continue  # not given: the server applies the default
            try:
                inputs[spec.name] = parse_value(spec, text)
            except BadValue as exc:
                problems[spec.name] = str(exc)
        for name, message in problems.items():
            self._show_error(name, message)
        return None if problems else inputs

    @work(exclusive=True, group="execute")
    async def _send(self, inputs: Json) -> None:
        try:
            reply = await self.session.client.execute(self.flow["id"], inputs)
        except Unauthorized as exc:
            self.dismiss(None)
            self.session.report(exc)
            return
        except ApiError as exc:  # own handling: the form shows the refusal beside its fields
            self._show_refusal(exc)
            return
        self.dismiss(reply["executionId"])

    def _show_refusal(self, exc: ApiError) -> None:
        """The server's complaint, each detail beside the field it names when there is one."""
        names = {spec.name for spec in self.specs}
        general = [exc.message]
        for detail in exc.details:
            path = str(detail.get("path", "")) if isinstance(detail, dict) else ""
            message = str(detail.get("message", detail)) if isinstance(detail, dict) else str(detail)
            name = path.removeprefix("inputs.")
            if path.startswith("inputs.") and name in names:
                self._show_error(name, message)
            else:
                general.append(f"{path}: {message}" if path else message)
        self._show_error(None, "\n".join(general))

    def _show_error(self, name: str | None, message: str) -> None:
        target = self.query_one("#form-error" if name is None else f"#error-{name}", Static)
        target.update(message)
        target.display = True

    def _clear_errors(self) -> None:
        for target in self.query(".error").results(Static):
            target.update("")
            target.display = False

