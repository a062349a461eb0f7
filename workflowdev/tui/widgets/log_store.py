"""The log lines behind the log tail: bounded, kept in columns, and filtered into a row list.

A log view lags when every line costs an object or two and every filter change walks objects.
So lines are stored column by column (the strings the server sent, a byte per level), and the
view is an `array` of row numbers — `(line << PART_BITS) | part`, one per display row — that a
filter change (or a new wrap width) rebuilds in one pass and an append only extends. Finding a task's or the first
error's line is a C-speed search (`list.index`, a regex over the level bytes), not a Python loop.
"""

from __future__ import annotations

import re
from array import array
from bisect import bisect_left
from collections.abc import Iterable
from collections.abc import Iterator
from functools import lru_cache
from typing import Any
from typing import NamedTuple

from rich.cells import cell_len
from rich.cells import chop_cells

MAX_LINES = 200_000
"""Log lines kept; older ones are dropped (and counted) so a chatty execution cannot eat the memory."""
CHUNK = 1_000
"""Longest display row: a longer message line continues on the next row, so all of it stays
reachable with a bounded horizontal scroll."""
MAX_PARTS = 10_000
"""Display rows of one message at most, wrapped or not (the server caps a message at 64 KiB)."""
MIN_WRAP_WIDTH = 10
"""Narrowest a wrapped row gets, however small the pane: below that nothing reads anyway."""
PART_BITS = 16
PART_MASK = (1 << PART_BITS) - 1
MAX_TASK_WIDTH = 24

LEVEL_RANKS: dict[str, int] = {"DEBUG": 10, "INFO": 20, "WARN": 30, "ERROR": 40, "CRITICAL": 50}
UNKNOWN_RANK = LEVEL_RANKS["INFO"]
_error_ranks = re.compile(b"[\\x28-\\xff]")
"""A level byte of ERROR (40) or above."""


def level_name(level: Any) -> str:
    """`warning` → `WARN`: the server sends Python's lower-case names; the column is five wide."""
    name = str(level or "INFO").upper()
    return "WARN" if name == "WARNING" else name


def parse_level(level: str | None) -> str | None:
    """A minimum level from the caller, refused clearly when it is not one the server sends."""
    if level is None:
        return None
    name = level_name(level)
    if name not in LEVEL_RANKS:
        raise ValueError(f"unknown log level {level!r}: use one of DEBUG, INFO, WARN, ERROR")
    return name


def split_message(message: str) -> str | tuple[str, ...]:
    """One string when it fits one row; otherwise its rows (tracebacks and JSON keep their lines)."""
    if "\t" in message:
        message = message.expandtabs()
    if "\n" not in message and len(message) <= CHUNK:
        return message
    parts: list[str] = []
    for line in message.rstrip("\n").splitlines() or [""]:
        parts.extend(line[start : start + CHUNK] for start in range(0, max(len(line), 1), CHUNK))
    if len(parts) > MAX_PARTS:
        parts[MAX_PARTS - 1 :] = [f"… {len(parts) - MAX_PARTS + 1:,} more lines"]
    return tuple(parts)


def task_label(task: str | None, attempt: int | None) -> str:
    """`fetch`, or `fetch#2` from the second attempt on."""
    if not task:
        return ""
    return f"{task}#{attempt}" if attempt and attempt > 1 else task


def cells(text: str) -> int:
    return len(text) if text.isascii() else cell_len(text)


@lru_cache(maxsize=512)
def wrap_rows(message: str | tuple[str, ...], width: int) -> tuple[str, ...]:
    """A message's display rows at most `width` cells wide (cut at the cell, as `less` does).

    Cached because a row is asked for again on every repaint of the rows around it.
    """
    rows: list[str] = []
    for part in (message,) if type(message) is str else message:
        if part.isascii():
            rows.extend(part[start : start + width] for start in range(0, max(len(part), 1), width))
        else:
            rows.extend(chop_cells(part, width) or [part])  # all zero-width: one row, not none
    if len(rows) > MAX_PARTS:
        rows[MAX_PARTS - 1 :] = [f"… {len(rows) - MAX_PARTS + 1:,} more rows: w turns wrapping off"]
    return tuple(rows)


