"""How the console writes statuses, times, durations and JSON, the same way in every pane.

Every status has a glyph as well as a colour, so it still reads in a monochrome terminal, with
`NO_COLOR`, or to a colour-blind operator. Colours are Textual theme variables (`$success`, …)
or ANSI names, so a 16-colour terminal shows them in its own palette.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC
from datetime import datetime
from typing import Any

from rich.text import Text

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


STATUS_STYLES: dict[str, tuple[str, str]] = {
    "QUEUED": ("○", "dim"),
    "RUNNING": ("▶", "bold blue"),
    "WAITING": ("⏸", "bold magenta"),
    "PAUSED": ("⏸", "bold magenta"),
    "PENDING": ("⏸", "bold magenta"),
    "SUCCESS": ("✔", "green"),
    "APPROVED": ("✔", "green"),
    "FAILED": ("✖", "bold red"),
    "REJECTED": ("✖", "bold red"),
    "TIMED_OUT": ("⧗", "bold red"),
    "EXPIRED": ("⧗", "yellow"),
    "CANCELLED": ("⊘", "yellow"),
    "SKIPPED": ("↷", "dim"),
}
"""Status → (glyph, Rich style). Unknown statuses print plainly rather than fail."""

MONOCHROME_STYLES: dict[str, str] = {
    "RUNNING": "bold",
    "WAITING": "bold",
    "PAUSED": "bold",
    "PENDING": "bold",
    "FAILED": "bold reverse",
    "REJECTED": "bold reverse",
    "TIMED_OUT": "bold reverse",
    "EXPIRED": "underline",
    "CANCELLED": "underline",
}
"""With NO_COLOR: Textual turns hues into greys, and red on a dark background became the faintest
thing on screen (FAILED at about 1.3:1). Without colour, weight and reverse video carry what the
hues did: what needs you is bold, what failed is reversed; the glyphs stay."""
_monochrome = False


def use_monochrome(enabled: bool) -> None:
    """Set once by the console at start, from Textual's reading of NO_COLOR."""
    global _monochrome
    _monochrome = enabled


def _status_style(status: str) -> tuple[str, str]:
    glyph, style = STATUS_STYLES.get(status, ("·", ""))
    if _monochrome:
        style = MONOCHROME_STYLES.get(status, "dim" if style == "dim" else "")
    return glyph, style

EXECUTION_STATUSES = ("QUEUED", "RUNNING", "PAUSED", "SUCCESS", "FAILED", "CANCELLED", "TIMED_OUT")
TERMINAL_STATUSES = frozenset({"SUCCESS", "FAILED", "CANCELLED", "TIMED_OUT"})

LEVEL_STYLES: dict[str, str] = {
    "DEBUG": "dim",
    "INFO": "",
    "WARN": "yellow",
    "WARNING": "yellow",
    "ERROR": "bold red",
}


def status_text(status: str | None) -> Text:
    """`✔ SUCCESS` in the status's colour."""
    if not status:
        return Text("—", style="dim")
    glyph, style = _status_style(status)
    return Text(f"{glyph} {status}", style=style)


def status_glyph(status: str | None) -> Text:
    glyph, style = _status_style(status or "")
    return Text(glyph, style=style)


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def format_time(value: str | None, now: datetime) -> str:
    """`14:03:12` today, `11-27 14:03` this year, else the date: short enough for a table cell."""
    moment = parse_time(value)
    if moment is None:
        return "—"
    moment = moment.astimezone(now.tzinfo or UTC)
    if moment.date() == now.date():
        return moment.strftime("%H:%M:%S")
    if moment.year == now.year:
        return moment.strftime("%m-%d %H:%M")
    return moment.strftime("%Y-%m-%d")


def format_duration(ms: float | None) -> str:
    """`850ms`, `12.4s`, `3m05s`, `2h14m`: the two most useful units, never more."""
    if ms is None:
        return "—"
    if ms < 1000:
        return f"{int(ms)}ms"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h{minutes:02d}m"
    return f"{hours // 24}d{hours % 24:02d}h"


def elapsed_ms(item: dict[str, Any], now: datetime) -> float | None:
    """A finished item's own duration, or how long a running one has been going."""
    if item.get("durationMs") is not None:
        return float(item["durationMs"])
    started = parse_time(item.get("startedAt"))
    if started is None:
        return None
    return max(0.0, (now - started).total_seconds() * 1000)


def pretty_json(value: Any) -> str:
    """Outputs arrive as JSON-encoded strings (as in the reference): decode them before indenting."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return value
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False)


def short_id(value: str | None) -> str:
    return (value or "")[:8]
