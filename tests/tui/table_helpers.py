"""Reading what a table pane shows: its rows, a cell, its details panel, the notifications."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from textual.pilot import Pilot
from textual.widgets import Static

from tests.tui.conftest import wait_for
from workflowdev.tui.app import WorkflowdevApp
from workflowdev.tui.panes.table_pane import TablePane


async def open_pane(app: WorkflowdevApp, pilot: Pilot[None], name: str, loaded: bool = True) -> Any:
    """Go to pane `name` (the `:` command line itself is tested in test_app); once `loaded`, after
    its first read."""
    app.go(name)
    pane = await wait_for(
        pilot, lambda: app.current_mode == name and isinstance(app.screen, TablePane) and app.screen, f":{name}"
    )
    if loaded:
        await wait_for(pilot, lambda: pane.reads, f"the {name} pane to read the server")
    return pane


def row_keys(pane: TablePane) -> list[str]:
    return [row.key.value for row in pane.table.ordered_rows if row.key.value is not None]


def cell(pane: TablePane, row: str, column: str) -> str:
    return str(pane.table.get_cell(row, column))


def plain(renderable: Any) -> str:
    console = Console(record=True, width=120, color_system=None)
    console.print(renderable)
    return console.export_text()


def details(pane: TablePane) -> str:
    """The details panel's text, or "" while it is hidden."""
    if not pane.query_one("#details").has_class("-visible"):
        return ""
    return plain(pane.query_one("#details-body", Static).content)


def notifications(app: WorkflowdevApp) -> list[str]:
    return [f"{note.title} {note.message}" for note in app._notifications]
