"""A pane that is one keyed table of what the server lists: `/` narrows it, `enter` explains a row.

Triggers, credentials, plugins, the audit log and the nodes view are each "a list the server
gives, narrowed by what you type, with one item's details on demand". Keeping that here leaves
each of those modules with only what is particular to it: its columns, its keys, its details.

Rows are keyed by the resource id and a re-read changes only the cells that differ (a LiveTable),
so the cursor stays on the item the operator was looking at and a reload costs no flicker. A
refusal the pane can explain (a role too low, an older server without the endpoint) is shown in
place of the rows rather than as an error toast, because it is a fact about the pane, not a
failure of an action.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from typing import ClassVar

from rich.console import RenderableType
from rich.syntax import Syntax
from rich.text import Text
from textual import on
from textual import work
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widget import Widget
from textual.widgets import DataTable
from textual.widgets import Input
from textual.widgets import Static

from workflowdev.tui.client import ApiError
from workflowdev.tui.formatting import pretty_json
from workflowdev.tui.panes.base import Json
from workflowdev.tui.panes.base import Pane
from workflowdev.tui.session import Session
from workflowdev.tui.widgets.live_table import Cells
from workflowdev.tui.widgets.live_table import LiveTable

MASK = "****"
SECRET_WORDS = ("secret", "password", "token")
"""Config keys whose values the console never shows, whatever the server sent."""


@dataclass(frozen=True)
class Column:
    label: str
    key: str
    width: int | None = None
    """Cells wider than this are cut; None sizes the column to its content."""


def table_bindings(pane: str) -> list[Binding]:
    """The keys every table pane answers to, with ids in the pane's own namespace for remapping.

    `enter` outranks the table's own (so it is listed, and remappable, as this pane's key) and
    stands aside while the filter input has focus, where it submits.
    """
    return [
        Binding("slash", "filter", "Filter", id=f"{pane}.filter", key_display="/"),
        Binding("enter", "details", "Details", id=f"{pane}.details", priority=True),
        Binding("escape", "close", "Close", id=f"{pane}.close", show=False),
    ]


def masked(value: Any) -> Any:
    """`value` with every secret-looking entry replaced by ****, at any depth."""
    if isinstance(value, Mapping):
        return {
            key: MASK if value[key] and any(word in str(key).lower() for word in SECRET_WORDS) else masked(value[key])
            for key in value
        }
    if isinstance(value, list):
        return [masked(item) for item in value]
    return value


def code_view(text: str, language: str) -> Syntax:
    """Highlighted in the terminal's own ANSI colours, so it reads on any theme and over SSH."""
    return Syntax(text, language, theme="ansi_dark", background_color="default", word_wrap=True)


def json_view(value: Any) -> Syntax:
    return code_view(pretty_json(value), "json")


def heading(text: str) -> Text:
    return Text(text, style="bold")


