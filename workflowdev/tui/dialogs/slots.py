"""A schedule's slots: what became of each of its instants over the last day, and a backfill.

The screen reads the ledger once when it opens and again on `r` or after a backfill; slots are
shown newest first, since an operator opens this to see what happened lately. `b` backfills
what never ran in the day shown: the server names those instants first (a dry run), the
operator confirms, and each is run once even if someone else backfills at the same time.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from datetime import timedelta

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable
from textual.widgets import Footer
from textual.widgets import Static

from workflowdev.tui.client import Json
from workflowdev.tui.dialogs.prompts import Confirm
from workflowdev.tui.formatting import format_time
from workflowdev.tui.navigation import OpenExecution
from workflowdev.tui.session import Session
from workflowdev.tui.session import reports_api_errors

STATE_STYLES = {
    "fired": "green",
    "late": "yellow",
    "skipped": "dim",
    "missed": "bold red",
    "backfilled": "cyan",
}
UNRUN = ("skipped", "missed")


def summary(slots: list[Json]) -> str:
    """`412 fired · 3 late · 2 skipped` — the states in the ledger's own order."""
    counts = Counter(slot["state"] for slot in slots)
    return " · ".join(f"{counts[state]} {state}" for state in STATE_STYLES if counts[state]) or "no slots yet"


class SlotsScreen(Screen[None]):
    DEFAULT_CSS = """
    SlotsScreen .title { background: $primary; color: $text; text-style: bold; padding: 0 1; }
    SlotsScreen #summary { padding: 0 1; color: $text-muted; }
    SlotsScreen DataTable { height: 1fr; }
    """
    BINDINGS = [
        Binding("b", "backfill", "Backfill", id="slots.backfill"),
        Binding("enter", "open", "Open run", id="slots.open", show=False),
        Binding("r", "reload", "Reload", id="slots.reload"),
        Binding("escape", "back", "Back", id="slots.back"),
    ]

    def __init__(self, session: Session, trigger: Json, title: str) -> None:
        super().__init__()
        self.session = session
        self.trigger = trigger
        self.title_text = title
        self.slots: list[Json] = []

    def compose(self) -> ComposeResult:
        yield Static(f"Slots of {self.title_text} · {self.trigger['config'].get('cron', '')} · last 24 h", classes="title")
        yield Static("reading the ledger…", id="summary")
        table: DataTable[str | Text] = DataTable(id="slots", cursor_type="row", zebra_stripes=True)
        table.add_columns("Instant", "State", "Ran at", "Execution")
        yield table
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(DataTable).focus()
        self.action_reload()

    @work(exclusive=True, group="slots-load")
    @reports_api_errors
    async def action_reload(self) -> None:
        self.slots = await self.session.client.slots(self.trigger["id"])
        self._show()

    def _show(self) -> None:
        now = self.session.clock()
        table: DataTable[str | Text] = self.query_one(DataTable)
        table.clear()
        for slot in reversed(self.slots):
            table.add_row(
                format_time(slot["instant"], now),
                Text(slot["state"], style=STATE_STYLES.get(slot["state"], "")),
                format_time(slot.get("firedAt"), now),
                slot.get("executionId") or "—",
                key=slot["instant"],
            )
        unrun = sum(slot["state"] in UNRUN for slot in self.slots)
        hint = f" — b runs the {unrun} that never ran" if unrun else ""
        self.query_one("#summary", Static).update(summary(self.slots) + hint)

    def action_open(self) -> None:
        table: DataTable[str | Text] = self.query_one(DataTable)
        if not self.slots or table.cursor_row < 0:
            return
        slot = list(reversed(self.slots))[table.cursor_row]
        if slot.get("executionId"):
            self.post_message(OpenExecution(slot["executionId"]))
        else:
            self.notify(f"This instant was {slot['state']}: nothing ran. b backfills it.", severity="information")

    @work(exclusive=True, group="slots-backfill")
    @reports_api_errors
    async def action_backfill(self) -> None:
        """The range is the day the screen shows, so what is confirmed is what is seen."""
        if not self.slots:
            self.notify("No slots in the last day: nothing to backfill.", severity="information")
            return
        since, until = self.slots[0]["instant"], _just_after(self.slots[-1]["instant"])
        preview = await self.session.client.backfill(self.trigger["id"], since, until, dry_run=True)
        instants = preview["instants"]
        if not instants:
            self.notify("Every instant of the day shown has run.", severity="information")
            return
        now = self.session.clock()
        listed = ", ".join(format_time(i, now) for i in instants[:6]) + (f" and {len(instants) - 6} more" if len(instants) > 6 else "")
        question = f"Backfill {self.title_text}?\nRuns {len(instants)} instants that never ran: {listed}."
        if not await self.session.ask(Confirm(question, "Backfill")):
            return
        started = await self.session.client.backfill(self.trigger["id"], since, until)
        self.notify(f"{len(started['executionIds'])} executions queued", title="Backfill")
        self.action_reload()

    def action_back(self) -> None:
        self.dismiss(None)


def _just_after(instant: str) -> str:
    """The end of a range that still holds `instant` (the range's end is excluded)."""
    return (datetime.fromisoformat(instant.replace("Z", "+00:00")) + timedelta(milliseconds=1)).isoformat()
