"""The login screen, shown when the server answers 401: no token, or one that has expired."""

from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Button
from textual.widgets import Input
from textual.widgets import Label
from textual.widgets import Static

from workflowdev.tui.client import ApiClient
from workflowdev.tui.client import ApiError


class LoginScreen(ModalScreen[bool]):
    """Dismisses True once the client holds a token the server accepted."""

    DEFAULT_CSS = """
    LoginScreen { align: center middle; }
    LoginScreen > Vertical {
        width: 56; height: auto; padding: 1 2; border: thick $primary; background: $surface;
    }
    LoginScreen Input { margin-bottom: 1; }
    LoginScreen .error { color: $error; height: auto; }
    """
    BINDINGS = [
        Binding("ctrl+q", "app.quit", "Quit", id="login.quit"),
        # Priority bindings run as the key is read, before the keys typed after it are handed
        # to a field: `user<Tab>password` typed in one go must not land in the username field.
        Binding("tab", "next_field", show=False, priority=True),
        Binding("shift+tab", "previous_field", show=False, priority=True),
        Binding("enter", "username_done", show=False, priority=True),
    ]

    def __init__(self, client: ApiClient, server: str, reason: str = "") -> None:
        super().__init__()
        self.client = client
        self.server = server
        self.reason = reason

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(f"[b]Log in to {self.server}[/b]")
            yield Static(self.reason, classes="error")
            yield Input(placeholder="username", id="username")
            yield Input(placeholder="password", password=True, id="password")
            yield Button("Log in", variant="primary", id="login")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # Enter moves on from the username only; on the password or the button it submits.
        return action != "username_done" or self.focused is self.query_one("#username", Input)

    def action_username_done(self) -> None:
        self.set_focus(self.query_one("#password", Input))  # at once: `Widget.focus()` would wait a turn

    def action_next_field(self) -> None:
        self.focus_next()

    def action_previous_field(self) -> None:
        self.focus_previous()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._log_in()  # the username's Enter never gets here: `username_done` takes it first

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self._log_in()

    @work(exclusive=True)
    async def _log_in(self) -> None:
        username = self.query_one("#username", Input).value.strip()
        password = self.query_one("#password", Input).value
        if not username or not password:
            self.query_one(".error", Static).update("username and password, please")
            return
        try:
            await self.client.login(username, password)
        except ApiError as exc:  # own handling: the login form shows why, and asks again
            self.query_one(".error", Static).update(exc.message)
            self.query_one("#password", Input).value = ""
            return
        self.dismiss(True)