def wrapped_count(message: str | tuple[str, ...], width: int) -> int:
    """How many rows `wrap_rows` makes, without making them for the common short ASCII line."""
    if type(message) is str and message.isascii():
        return min(max(1, -(-len(message) // width)), MAX_PARTS)
    return len(wrap_rows(message, width))


class Line(NamedTuple):
    """One display row, as the widget draws it (built only for rows on screen)."""

    ts: str | None
    level: str
    task: str | None
    attempt: int | None
    text: str
    continued: bool
    """A second or later row of a multi-line message: drawn indented, without the prefix."""


class Appended(NamedTuple):
    shown: int
    """New lines that pass the filter (the reader's "N new lines")."""
    shift: int
    """View rows that moved up because old lines were dropped (or the notice appeared)."""
    widened: bool
    """The task column grew: rows drawn before are stale."""

    def merge(self, later: Appended) -> Appended:
        """Two appends seen as one (the view catches up once per burst)."""
        return Appended(self.shown + later.shown, self.shift + later.shift, self.widened or later.widened)


NOTHING_ADDED = Appended(0, 0, False)


class LogStore:
    """At most `max_lines` log lines, oldest dropped first, and the rows the filter shows."""

    def __init__(self, max_lines: int = MAX_LINES) -> None:
        self.max_lines = max_lines
        self.dropped = 0
        """Lines dropped from the top since the last clear; also the absolute index of the first kept."""
        self.rows = array("q")
        """The filtered view: `(absolute line << PART_BITS) | part` for each display row, ascending."""
        self.task_width = 0
        self.longest = 0
        """Widest message row seen, in cells (for the horizontal scroll)."""
        self.task: str | None = None
        self.level: str | None = None
        self.wrap_width: int | None = None
        """Cells a message row may take when long lines wrap; None: they scroll sideways."""
        self._min_rank = 0
        self._times: list[str | None] = []
        self._ranks = bytearray()
        self._levels: list[str] = []
        self._tasks: list[str | None] = []
        self._attempts: list[int | None] = []
        self._messages: list[str | tuple[str, ...]] = []
        self._level_names: dict[str, str] = {}
        """What the server sends (`warning`) → what the column shows (`WARN`)."""
        self._task_names: dict[str, str] = {}
        """One copy of each task name, however many lines repeat it."""

    def __len__(self) -> int:
        return len(self._messages)

    def add(self, lines: Iterable[dict[str, Any]]) -> Appended:
        first = len(self._messages)
        widened = False
        level_names, task_names = self._level_names, self._task_names
        longest = self.longest
        for line in lines:
            raw_level = line.get("level") or ""
            level = level_names.get(raw_level)
            if level is None:
                level = level_names[raw_level] = level_name(raw_level)
            task = line.get("taskName")
            attempt = line.get("attempt")
            if task is not None:
                task = task_names.setdefault(task, task)
                width = len(task_label(task, attempt))
                if width > self.task_width and self.task_width < MAX_TASK_WIDTH:
                    self.task_width = min(width, MAX_TASK_WIDTH)
                    widened = True
            message = split_message(str(line.get("message") or ""))
            if type(message) is str:
                longest = max(longest, cells(message))
            else:
                longest = max(longest, *map(cells, message))
            self._times.append(line.get("ts"))
            self._ranks.append(LEVEL_RANKS.get(level, UNKNOWN_RANK))
            self._levels.append(level)
            self._tasks.append(task)
            self._attempts.append(attempt)
            self._messages.append(message)
        self.longest = longest
        before = len(self.rows)
        self.rows.extend(self._visible(range(first, len(self._messages))))
        shown = sum(1 for row in self.rows[before:] if not row & PART_MASK)
        return Appended(shown, self._drop_oldest(), widened)

    def clear(self) -> None:
        """Forget every line; the filter stays."""
        for column in self._columns():
            del column[:]
        del self.rows[:]
        self.dropped = self.task_width = self.longest = 0

    def set_filter(self, task: str | None, level: str | None) -> None:
        self.level = parse_level(level)
        self.task = task or None
        self._min_rank = LEVEL_RANKS[self.level] if self.level else 0
        self.rows = array("q", self._visible(range(len(self._messages))))

    def set_wrap(self, width: int | None) -> None:
        """Wrap long lines to `width` cells (at least `MIN_WRAP_WIDTH`), or stop wrapping (None)."""
        self.wrap_width = None if width is None else max(width, MIN_WRAP_WIDTH)
        self.rows = array("q", self._visible(range(len(self._messages))))

    def line(self, row: int) -> Line:
        offset = (row >> PART_BITS) - self.dropped
        part = row & PART_MASK
        message = self._messages[offset]
        if self.wrap_width is not None:
            text = wrap_rows(message, self.wrap_width)[part]
        else:
            text = message if type(message) is str else message[part]
        return Line(
            self._times[offset], self._levels[offset], self._tasks[offset], self._attempts[offset], text, part > 0
        )

    def row_index(self, absolute: int) -> int:
        """Where line `absolute` (or the first shown line after it) sits in the view."""
        return bisect_left(self.rows, absolute << PART_BITS)

    def first_of_task(self, task: str) -> int | None:
        """The view index of `task`'s first shown line, or None."""
        return self._first_shown(_positions(self._tasks, task))

    def first_error(self) -> int | None:
        """The view index of the first shown line at ERROR or above, or None."""
        return self._first_shown(match.start() for match in _error_ranks.finditer(self._ranks))

    def _first_shown(self, offsets: Iterable[int]) -> int | None:
        for offset in offsets:
            if self._shows(offset):
                return self.row_index(self.dropped + offset)
        return None

    def _shows(self, offset: int) -> bool:
        return self._ranks[offset] >= self._min_rank and (self.task is None or self._tasks[offset] == self.task)

    def _visible(self, offsets: range) -> Iterator[int]:
        """The display rows of the lines at `offsets` that the filter lets through.

        The test of `_shows` is written out here, on locals: this loop runs over every line on
        each filter change, and a method call per line would double its cost.
        """
        min_rank, task, start, wrap = self._min_rank, self.task, self.dropped, self.wrap_width
        ranks, tasks, messages = self._ranks, self._tasks, self._messages
        for offset in offsets:
            if ranks[offset] >= min_rank and (task is None or tasks[offset] == task):
                base = (start + offset) << PART_BITS
                message = messages[offset]
                if wrap is not None:
                    yield from range(base, base + wrapped_count(message, wrap))
                elif type(message) is str:
                    yield base
                else:
                    yield from range(base, base + len(message))

    def _columns(self) -> tuple[list[Any] | bytearray, ...]:
        return (self._times, self._ranks, self._levels, self._tasks, self._attempts, self._messages)

    def _drop_oldest(self) -> int:
        excess = len(self._messages) - self.max_lines
        if excess <= 0:
            return 0
        had_notice = self.dropped > 0
        for column in self._columns():
            del column[:excess]
        self.dropped += excess
        gone = self.row_index(self.dropped)
        del self.rows[:gone]
        return gone - (0 if had_notice else 1)


def _positions(values: list[Any], wanted: Any) -> Iterator[int]:
    """Every index of `wanted` in `values`, found by `list.index` (C speed)."""
    start = 0
    while True:
        try:
            start = values.index(wanted, start)
        except ValueError:
            return
        yield start
        start += 1
