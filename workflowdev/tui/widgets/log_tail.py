"""An execution's log, followed live: one line-API widget, however many lines arrive.

A widget per line would cost a DOM node, a style pass and a layout slot per line; at 100,000
lines that is seconds of lag. Here the lines live in a bounded `LogStore`, and `render_line`
draws only the rows on screen, from a cache of pre-rendered strips — so appending 10,000 lines
costs a list extend, not a repaint of everything.

Following is the reader's choice: scrolling up stops it (new lines are counted, not shown, so
the text under the reader's eyes stays put), and `G`, `end`, `f`, scrolling back to the bottom or
a click on the "N new lines" badge brings it back.

Long lines scroll sideways, or wrap (`w`): at 80 columns a stack trace reads better folded than
cut, and the horizontal scrollbar then gives its row back to the text.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable
from datetime import UTC
from datetime import tzinfo
from typing import Any
from typing import ClassVar

from rich.cells import cell_len
from rich.segment import Segment
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.binding import BindingType
from textual.cache import LRUCache
from textual.geometry import Size
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from workflowdev.tui.formatting import LEVEL_STYLES
from workflowdev.tui.formatting import Clock
from workflowdev.tui.formatting import parse_time
from workflowdev.tui.widgets.log_store import NOTHING_ADDED
from workflowdev.tui.widgets.log_store import PART_BITS
from workflowdev.tui.widgets.log_store import Line
from workflowdev.tui.widgets.log_store import LogStore
from workflowdev.tui.widgets.log_store import task_label

CACHE_SIZE = 2_000
"""Rendered rows kept: a few screens' worth, so scrolling back and forth never re-renders."""
LEVEL_CYCLE: tuple[str | None, ...] = (None, "INFO", "WARN", "ERROR")
"""What `l` steps through: every line, then INFO and above, WARN and above, ERROR only."""
MESSAGE_STYLES = {"DEBUG": "dim", "ERROR": "red", "CRITICAL": "red"}
TASK_COLOURS = ("cyan", "magenta", "blue", "green", "bright_cyan", "bright_magenta", "bright_blue", "bright_green")
"""ANSI names, so the terminal's own palette decides; red and yellow are left to the levels."""
PREFIX_FIXED = len("HH:MM:SS.mmm ") + len("LEVEL ")

_control_characters = re.compile("[\x00-\x08\x0b-\x1f\x7f]").sub


def task_style(task: str) -> str:
    """The same task gets the same colour in every run (crc32, not the salted `hash`)."""
    return TASK_COLOURS[zlib.crc32(task.encode()) % len(TASK_COLOURS)]


def clock_text(ts: str | None, zone: tzinfo) -> str:
    """`14:03:12.345`: log lines are seconds apart, so milliseconds matter and the date does not."""
    moment = parse_time(ts)
    if moment is None:
        return "--:--:--.---"
    moment = moment.astimezone(zone)
    return f"{moment:%H:%M:%S}.{moment.microsecond // 1000:03d}"


