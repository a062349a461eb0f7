"""Where a pane wants to go, said as a Textual message that bubbles up to the App.

A pane or dialog posts one of these to itself; Textual hands it up the DOM (widget, screen,
App) and the App, which owns the screen stack and the session, builds the screen and pushes
it. So no pane knows which screens exist beyond the one it names, nor how they are made.
"""

from __future__ import annotations

from typing import Any

from textual.message import Message

Json = dict[str, Any]


class OpenFlow(Message):
    """Show one flow: its revisions, triggers and recent runs."""

    def __init__(self, flow_id: str) -> None:
        super().__init__()
        self.flow_id = flow_id


class OpenExecution(Message):
    """Show one execution live; `failed_first` puts the cursor on the first failed task."""

    def __init__(self, execution_id: str, *, failed_first: bool = False) -> None:
        super().__init__()
        self.execution_id = execution_id
        self.failed_first = failed_first


class OpenApproval(Message):
    """Show one gate, with its context and the keys to decide it."""

    def __init__(self, approval: Json) -> None:
        super().__init__()
        self.approval = approval


class OpenSlots(Message):
    """Show a schedule trigger's slot ledger (`title` names it: flow · trigger)."""

    def __init__(self, trigger: Json, title: str) -> None:
        super().__init__()
        self.trigger = trigger
        self.title = title


class RunFlow(Message):
    """Ask for a flow's inputs and run it; the new execution opens once it is queued."""

    def __init__(self, flow: Json) -> None:
        super().__init__()
        self.flow = flow
