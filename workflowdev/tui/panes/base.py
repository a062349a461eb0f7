"""What every pane shares: the header and footer, live events, resyncs, role checks, errors.

A pane subclasses `Pane`, composes its body in `compose_body`, loads its data in `reload` (run as
an exclusive worker so two loads never overlap), and applies live events in `on_server_event`.
After a reconnection the app sends a resync and every pane reloads: events missed while
disconnected are never guessed at. A pane is made with the console's `Session` and sees the App
through nothing else: it asks to go elsewhere by posting a navigation message.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from typing import ClassVar

from textual import events
from textual.app import ComposeResult
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer

from workflowdev.tui.client import ApiClient
from workflowdev.tui.key_hints import key_hint
from workflowdev.tui.session import Session
from workflowdev.tui.widgets.offline_banner import OfflineBanner
from workflowdev.tui.widgets.status_header import StatusHeader

Json = dict[str, Any]
HINT_SECONDS = 3.0
"""How long a key hint shows; the same hint is not repeated meanwhile (a key held down)."""


class Pane(Screen[None]):
    PANE_TITLE: ClassVar[str] = ""
    REQUIRES: ClassVar[dict[str, str]] = {}
    """Action name → the least role that may run it; the key is hidden from everyone below."""
    _last_hint: str | None = None

    def __init__(self, session: Session) -> None:
        super().__init__()
        self.session = session

    @property
    def client(self) -> ApiClient:
        return self.session.client

    def compose(self) -> ComposeResult:
        yield StatusHeader(self.PANE_TITLE)
        yield OfflineBanner()
        yield from self.compose_body()
        yield Footer(show_command_palette=False)

    def compose_body(self) -> Iterable[Widget]:
        return ()

    def on_mount(self) -> None:
        self.session.server_events.subscribe(self, self._hear)
        self.reload()

    def _hear(self, event: Json) -> None:
        if event.get("type") == "resync":
            self.reload()
        else:
            self.on_server_event(event)

    def on_key(self, event: events.Key) -> None:
        """A key no binding will take gets a word of why (`key_hints`), not silence."""
        hint = key_hint(self, event.key, event.character)
        if hint is not None and hint != self._last_hint:
            self._last_hint = hint
            self.notify(hint, timeout=HINT_SECONDS)
            self.set_timer(HINT_SECONDS, self._forget_hint)

    def _forget_hint(self) -> None:
        self._last_hint = None

    def unavailable(self, action: str) -> str | None:
        """Why `action`, offered by this pane, cannot run now (for the hint); None: no reason to give."""
        return None

    def reload(self) -> None:
        """Read what this pane shows from the server again (start an exclusive worker here)."""

    def on_server_event(self, event: Json) -> None:
        """One live event `{type, executionId, data}`; apply it in place."""

    def apply_argument(self, argument: str) -> None:
        """What follows the pane's name on the `:` command line (`:executions FAILED`)."""

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        needed = self.REQUIRES.get(action)
        if needed is not None and not self.session.may(needed):
            return False
        return True
