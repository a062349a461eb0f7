"""What every pane and dialog needs from the console, handed to it when it is made.

A pane used to reach up to the App for the client, the clock and the role; that tied each pane
to one App class and made every one of them a place to get wrong. The App makes one `Session`
and passes it to each screen it builds, so a pane sees exactly this and nothing else of the App.

The session also holds the console's one way to tell the operator that a request failed:
workers that have nothing particular to do about a refusal are wrapped in `reports_api_errors`
and let the ApiError go, so every pane says it the same way (a toast, the login screen for an
expired session, silence while the offline banner already says the link is down).
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from typing import Concatenate
from typing import ParamSpec
from typing import Protocol
from typing import TypeVar

from textual.screen import Screen
from textual.signal import Signal

from workflowdev.tui.access import role_allows
from workflowdev.tui.client import ApiClient
from workflowdev.tui.client import ApiError
from workflowdev.tui.formatting import Clock

Json = dict[str, Any]
Answer = TypeVar("Answer")
Params = ParamSpec("Params")
Result = TypeVar("Result")


class Ask(Protocol):
    """Show a dialog and wait for what it dismisses (Textual's `push_screen_wait`; in a worker)."""

    def __call__(self, dialog: Screen[Answer]) -> Awaitable[Answer]: ...


@dataclass
class Session:
    client: ApiClient
    clock: Clock
    """Now, as the console shows it: while offline, the moment the link went."""
    report: Callable[[BaseException], None]
    """Tell the operator what went wrong, as every pane does (`reports_api_errors`)."""
    ask: Ask
    server_events: Signal[Json]
    """Every event of /api/v1/events, plus `{"type": "resync"}` after a reconnection."""
    confirm_decisions: bool = True
    """Ask before a gate is approved or rejected (the `confirm_decisions` setting)."""
    wrap_logs: bool = False
    """Execution logs start folded at the pane's width (the `wrap_logs` setting; `w` toggles)."""
    role: str | None = None
    """The signed-in role; None until the server said who we are."""

    def may(self, needed: str) -> bool:
        return role_allows(self.role, needed)


class HasSession(Protocol):
    session: Session


Node = TypeVar("Node", bound=HasSession)


def reports_api_errors(
    method: Callable[Concatenate[Node, Params], Awaitable[Result]],
) -> Callable[Concatenate[Node, Params], Awaitable[Result | None]]:
    """A worker's ApiError goes to `session.report` and ends the worker, as an early return would.

    Put it under `@work`: a worker that does something of its own on a refusal (a 404 shown in
    place, a 409 that explains who decided first) keeps its own `except` instead, with a comment.
    """

    @functools.wraps(method)
    async def reporting(node: Node, *args: Params.args, **kwargs: Params.kwargs) -> Result | None:
        try:
            return await method(node, *args, **kwargs)
        except ApiError as exc:
            node.session.report(exc)
            return None

    return reporting
