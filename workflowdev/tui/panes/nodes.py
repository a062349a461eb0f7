"""The nodes sharing this server's database: who is alive, what each runs, when each last beat.

There is no node event and polling is not allowed, so the list is a snapshot: read on entering
the pane, on `r`, and after executions change (what the running counts follow), at most once
per two seconds however many change. Heartbeat ages are as of that read, and the line above the
rows says when it was, so an old snapshot never passes for a live one.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from rich.text import Text
from textual.binding import Binding
from textual.binding import BindingType

from workflowdev.tui.client import ApiError
from workflowdev.tui.formatting import format_duration
from workflowdev.tui.formatting import format_time
from workflowdev.tui.formatting import parse_time
from workflowdev.tui.panes.base import Json
from workflowdev.tui.panes.table_pane import Cells
from workflowdev.tui.panes.table_pane import Column
from workflowdev.tui.panes.table_pane import TablePane
from workflowdev.tui.panes.table_pane import table_bindings
from workflowdev.tui.session import Session

RELOAD_DELAY = 2.0
"""Seconds to gather execution events before re-reading the nodes."""


def age(value: str | None, now: datetime) -> str:
    moment = parse_time(value)
    if moment is None:
        return "—"
    return format_duration(max(0.0, (now - moment).total_seconds()) * 1000) + " ago"


class NodesPane(TablePane):
    PANE_TITLE = "Nodes"
    NOUN = "nodes"
    FILTER_PLACEHOLDER = "filter by id, address or role — esc clears"
    COLUMNS = (
        Column("", "alive", 6),
        Column("Id", "id", 20),
        Column("Running", "running", 7),
        Column("Heartbeat", "heartbeat", 10),
        Column("Address", "address", 15),
        Column("Roles", "roles", 22),
        Column("Started", "started", 11),
    )
    """The columns that tell a dead or busy node come first, so they stay in view at 80 columns."""
    BINDINGS: ClassVar[list[BindingType]] = [
        *table_bindings("nodes"),
        Binding("r", "reload", "Reload", id="nodes.reload"),
    ]

    def __init__(self, session: Session) -> None:
        super().__init__(session)
        self.read_at: datetime | None = None

    async def fetch(self) -> list[Json]:
        nodes = await self.client.nodes()
        self.read_at = self.session.clock()
        return nodes

    def cells(self, item: Json) -> Cells:
        now = self.read_at or self.session.clock()
        alive = Text("● up", style="green") if item.get("alive") else Text("✖ down", style="bold red")
        return (
            alive,
            item["id"],
            str(item.get("runningExecutions", 0)),
            age(item.get("heartbeatAt"), now),
            item.get("address") or "—",
            ", ".join(item.get("roles") or []),
            format_time(item.get("startedAt"), now),
        )

    def explain_refusal(self, error: ApiError) -> str | None:
        if error.status == 404:
            return "This server does not report nodes: it predates GET /api/v1/nodes."
        return None

    def status_line(self) -> str:
        line = super().status_line()
        if line or self.read_at is None:
            return line
        alive = sum(1 for node in self.items.values() if node.get("alive"))
        count = len(self.items)
        return f"{count} node{'' if count == 1 else 's'}, {alive} alive · as of {self.read_at:%H:%M:%S} · r re-reads"

    def on_server_event(self, event: Json) -> None:
        if event.get("type") == "execution.updated":
            self.reload_soon(RELOAD_DELAY)
