"""A table kept current in place: keyed rows, only changed cells rewritten, bursts coalesced.

Clearing and rebuilding a table on every event makes it flicker, loses the operator's cursor and
costs a full layout per event; at 500 events a second the console would do nothing else. Here a
row is found by its key (the resource id), a change rewrites only the cells that differ, and
`defer` gathers a burst of changes into one `batch` a moment later — one repaint, cursor kept on
the same item.

Adopting it in a pane: yield `LiveTable(id="table", cursor_type="row")` instead of `DataTable`,
then `table.upsert(item["id"], self.cells(item))` on an event (or `table.defer(...)` for a stream
of them), `table.remove(key)` when an item goes, and `table.sync(rows)` after a full reload
(`table.rebuild(rows, select=...)` when the rows are a new set, such as another namespace).
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Mapping
from contextlib import contextmanager
from typing import Any
from typing import Self

from rich.console import RenderableType
from textual.coordinate import Coordinate
from textual.timer import Timer

from workflowdev.tui.widgets.list_table import ListTable

Cells = tuple[RenderableType, ...]
FLUSH_DELAY = 0.1
"""Seconds `defer` gathers changes before applying them: short enough to feel live."""
FEW_REMOVALS = 8
"""Rows `sync` removes one by one; past this a rebuild is cheaper, as each removal renumbers every row."""


class LiveTable(ListTable[RenderableType]):
    """A `DataTable` addressed by row key; `sort_key` (over a row's cells) keeps rows ordered."""

    def __init__(
        self,
        *,
        sort_key: Callable[[Cells], Any] | None = None,
        reverse: bool = False,
        flush_delay: float = FLUSH_DELAY,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        self.sort_key = sort_key
        self.reverse = reverse
        self.flush_delay = flush_delay
        self._cells: dict[str, Cells] = {}
        self._deferred: dict[str, Cells | None] = {}
        self._flush_timer: Timer | None = None

    @property
    def keys(self) -> list[str]:
        """Row keys in display order."""
        return [row.key.value for row in self.ordered_rows if row.key.value is not None]

    @property
    def selected_key(self) -> str | None:
        """The key of the row under the cursor, or None when the table is empty."""
        if not self.row_count or not self.is_valid_row_index(self.cursor_row):
            return None
        return self.coordinate_to_cell_key(Coordinate(self.cursor_row, 0)).row_key.value

    def upsert(self, key: str, cells: Cells) -> None:
        """Add the row, or rewrite only those of its cells that changed."""
        self.batch({key: cells})

    def remove(self, key: str) -> None:
        """Drop the row if it is there (an item deleted twice is not an error)."""
        self.batch({key: None})

    def batch(self, updates: Mapping[str, Cells | None]) -> None:
        """Apply many changes (`None` removes a row) as one repaint, keeping the cursor's row.

        A row with the wrong number of cells is refused (ValueError) before anything changes. A
        change queued by `defer` for one of these rows is dropped: it is older than this one.
        """
        self._check_widths(updates)
        for key in updates:
            self._deferred.pop(key, None)
        with self._keeping_cursor():
            changed = False
            for key, cells in updates.items():
                if cells is None:
                    self._remove(key)
                else:
                    changed = self._upsert(key, cells) or changed
            if changed and self.sort_key is not None:
                self.sort(key=self.sort_key, reverse=self.reverse)

    def sync(self, rows: Mapping[str, Cells]) -> None:
        """Make the table hold exactly `rows` (after a reload), in their order unless `sort_key` orders it.

        Rows that stay keep their place and only cells that differ are rewritten, as long as that
        gives the order asked for: the staying rows already in it, the new ones after them. A new
        order (a filter ranking matches, newer entries on top), or more than FEW_REMOVALS rows
        going, is cheaper laid down afresh by `rebuild`. Queued changes are dropped: `rows` is newer.
        """
        self._deferred.clear()
        present = self.keys
        kept = [key for key in present if key in rows]
        reordered = self.sort_key is None and kept != list(rows)[: len(kept)]
        if reordered or len(present) - len(kept) > FEW_REMOVALS:
            self.rebuild(rows, select=self.selected_key)
        else:
            gone: dict[str, Cells | None] = {key: None for key in present if key not in rows}
            self.batch({**gone, **rows})

    def rebuild(self, rows: Mapping[str, Cells], *, select: str | None) -> None:
        """Lay `rows` down afresh, the cursor on `select` when it is among them, else on the top row.

        For a new set of rows (another namespace, a reload that may reorder them): the caller says
        where the cursor goes, as only it knows whether the row it was on is still the same item.
        """
        self._check_widths(rows)
        with self.app.batch_update():
            self.clear()
            for key, cells in rows.items():
                self._cells[key] = cells
                self.add_row(*cells, key=key)
            if self.sort_key is not None:
                self.sort(key=self.sort_key, reverse=self.reverse)
            self.move_cursor(row=self.get_row_index(select) if select in self._cells else 0)

    def defer(self, key: str, cells: Cells | None) -> None:
        """Queue a change; a burst of them is applied together `flush_delay` seconds after the first."""
        if self._flush_timer is None:
            self._flush_timer = self.set_timer(self.flush_delay, self.flush)
        self._deferred[key] = cells

    def flush(self) -> None:
        """Apply the queued changes now (the timer calls it; tests and reloads may too)."""
        if self._flush_timer is not None:
            self._flush_timer.stop()
            self._flush_timer = None
        updates, self._deferred = self._deferred, {}
        if updates:
            self.batch(updates)

    def clear(self, columns: bool = False) -> Self:
        self._cells.clear()
        self._deferred.clear()
        super().clear(columns)
        return self

    def _check_widths(self, rows: Mapping[str, Cells | None]) -> None:
        width = len(self.columns)
        for key, cells in rows.items():
            if cells is not None and len(cells) != width:
                raise ValueError(f"row {key!r} has {len(cells)} cells for {width} columns")

    def _upsert(self, key: str, cells: Cells) -> bool:
        """True when the row is new or a cell changed (so a sorted table may need re-sorting)."""
        columns = [column.key for column in self.ordered_columns]
        before = self._cells.get(key)
        self._cells[key] = cells
        if before is None:
            self.add_row(*cells, key=key)
            return True
        changed = False
        for column, old, new in zip(columns, before, cells, strict=True):
            if old != new:
                self.update_cell(key, column, new)
                changed = True
        return changed

    def _remove(self, key: str) -> None:
        if self._cells.pop(key, None) is not None:
            self.remove_row(key)

    @contextmanager
    def _keeping_cursor(self) -> Iterator[None]:
        """Rows added, removed or re-sorted around it must not move the cursor off its item."""
        chosen = self.selected_key
        with self.app.batch_update():
            yield
            if chosen in self._cells:
                index = self.get_row_index(chosen)
                if index != self.cursor_row:
                    self.move_cursor(row=index, animate=False)