class LogTail(ScrollView, can_focus=True):
    """`14:03:12.345 ERROR fetch#2 connection refused`, one row per line, followed live.

    Its state ("following · ≥ WARN · task fetch") is kept in `border_subtitle`, which shows when
    the embedding screen gives the widget a border.
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {"log-tail--badge", "log-tail--notice"}
    DEFAULT_CSS = """
    LogTail {
        height: 1fr;
        background: $surface;
        color: $text;
        overflow: auto auto;
        &:focus {
            background-tint: $foreground 5%;
        }
        & > .log-tail--badge {
            background: $warning;
            color: $text;
            text-style: bold;
        }
        & > .log-tail--notice {
            color: $text-muted;
            text-style: italic;
        }
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f", "toggle_follow", "Follow", id="logs.follow"),
        Binding("l", "cycle_level", "Level", id="logs.level"),
        Binding("w", "toggle_wrap", "Wrap", id="logs.wrap"),
        Binding("G,end", "end", "End", id="logs.end", key_display="G"),
        Binding("g,home", "top", "Top", id="logs.top", show=False, key_display="g"),
    ]

    follow: reactive[bool] = reactive(True)
    """Stick to the bottom as lines arrive; scrolling up turns it off."""
    pending: reactive[int] = reactive(0)
    """Lines (that pass the filter) which arrived while not following: the badge's count."""
    wrap: reactive[bool] = reactive(False, init=False)
    """Fold long lines at the pane's width instead of scrolling sideways."""

    def __init__(self, *, wrap: bool = False, clock: Clock | None = None, id: str | None = None) -> None:
        super().__init__(id=id)
        self._clock = clock
        """The console's clock decides the zone of the timestamps, as for every other time shown;
        none given (a LogTail on its own), UTC."""
        self.store = LogStore()
        self._cache: LRUCache[int, Strip] = LRUCache(CACHE_SIZE)
        self._zone: tzinfo | None = None
        self._unsettled = NOTHING_ADDED
        self._settle_scheduled = False
        self._scrolling = False
        """True while the widget scrolls itself, so only the reader's own scrolling changes `follow`."""
        self.set_reactive(LogTail.wrap, wrap)

    # --- public interface -------------------------------------------------------------------

    def append(self, lines: list[dict[str, Any]]) -> None:
        """Add `{type: "log", seq, ts, level, taskName, attempt, message}` lines at the bottom.

        The lines are stored at once; the view (size, scroll, badge) catches up once per burst,
        so a stream appending one line per call costs one repaint, not one per line.
        """
        if not lines:
            return
        added = self.store.add(lines)
        self._unsettled = self._unsettled.merge(added)
        if not self._settle_scheduled:
            self._settle_scheduled = True
            self.call_later(self._settle)

    def _settle(self) -> None:
        """Bring the view up to what the store holds: follow it, or count and keep the reader's place.

        Runs once per burst, and first thing in anything that scrolls, so a jump right after an
        append lands on the geometry of every line appended.
        """
        if not self._settle_scheduled:
            return
        added, self._unsettled = self._unsettled, NOTHING_ADDED
        self._settle_scheduled = False
        if added.widened:
            self._cache.clear()
        self._update_virtual_size()
        if self.follow:
            self._stick_to_end()
        else:
            self.pending += added.shown
            if added.shift:
                self._scroll_by_code(y=max(0, self.scroll_y - added.shift))
        if added.widened and self.wrap:
            self._keeping_place(self._apply_wrap_width)
        self.refresh()

    def clear(self) -> None:
        """Forget every line (a new execution, or a replay from the start); the filter is kept."""
        self.store.clear()
        self._cache.clear()
        self._unsettled = NOTHING_ADDED
        self.pending = 0
        self._update_virtual_size()
        self.follow = True
        self._stick_to_end()
        self.refresh()

    def set_filter(self, task: str | None = None, level: str | None = None) -> None:
        """Show only `task`'s lines at `level` or above; None means every task, every level.

        Both are set on every call: pass `task_filter` or `level_filter` back to keep one.
        Raises ValueError for a level that is not DEBUG, INFO, WARN (WARNING) or ERROR.
        """
        self._settle()
        self._keeping_place(lambda: self.store.set_filter(task, level))
        self.pending = 0
        self._describe()

    @property
    def task_filter(self) -> str | None:
        return self.store.task

    @property
    def level_filter(self) -> str | None:
        return self.store.level

    @property
    def line_count(self) -> int:
        """Rows in the view (the dropped-lines notice included): what `virtual_size.height` holds."""
        return len(self.store.rows) + self._notice_rows()

    def jump_to_task(self, task_name: str) -> bool:
        """Bring that task's first line to the top and stop following; False if the view has none."""
        return self._jump(self.store.first_of_task(task_name))

    def first_error_line(self) -> int | None:
        """The view row (a `y` to scroll to) of the first ERROR line, or None."""
        index = self.store.first_error()
        return None if index is None else self._view_y(index)

    def jump_to_first_error(self) -> bool:
        """What a failed execution opens on: its first error at the top, following off."""
        return self._jump(self.store.first_error())

    # --- keys -------------------------------------------------------------------------------

    def action_toggle_follow(self) -> None:
        self.follow = not self.follow

    def action_cycle_level(self) -> None:
        following = LEVEL_CYCLE[(LEVEL_CYCLE.index(self.store.level) + 1) % len(LEVEL_CYCLE)]
        self.set_filter(self.store.task, following)

    def action_toggle_wrap(self) -> None:
        self.wrap = not self.wrap

    def action_end(self) -> None:
        self.follow = True
        self._stick_to_end()

    def action_top(self) -> None:
        self._settle()
        self.follow = False
        self._scroll_by_code(y=0)

    def on_click(self, event: events.Click) -> None:
        if self._badge_shown() and event.y == self._badge_row():
            self.action_end()

    # --- following --------------------------------------------------------------------------

    def watch_follow(self, follow: bool) -> None:
        if follow:
            self.pending = 0
            self._stick_to_end()
        self._describe()
        self.refresh()

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if self._scrolling:
            return
        if new_value < old_value and new_value < self.max_scroll_y and self.follow:
            self.follow = False
        elif new_value > old_value and new_value >= self.max_scroll_y and not self.follow:
            self.follow = True

    def watch_wrap(self) -> None:
        self._settle()
        self._keeping_place(self._apply_wrap_width)
        self._describe()

    def on_resize(self) -> None:
        if self.wrap and self.store.wrap_width != self._wrap_width():
            self._keeping_place(self._apply_wrap_width)
        elif self.follow:
            self._stick_to_end()

    def _stick_to_end(self) -> None:
        self._settle()
        self._scroll_by_code(y=self.max_scroll_y)

    def _jump(self, index: int | None) -> bool:
        if index is None:
            return False
        self._settle()
        self.follow = False
        self._scroll_by_code(y=self._view_y(index))
        return True

    def _keeping_place(self, change: Callable[[], None]) -> None:
        """Rebuild the rows (`change`) with the line at the top still at the top, or still following."""
        top = self._row_at(int(self.scroll_y))
        change()
        self._cache.clear()
        self._update_virtual_size()
        if self.follow:
            self._stick_to_end()
        elif top is not None:
            self._scroll_by_code(y=self._view_y(self.store.row_index(top >> PART_BITS)))
        self.refresh()

    def _apply_wrap_width(self) -> None:
        self.store.set_wrap(self._wrap_width() if self.wrap else None)

    def _scroll_by_code(self, *, y: float) -> None:
        self._scrolling = True
        try:
            self.scroll_to(y=y, animate=False, force=True)
        finally:
            self._scrolling = False

    # --- geometry ---------------------------------------------------------------------------

    def _notice_rows(self) -> int:
        """1 when lines were dropped: the view starts with a row saying how many."""
        return 1 if self.store.dropped else 0

    def _view_y(self, index: int) -> int:
        return index + self._notice_rows()

    def _row_at(self, y: int) -> int | None:
        index = y - self._notice_rows()
        rows = self.store.rows
        return rows[index] if 0 <= index < len(rows) else None

    def _prefix_width(self) -> int:
        task_width = self.store.task_width
        return PREFIX_FIXED + (task_width + 1 if task_width else 0)

    def _text_width(self) -> int:
        """The columns rows may use when wrapping: the vertical scrollbar's are always kept free,
        so its coming and going never re-folds every line."""
        return max(1, self.size.width - self.styles.scrollbar_size_vertical)

    def _wrap_width(self) -> int:
        return self._text_width() - self._prefix_width()

    def _update_virtual_size(self) -> None:
        width = self._text_width() if self.wrap else self._prefix_width() + self.store.longest
        self.virtual_size = Size(width, self.line_count)

    def _filter_words(self) -> list[str]:
        words = [f"≥ {self.store.level}"] if self.store.level else []
        return [*words, f"task {self.store.task}"] if self.store.task else words

    def _state_words(self) -> list[str]:
        return ["following" if self.follow else "paused", *(["wrapped"] if self.wrap else []), *self._filter_words()]

    def _describe(self) -> None:
        """The state in one phrase, shown if the embedding screen gives the widget a border."""
        self.border_subtitle = " · ".join(self._state_words())

    # --- drawing ----------------------------------------------------------------------------

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._cache.clear()

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        if self._badge_shown() and y == self._badge_row():
            return self._badge(width)
        scroll_x, scroll_y = self.scroll_offset
        view_y = scroll_y + y
        if view_y == 0 and self.store.dropped:
            return self._notice(f"… {self.store.dropped:,} earlier lines dropped", width)
        if view_y == 0 and not self.store.rows:
            return self._notice(self._empty_message(), width)
        row = self._row_at(view_y)
        if row is None:
            return Strip.blank(width, self.rich_style)
        strip = self._cache.get(row)
        if strip is None:
            strip = self._cache[row] = self._render_row(self.store.line(row))
        return strip.crop_extend(scroll_x, scroll_x + width, self.rich_style)

    def _render_row(self, line: Line) -> Strip:
        text = Text(no_wrap=True, end="")
        if line.continued:
            text.append(" " * self._prefix_width())
        else:
            text.append(clock_text(line.ts, self._clock_zone()), "dim")
            text.append(" ")
            text.append(f"{line.level[:5]:<5}", LEVEL_STYLES.get(line.level, ""))
            text.append(" ")
            if task_width := self.store.task_width:
                label = task_label(line.task, line.attempt)[:task_width]
                text.append(label.ljust(task_width), task_style(line.task) if line.task else "")
                text.append(" ")
        text.append(_control_characters("�", line.text), MESSAGE_STYLES.get(line.level, ""))
        text.stylize_before(self.rich_style)
        return Strip(text.render(self.app.console), text.cell_len)

    def _clock_zone(self) -> tzinfo:
        if self._zone is None:
            self._zone = (self._clock().tzinfo if self._clock is not None else None) or UTC
        return self._zone

    def _empty_message(self) -> str:
        if not len(self.store):
            return "no log lines yet"
        return f"no lines match the filter ({', '.join(self._filter_words())})"

    def _notice(self, message: str, width: int) -> Strip:
        style = self.rich_style + self.get_component_rich_style("log-tail--notice")
        return Strip([Segment(message, style)], cell_len(message)).crop_extend(0, width, self.rich_style)

    def _badge_shown(self) -> bool:
        return not self.follow and self.pending > 0

    def _badge_row(self) -> int:
        """The last row the text shows: above the horizontal scrollbar when there is one."""
        return self.scrollable_size.height - 1

    def _badge(self, width: int) -> Strip:
        noun = "line" if self.pending == 1 else "lines"
        message = f" ▼ {self.pending:,} new {noun} — G to follow "
        style = self.rich_style + self.get_component_rich_style("log-tail--badge")
        return Strip([Segment(message.ljust(width), style)]).crop_extend(0, width, style)
