"""Where a pane wants to go, said as a Textual message that bubbles up to the App.

A pane or dialog posts one of these to itself; Textual hands it up the DOM (widget, screen,
App) and the App, which owns the screen stack and the session, builds the screen and pushes
it. So no pane knows which screens exist beyond the one it names, nor how they are made.
Each is a dataclass, as Textual allows for messages: the fields are what the App needs.
"""

from __future__ import annotations

from dataclasses import KW_ONLY
from dataclasses import dataclass
from typing import Any

from textual.message import Message

Json = dict[str, Any]


@dataclass
class OpenFlow(Message):
    """Show one flow: its revisions, triggers and recent runs."""

    flow_id: str


@dataclass
class OpenExecution(Message):
    """Show one execution live; `failed_first` puts the cursor on the first failed task."""

    execution_id: str
    _: KW_ONLY
    failed_first: bool = False


@dataclass
class OpenApproval(Message):
    """Show one gate, with its context and the keys to decide it."""

    approval: Json


@dataclass
class OpenSlots(Message):
    """Show a schedule trigger's slot ledger (`title` names it: flow · trigger)."""

    trigger: Json
    title: str


@dataclass
class RunFlow(Message):
    """Ask for a flow's inputs and run it; the new execution opens once it is queued."""

    flow: Json