class TablePane(Pane):
    """Subclasses give COLUMNS, `fetch`, `cells` and `describe`; the table keeps itself current."""

    COLUMNS: ClassVar[tuple[Column, ...]] = ()
    NOUN: ClassVar[str] = "items"
    EMPTY_HINT: ClassVar[str] = ""
    """Shown when the server lists nothing: how to make the first one."""
    FILTER_PLACEHOLDER: ClassVar[str] = "filter — esc clears"
    RELOAD_ON_RESUME: ClassVar[bool] = True
    """Re-read whenever the pane comes back into view: for lists that no live event announces."""
    AUTO_FOCUS = "#table"

    DEFAULT_CSS = """
    TablePane #notice { height: auto; padding: 0 1; color: $text-muted; display: none; }
    TablePane #notice.-visible { display: block; }
    TablePane #details {
        height: 50%; display: none; border-top: solid $primary; padding: 0 1; background: $surface;
    }
    TablePane #details.-visible { display: block; }
    """

    def __init__(self, session: Session) -> None:
        super().__init__(session)
        self.items: dict[str, Json] = {}
        self.filter_text = ""
        self.refusal: str | None = None
        self.reads = 0
        """Reads finished (answered or refused): something to wait on instead of sleeping."""
        self._shown_before = False
        self._reload_pending = False

    # --- what a subclass says --------------------------------------------------------------

    async def fetch(self) -> list[Json]:
        """Everything the pane lists, in the order it shows them."""
        raise NotImplementedError

    def cells(self, item: Json) -> Cells:
        raise NotImplementedError

    def describe(self, item: Json) -> RenderableType:
        """What `enter` shows about one row."""
        return json_view(item)

    def searchable(self, item: Json) -> Iterable[str | None]:
        """The fields `/` looks in."""
        return (str(cell) for cell in self.cells(item))

    def refused_up_front(self) -> str | None:
        """A refusal known without asking (a role too low): spares a request the server would log."""
        return None

    def explain_refusal(self, error: ApiError) -> str | None:
        """A message to show instead of the rows for a refusal that is no fault; None reports it."""
        return None

    def status_line(self) -> str:
        """The line above the rows: why there are none, or what the rows are."""
        if self.refusal is not None:
            return self.refusal
        if not self.reads:
            return ""
        if not self.items:
            return " ".join(part for part in (f"No {self.NOUN} yet.", self.EMPTY_HINT) if part)
        if self.filter_text and not self.visible_items():
            return f"No {self.NOUN} match {self.filter_text!r}."
        return ""

    def visible_items(self) -> list[Json]:
        """The rows the filter lets through, in display order: every word must appear somewhere."""
        words = self.filter_text.lower().split()
        if not words:
            return list(self.items.values())
        return [item for item in self.items.values() if _contains_all(self.searchable(item), words)]

    # --- widgets ----------------------------------------------------------------------------

    def compose_body(self) -> Iterable[Widget]:
        yield Input(placeholder=self.FILTER_PLACEHOLDER, id="filter", classes="filter-bar", disabled=True)
        yield Static("", id="notice")
        yield LiveTable(id="table", cursor_type="row", zebra_stripes=True)
        yield VerticalScroll(Static("", id="details-body"), id="details")

    @property
    def table(self) -> LiveTable:
        return self.query_one("#table", LiveTable)

    def on_mount(self) -> None:
        for column in self.COLUMNS:
            self.table.add_column(column.label, key=column.key, width=column.width)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "details" and isinstance(self.focused, Input):
            return False
        return super().check_action(action, parameters)

    def on_screen_resume(self) -> None:
        if self.RELOAD_ON_RESUME and self._shown_before:
            self.reload()
        self._shown_before = True

    # --- loading ----------------------------------------------------------------------------

    def reload(self) -> None:
        self._load()

    def action_reload(self) -> None:
        self.reload()

    def reload_soon(self, delay: float) -> None:
        """One re-read `delay` seconds from now, however many events ask for it meanwhile."""
        if not self._reload_pending:
            self._reload_pending = True
            self.set_timer(delay, self._reload_now)

    def _reload_now(self) -> None:
        self._reload_pending = False
        self.reload()

    @work(exclusive=True, group="load")
    async def _load(self) -> None:
        refusal = self.refused_up_front()
        items: list[Json] = []
        if refusal is None:
            try:
                items = await self.fetch()
            except ApiError as exc:  # own handling: a refusal the pane explains replaces the rows
                refusal = self.explain_refusal(exc)
                if refusal is None:
                    self.session.report(exc)
                    return
        self.refusal = refusal
        self.reads += 1
        self.show(items)

    def show(self, items: Sequence[Json]) -> None:
        self.items = {item["id"]: item for item in items}
        self.render_rows()

    def merge(self, item: Json) -> None:
        """One item the server just returned (after a change made here): update its row."""
        self.items[item["id"]] = {**self.items.get(item["id"], {}), **item}
        self.render_rows()

    # --- the table --------------------------------------------------------------------------

    def render_rows(self) -> None:
        """Bring the table to `visible_items()`, touching only rows and cells that changed."""
        self.table.sync({item["id"]: self.cells(item) for item in self.visible_items()})
        self._show_status()
        self._refresh_details()

    def _show_status(self) -> None:
        line = self.status_line()
        notice = self.query_one("#notice", Static)
        notice.update(line)
        notice.set_class(bool(line), "-visible")

    def selected_id(self) -> str | None:
        key = self.table.selected_key
        return key if key in self.items else None

    def selected(self) -> Json | None:
        key = self.selected_id()
        return None if key is None else self.items[key]

    def selected_or_say(self, what: str) -> Json | None:
        """The row under the cursor, or None after telling the operator to pick one."""
        item = self.selected()
        if item is None:
            self.notify(f"Select {what} first.", severity="warning")
        return item

    # --- filter and details -----------------------------------------------------------------

    def _filter_bar(self, visible: bool) -> Input:
        """The filter input, shown or hidden; hidden, it is disabled so tab never lands in it."""
        bar = self.query_one("#filter", Input)
        bar.set_class(visible, "-visible")
        bar.disabled = not visible
        return bar

    def action_filter(self) -> None:
        self._filter_bar(True).focus()

    def apply_argument(self, argument: str) -> None:
        bar = self._filter_bar(True)
        bar.value = argument
        self._set_filter(argument)
        self.table.focus()

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self._set_filter(event.value)

    @on(Input.Submitted, "#filter")
    def _filter_done(self, event: Input.Submitted) -> None:
        self.table.focus()

    def _set_filter(self, text: str) -> None:
        if text != self.filter_text:
            self.filter_text = text
            self.render_rows()

    def action_close(self) -> None:
        """esc: first the filter, then the details panel."""
        if self.query_one("#filter").has_class("-visible"):
            self._filter_bar(False).value = ""
            self._set_filter("")
            self.table.focus()
        else:
            self.query_one("#details").remove_class("-visible")

    @on(DataTable.RowSelected, "#table")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_details()

    @on(DataTable.RowHighlighted, "#table")
    def _row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._refresh_details()

    def action_details(self) -> None:
        item = self.selected()
        if item is None:
            return
        self.query_one("#details-body", Static).update(self.describe(item))
        self.query_one("#details").add_class("-visible")

    def _refresh_details(self) -> None:
        """An open details panel follows the cursor and the latest data."""
        if self.query_one("#details").has_class("-visible"):
            item = self.selected()
            self.query_one("#details-body", Static).update(self.describe(item) if item else "")


def _contains_all(fields: Iterable[str | None], words: list[str]) -> bool:
    text = " ".join(field for field in fields if field).lower()
    return all(word in text for word in words)
