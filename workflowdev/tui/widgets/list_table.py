"""A table that answers the keys operators bring from less and vim, in every list of the console."""

from __future__ import annotations

from typing import ClassVar
from typing import TypeVar

from textual.binding import Binding
from textual.binding import BindingType
from textual.widgets import DataTable

CellType = TypeVar("CellType")


class ListTable(DataTable[CellType]):
    """j/k a row, ctrl+d/ctrl+u a page, g/G the first and the last row (with the arrows,
    page keys and ctrl+home/ctrl+end it already has). Shown in `?`, never in the footer."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j", "cursor_down", "Down", id="list.down", show=False),
        Binding("k", "cursor_up", "Up", id="list.up", show=False),
        Binding("ctrl+d", "page_down", "Page down", id="list.page_down", show=False),
        Binding("ctrl+u", "page_up", "Page up", id="list.page_up", show=False),
        Binding("g", "scroll_top", "First row", id="list.first", show=False),
        Binding("G", "scroll_bottom", "Last row", id="list.last", show=False),
    ]
