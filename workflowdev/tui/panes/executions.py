"""`:executions` — every execution, newest first, live, filtered by status and flow.

The table is keyed by execution id and is never rebuilt on events: `execution.updated` events
are gathered for FLUSH_SECONDS and applied in one batch, changing only the cells whose text
changed, so a burst of hundreds of events per second costs a few redraws and the cursor stays on
the execution the operator is looking at. Executions arrive a page at a time (the API pages by
at most 1000): the first page on load, the next when the cursor nears the end of what is loaded,
so ten thousand executions never load at once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from dataclasses import replace
from typing import Any
from typing import ClassVar

from rich.text import Text
from textual import work
from textual.binding import Binding
from textual.binding import BindingType
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import DataTable
from textual.widgets import Input
from textual.widgets import Static
from textual.widgets.data_table import RowDoesNotExist

from workflowdev.tui.client import ApiError
from workflowdev.tui.formatting import elapsed_ms
from workflowdev.tui.formatting import format_duration
from workflowdev.tui.formatting import format_time
from workflowdev.tui.formatting import short_id
from workflowdev.tui.formatting import status_text
from workflowdev.tui.navigation import OpenExecution
from workflowdev.tui.panes.base import Json
from workflowdev.tui.panes.execution_state import ExecutionActionsPane
from workflowdev.tui.panes.execution_state import merge_update
from workflowdev.tui.session import Session
from workflowdev.tui.session import reports_api_errors
from workflowdev.tui.widgets.list_table import ListTable

PAGE_SIZE = 200
"""Small enough that adding a page (Textual measures every new cell) is not a visible hitch."""
NEAR_END = 100
"""The next page is read when the cursor comes this close to the last loaded row, before it gets there."""
FLUSH_SECONDS = 0.1
FILTER_DELAY = 0.3
"""Typing in the flow filter reloads once the operator pauses, not on every key."""
STATUS_FILTERS: tuple[tuple[str, frozenset[str]], ...] = (
    ("ALL", frozenset()),
    ("RUNNING", frozenset({"RUNNING"})),
    ("PAUSED", frozenset({"PAUSED"})),
    ("FAILED", frozenset({"FAILED", "TIMED_OUT"})),
    ("SUCCESS", frozenset({"SUCCESS"})),
    ("QUEUED", frozenset({"QUEUED"})),
    ("CANCELLED", frozenset({"CANCELLED"})),
)
"""What `s` steps through; FAILED takes TIMED_OUT with it, as both are failures to look at."""
FIXED_COLUMNS = 11 + 8 + 11 + 8 + 7 + 6 * 2 + 2
"""Widths of every column but the flow's, their padding and the scrollbar: the flow gets the rest."""


@dataclass(frozen=True)
class RowId:
    """The id cell: shows the short id, and carries the order the server lists executions in."""

    id: str
    created_at: str

    def __rich__(self) -> Text:
        return Text(short_id(self.id))

    @property
    def order(self) -> tuple[str, str]:
        return row_order({"id": self.id, "createdAt": self.created_at})


@dataclass(frozen=True)
class ExecutionFilter:
    """The status and flow filters, both as server query parameters and as a test on live rows."""

    status: int = 0
    """Index into STATUS_FILTERS."""
    text: str = ""
    flow_ids: frozenset[str] = frozenset()
    """Flows whose `namespace/name` contains `text`, resolved when the filter is set."""

    @property
    def statuses(self) -> frozenset[str]:
        return STATUS_FILTERS[self.status][1]

    @property
    def status_param(self) -> str | None:
        return ",".join(sorted(self.statuses)) or None

    @property
    def flow_param(self) -> str | None:
        """One matching flow is filtered by the server; several are filtered here, page by page."""
        return next(iter(self.flow_ids)) if self.text and len(self.flow_ids) == 1 else None

    @property
    def matches_nothing(self) -> bool:
        return bool(self.text) and not self.flow_ids

    def served(self, execution: Json) -> bool:
        """Whether the server's list for this filter holds it (what paging offsets count)."""
        if self.statuses and execution.get("status") not in self.statuses:
            return False
        return self.flow_param is None or execution.get("flowId") == self.flow_param

    def matches(self, execution: Json) -> bool:
        if not self.served(execution):
            return False
        return not self.text or self.text.lower() in flow_label(execution).lower()

    def describe(self) -> str:
        words = [f"status {STATUS_FILTERS[self.status][0]}"]
        if self.text:
            words.append(f"flow ~ {self.text!r}")
        return " · ".join(words)


