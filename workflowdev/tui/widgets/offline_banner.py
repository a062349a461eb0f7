"""The line under the header while the server does not answer: one, persistent, impossible to miss.

A toast per retry stacked up every two seconds and left; a red `○` in the header's corner was
all there was at 80 columns. The banner is reverse video and bold, so it reads without colour
(NO_COLOR), and it says what the rest of the screen is: the state as of the moment the link
went, with every timer stopped there (`WorkflowdevApp.clock`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.widget import Widget

if TYPE_CHECKING:
    from workflowdev.tui.app import WorkflowdevApp


class OfflineBanner(Widget):
    DEFAULT_CSS = """
    OfflineBanner {
        height: 1;
        display: none;
        background: $error;
        color: $text;
        text-style: bold reverse;
    }
    OfflineBanner.-offline { display: block; }
    """

    @property
    def workflowdev(self) -> WorkflowdevApp:
        return self.app  # type: ignore[return-value]

    def on_mount(self) -> None:
        self.watch(self.workflowdev, "offline_since", self._changed)

    def _changed(self, since: object) -> None:
        self.set_class(since is not None, "-offline")
        self.refresh()

    def render(self) -> Text:
        since = self.workflowdev.offline_since
        if since is None:
            return Text()
        at = since.strftime("%H:%M:%S")
        return Text(f" ○ OFFLINE since {at} · retrying · what you see is as of then")
