"""A table kept current in place: keyed rows, only changed cells rewritten, bursts coalesced.

Clearing and rebuilding a table on every event makes it flicker, loses the operator's cursor and
costs a full layout per event; at 500 events a second the console would do nothing else. Here a
row is found by its key (the resource id), a change rewrites only the cells that differ, and
`defer` gathers a burst of changes into one `batch` a moment later — one repaint, cursor kept on
the same item.

Adopting it in a pane: yield `LiveTable(id="table", cursor_type="row")` instead of `DataTable`,
then `table.upsert(item["id"], self.cells(item))` on an event (or `table.defer(...)` for a stream
of them), `table.remove(key)` when an item goes, and `table.sync(rows)` after a full reload.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Self

from rich.console import RenderableType
from textual.coordinate import Coordinate
from textual.widgets import DataTable

Cells = tuple[RenderableType, ...]
FLUSH_DELAY = 0.1
"""Seconds `defer` gathers changes before applying them: short enough to feel live."""


class LiveTable(DataTable[RenderableType]):
    """A `DataTable` addressed by row key; `sort_key` (over a row's cells) keeps rows ordered."""

    def __init__(
        self, *, sort_key: Callable[[Cells], Any] | None = None, reverse: bool = False, **options: Any
    ) -> None:
        super().__init__(**options)
        self.sort_key = sort_key
        self.reverse = reverse
        self._cells: dict[str, Cells] = {}
        self._deferred: dict[str, Cells | None] = {}

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

        A row with the wrong number of cells is refused (ValueError) before anything changes.
        """
        width = len(self.columns)
        for key, cells in updates.items():
            if cells is not None and len(cells) != width:
                raise ValueError(f"row {key!r} has {len(cells)} cells for {width} columns")
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
        """Make the table hold exactly `rows` (after a reload), still touching only what differs."""
        gone: dict[str, Cells | None] = {key: None for key in self._cells if key not in rows}
        self.batch({**gone, **rows})

    def defer(self, key: str, cells: Cells | None) -> None:
        """Queue a change; a burst of them is applied together FLUSH_DELAY seconds after the first."""
        if not self._deferred:
            self.set_timer(FLUSH_DELAY, self.flush)
        self._deferred[key] = cells

    def flush(self) -> None:
        """Apply the queued changes now (the timer calls it; tests and reloads may too)."""
        updates, self._deferred = self._deferred, {}
        if updates:
            self.batch(updates)

    def clear(self, columns: bool = False) -> Self:
        self._cells.clear()
        self._deferred.clear()
        super().clear(columns)
        return self

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