def flow_label(execution: Json) -> str:
    return f"{execution.get('namespace') or ''}/{execution.get('flowName') or ''}"


def row_order(execution: Json) -> tuple[str, str]:
    """Where the server lists an execution: by creation, newest first, ties broken by id."""
    return (execution.get("createdAt") or "", execution["id"])


def complete(data: Json) -> bool:
    """Enough to show a row without asking the server (the creation event carries all of it)."""
    return all(data.get(name) is not None for name in ("id", "status", "flowName", "createdAt"))


class ExecutionsPane(ExecutionActionsPane):
    PANE_TITLE = "Executions"
    DEFAULT_CSS = """
    ExecutionsPane #executions-info { height: 1; color: $text-muted; padding: 0 1; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "open", "Open", id="executions.open", priority=True, show=False),  # 80 columns: ? lists it
        Binding("F", "open(True)", "Failure", id="executions.open_failure"),
        Binding("s", "cycle_status", "Status", id="executions.status"),
        Binding("slash", "filter", "Filter", id="executions.filter", key_display="/"),
        Binding("escape", "clear_filter", "Clear filter", id="executions.clear_filter", show=False),
        Binding("c", "cancel", "Cancel", id="executions.cancel"),
        Binding("R", "retry", "Retry", id="executions.retry"),
    ]

    def __init__(self, session: Session) -> None:
        super().__init__(session)
        self.filter = ExecutionFilter()
        self.rows: dict[str, Json] = {}
        """The executions in the table, by id, as last heard of."""
        self._cells: dict[str, dict[str, Any]] = {}
        self._pending: dict[str, Json] = {}
        self._flush_timer: Timer | None = None
        self._filter_timer: Timer | None = None
        self._offset = 0
        """How far into the server's list (for the current filter) the loaded pages reach."""
        self._more = False
        self._paging = False
        self._generation = 0
        """Bumped by every reload, so a page read for an older filter is dropped."""
        self._oldest: tuple[str, str] | None = None
        """The order of the oldest row loaded: live news about anything older waits for its page."""

    @property
    def table(self) -> DataTable[Any]:
        return self.query_one("#executions-table", DataTable)

    @property
    def showing(self) -> bool:
        """False while the pane is not composed yet or already torn down (timers and late replies)."""
        return bool(self.query("#executions-table"))

    def compose_body(self) -> Iterable[Widget]:
        yield Input(placeholder="flow name contains… (esc clears)", id="executions-filter", classes="filter-bar")
        yield Static(id="executions-info")
        yield ListTable(id="executions-table", cursor_type="row")

    def on_mount(self) -> None:
        table = self.table
        flow_width = max(20, self.app.size.width - FIXED_COLUMNS)
        for key, label, width in (
            ("status", "Status", 11),
            ("flow", "Flow", flow_width),
            ("id", "Id", 8),
            ("started", "Started", 11),
            ("duration", "Duration", 8),
            ("tasks", "Tasks", 7),
        ):
            table.add_column(label, key=key, width=width)
        table.focus()
        self.set_interval(1.0, self._tick)
        self._describe()

    # --- loading ----------------------------------------------------------------------------

    def reload(self) -> None:
        self._generation += 1
        self.workers.cancel_group(self, "executions-more")
        self._paging = False
        self._load_first_page(self._generation)

    @work(exclusive=True, group="executions-load")
    @reports_api_errors
    async def _load_first_page(self, generation: int) -> None:
        wanted = self.filter
        if wanted.text:
            wanted = replace(wanted, flow_ids=await self._flows_matching(wanted.text))
        page = [] if wanted.matches_nothing else await self._page(wanted, 0)
        if generation != self._generation or not self.showing:
            return
        self.filter = wanted
        self._offset, self._more = len(page), len(page) == PAGE_SIZE
        self._replace(page)
        self._page_in_if_near_end()

    async def _flows_matching(self, text: str) -> frozenset[str]:
        wanted = text.lower()
        word = wanted.rsplit("/", 1)[-1] or None
        flows = await self.client.flows(q=word)
        return frozenset(f["id"] for f in flows if wanted in f"{f.get('namespace')}/{f.get('name')}".lower())

    async def _page(self, wanted: ExecutionFilter, offset: int) -> list[Json]:
        return await self.client.executions(
            status=wanted.status_param, flow_id=wanted.flow_param, limit=PAGE_SIZE, offset=offset
        )

    @work(group="executions-more")
    @reports_api_errors
    async def _load_more(self, generation: int) -> None:
        self._paging = True
        try:
            page = await self._page(self.filter, self._offset)
        finally:
            self._paging = False
        if generation != self._generation or not self.showing:
            return
        self._offset += len(page)
        self._more = len(page) == PAGE_SIZE
        fresh = [e for e in page if e["id"] not in self.rows and self.filter.matches(e)]
        with self.app.batch_update():
            for execution in fresh:  # older than everything loaded: they belong at the end
                self._add_row(execution)
        self._describe()
        self._page_in_if_near_end()

    def _page_in_if_near_end(self) -> None:
        table = self.table
        if self._more and not self._paging and table.cursor_row >= table.row_count - NEAR_END:
            self._paging = True
            self._load_more(self._generation)

    def _replace(self, page: list[Json]) -> None:
        """A fresh first page (load, filter change, resync): rows change in place, the cursor stays."""
        keep = self._cursor_key()
        ids = {e["id"] for e in page}
        with self.app.batch_update():
            for gone in [key for key in self.rows if key not in ids]:
                self._remove_row(gone)
            for execution in page:
                if execution["id"] in self.rows:
                    self.rows[execution["id"]] = execution
                    self._update_row(execution["id"])
                else:
                    self._add_row(execution)
            self._sort(keep)
        self._oldest = min(map(row_order, page), default=None)
        self._describe()

    # --- live updates -----------------------------------------------------------------------

    def on_server_event(self, event: Json) -> None:
        if event.get("type") != "execution.updated" or not event.get("executionId"):
            return
        self._pending.setdefault(event["executionId"], {}).update(event.get("data") or {})
        if self._flush_timer is None:
            self._flush_timer = self.set_timer(FLUSH_SECONDS, self._flush)

    def _flush(self) -> None:
        self._flush_timer = None
        if not self.showing:
            return
        pending, self._pending = self._pending, {}
        keep = self._cursor_key()
        added = False
        unknown: list[str] = []
        with self.app.batch_update():
            for execution_id, data in pending.items():
                if execution_id in self.rows:
                    self._apply(execution_id, data)
                elif complete(data):
                    added = self._admit({"id": execution_id, **data}) or added
                elif self._may_match(data):
                    unknown.append(execution_id)
            if added:
                self._sort(keep)
            else:
                self._restore_cursor(keep)
        if unknown:
            self._fetch_unknown(unknown, self._generation)
        self._describe()

    def _apply(self, execution_id: str, data: Json) -> None:
        """Merge news about a shown execution; it leaves the table when it leaves the filter."""
        execution = self.rows[execution_id]
        was_served = self.filter.served(execution)
        merge_update(execution, data)
        if self.filter.matches(execution):
            self._update_row(execution_id)
            return
        self._remove_row(execution_id)
        if was_served and not self.filter.served(execution):
            self._offset = max(0, self._offset - 1)

    def _may_match(self, data: Json) -> bool:
        """Whether a partial update about an unknown execution is worth reading it for."""
        statuses = self.filter.statuses
        return not statuses or data.get("status") in statuses

    def _admit(self, execution: Json) -> bool:
        """Add an execution heard of live, if the filter wants it and it falls in the loaded range."""
        if not self.filter.matches(execution) or execution["id"] in self.rows:
            return False
        if self._more and self._oldest is not None and row_order(execution) < self._oldest:
            return False  # it will come with its page
        self._add_row(execution)
        if self.filter.served(execution):
            self._offset += 1
        return True

    @work(group="executions-fetch")
    async def _fetch_unknown(self, ids: list[str], generation: int) -> None:
        found: list[Json] = []
        for execution_id in ids:
            try:
                execution, _tasks = await self.client.execution(execution_id)
            except ApiError:
                continue  # deleted meanwhile, or the server went away: the next resync reloads
            found.append(execution)
        if generation != self._generation or not self.showing:
            return
        keep = self._cursor_key()
        with self.app.batch_update():
            admitted = [self._admit(execution) for execution in found]
            if any(admitted):
                self._sort(keep)
        self._describe()

    def _tick(self) -> None:
        """Once a second: running (and paused) executions' durations grow, with no call to the server."""
        if not self.showing:
            return
        with self.app.batch_update():
            for execution_id, execution in self.rows.items():
                if execution.get("status") in ("RUNNING", "PAUSED"):
                    self._update_row(execution_id)

    # --- the table --------------------------------------------------------------------------

    def _row_cells(self, execution: Json) -> dict[str, Any]:
        now = self.session.clock()
        return {
            "status": status_text(execution.get("status")),
            "flow": Text(flow_label(execution)),
            "id": RowId(execution["id"], execution.get("createdAt") or ""),
            "started": Text(format_time(execution.get("startedAt") or execution.get("createdAt"), now)),
            "duration": Text(format_duration(elapsed_ms(execution, now))),
            "tasks": Text(f"{execution.get('tasksExecuted') or 0}/{execution.get('tasksTotal') or 0}"),
        }

    def _add_row(self, execution: Json) -> None:
        order = row_order(execution)
        if self._oldest is None or order < self._oldest:
            self._oldest = order
        cells = self._row_cells(execution)
        self.rows[execution["id"]] = execution
        self._cells[execution["id"]] = cells
        self.table.add_row(*cells.values(), key=execution["id"])

    def _update_row(self, execution_id: str) -> None:
        cells = self._row_cells(self.rows[execution_id])
        shown = self._cells[execution_id]
        for column, value in cells.items():
            if shown.get(column) != value:
                self.table.update_cell(execution_id, column, value)
        self._cells[execution_id] = cells

    def _remove_row(self, execution_id: str) -> None:
        self.rows.pop(execution_id, None)
        self._cells.pop(execution_id, None)
        self.table.remove_row(execution_id)

    def _sort(self, keep: str | None) -> None:
        self.table.sort("id", key=lambda cell: cell.order, reverse=True)
        self._restore_cursor(keep)

    def _cursor_key(self) -> str | None:
        table = self.table
        if not table.row_count:
            return None
        try:
            return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        except RowDoesNotExist:
            return None

    def _restore_cursor(self, key: str | None) -> None:
        if key is None or key not in self.rows:
            return
        index = self.table.get_row_index(key)
        if index != self.table.cursor_row:
            self.table.move_cursor(row=index)

    def _describe(self) -> None:
        loaded = f"{len(self.rows):,} shown" + (" · more below" if self._more else "")
        self.query_one("#executions-info", Static).update(f"{self.filter.describe()} · {loaded}")

    def selected(self) -> Json | None:
        key = self._cursor_key()
        return self.rows.get(key) if key else None

    def acted_on(self) -> Json | None:
        return self.selected()

    # --- keys -------------------------------------------------------------------------------

    def on_data_table_row_highlighted(self, _event: DataTable.RowHighlighted) -> None:
        self.refresh_bindings()
        self._page_in_if_near_end()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "open":
            if self.query_one("#executions-filter", Input).has_focus:
                return False  # enter in the filter bar accepts the filter
            return self.selected() is not None
        return super().check_action(action, parameters)

    def action_open(self, failed_first: bool = False) -> None:
        execution = self.selected()
        if execution is not None:
            self.post_message(OpenExecution(execution["id"], failed_first=failed_first))

    def action_cycle_status(self) -> None:
        self._set_filter(replace(self.filter, status=(self.filter.status + 1) % len(STATUS_FILTERS)))

    def apply_argument(self, argument: str) -> None:
        """`:executions failed` (any status name, or `all`)."""
        names = [name for name, _ in STATUS_FILTERS]
        wanted = argument.strip().upper()
        if wanted not in names:
            self.notify(f"no status {argument!r}; one of {', '.join(n.lower() for n in names)}", severity="warning")
            return
        self._set_filter(replace(self.filter, status=names.index(wanted)))

    def _set_filter(self, wanted: ExecutionFilter) -> None:
        self.filter = wanted
        self._describe()
        self.reload()

    def action_filter(self) -> None:
        bar = self.query_one("#executions-filter", Input)
        bar.add_class("-visible")
        bar.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        if self._filter_timer is not None:
            self._filter_timer.stop()
        text = event.value.strip()
        self._filter_timer = self.set_timer(FILTER_DELAY, lambda: self._set_filter(replace(self.filter, text=text)))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.table.focus()

    def action_clear_filter(self) -> None:
        bar = self.query_one("#executions-filter", Input)
        bar.remove_class("-visible")
        self.table.focus()
        if bar.value or self.filter.text:
            if self._filter_timer is not None:
                self._filter_timer.stop()
            with bar.prevent(Input.Changed):
                bar.value = ""
            self._set_filter(replace(self.filter, text="", flow_ids=frozenset()))
