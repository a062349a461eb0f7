"""util.datetime: the current time, and instants parsed, formatted and moved in a time zone."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from typing import ClassVar
from typing import Final
from zoneinfo import ZoneInfo
from zoneinfo import ZoneInfoNotFoundError

from workflowdev.engine.plugin import DURATION_SCHEMA
from workflowdev.engine.plugin import JSON
from workflowdev.engine.plugin import Manifest
from workflowdev.engine.plugin import Plugin
from workflowdev.engine.plugin import TaskContext
from workflowdev.engine.plugin import TaskFailed
from workflowdev.engine.plugin import as_text
from workflowdev.engine.plugin import parse_duration
from workflowdev.plugins._toolkit import object_schema
from workflowdev.plugins._toolkit import read_choice
from workflowdev.plugins._toolkit import read_optional_text
from workflowdev.plugins._toolkit import task_example

DATETIME_ACTIONS: Final = ("now", "parse", "format", "add", "subtract")
STRFTIME_DIRECTIVES: Final = frozenset("aAwdbBmyYHIpMSfzZjUWcxXGuV%")
"""The codes Python documents for every platform; others (`%Q`, `%-d`) vary or print as typed."""
_DIRECTIVE: Final = re.compile(r"%(.?)", re.DOTALL)
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


def _zone(properties: Mapping[str, JSON]) -> ZoneInfo:
    name = properties.get("timezone", "UTC")
    try:
        if not isinstance(name, str):
            raise ValueError(name)
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise TaskFailed(
            f"unknown timezone {as_text(name)}: use an IANA name such as UTC, Europe/Paris or America/New_York"
        ) from None


def _output_format(properties: Mapping[str, JSON]) -> str | None:
    """`format`, refused when it holds a code strftime would print as typed instead of failing."""
    pattern = read_optional_text(properties, "format")
    for match in _DIRECTIVE.finditer(pattern or ""):
        if match.group(1) not in STRFTIME_DIRECTIVES:
            shown = f"%{match.group(1)}" if match.group(1) else "a lone % at the end"
            raise TaskFailed(
                f"format has an unknown code {shown}; use strftime codes such as %Y-%m-%d %H:%M (%% for %)"
            )
    return pattern


def _instant(value: JSON, input_format: str | None, zone: ZoneInfo) -> datetime:
    """Read `value`: a Unix timestamp, ISO 8601 text, or text laid out as `input_format`."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        if input_format is not None:
            raise TaskFailed("input_format reads text, but value is a number (a Unix timestamp)")
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):
            raise TaskFailed(f"value {as_text(value)} is out of range as a Unix timestamp") from None
    if not isinstance(value, str):
        raise TaskFailed(f"value must be ISO 8601 text or a Unix timestamp, got {as_text(value)}")
    if input_format is not None:
        try:
            parsed = datetime.strptime(value, input_format)
        except ValueError as exc:
            raise TaskFailed(f"value does not match input_format: {exc}") from None
    else:
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            raise TaskFailed(
                f"value {value!r} is not an ISO 8601 date-time; give input_format to read other layouts"
            ) from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=zone)


def _describe(instant: datetime, zone: ZoneInfo, pattern: str | None) -> dict[str, JSON]:
    local = instant.astimezone(zone)
    iso = local.isoformat()
    if local.utcoffset() == timedelta(0):
        iso = iso.removesuffix("+00:00") + "Z"
    milliseconds = (local - _EPOCH) // timedelta(milliseconds=1)
    outputs: dict[str, JSON] = {
        "iso": iso,
        "timestamp": milliseconds // 1000,
        "timestamp_ms": milliseconds,
        "date": local.date().isoformat(),
        "timezone": zone.key,
    }
    if pattern is not None:
        outputs["formatted"] = local.strftime(pattern)
    return outputs


class DateTime(Plugin):
    """Dates and times for flows: now, reading a date, writing one, moving it by a duration."""

    manifest: ClassVar[Manifest] = Manifest(
        id="util.datetime",
        name="Date and time",
        category="util",
        description=(
            "Works out an instant and describes it in `timezone` (an IANA name, UTC by default). "
            "`now`: the current time. `parse`: reads `value` (ISO 8601 text, a Unix timestamp in "
            "seconds, or text laid out as `input_format`). `format`: like parse (value defaults to "
            "now) and writes it with the strftime `format`. `add` / `subtract`: moves `value` "
            "(default now) by `duration`, in elapsed time (1d is 24 hours, also across a DST "
            "change). Text without an offset is read in `timezone`. Every action may set `format`."
        ),
        input_schema={
            "type": "object",
            "properties": {
                "action": {
                    "type": "string",
                    "enum": list(DATETIME_ACTIONS),
                    "default": "now",
                    "description": "now, parse, format, add or subtract.",
                },
                "value": {
                    "type": ["string", "number"],
                    "description": "The instant to start from: ISO 8601 text or a Unix timestamp in seconds.",
                },
                "input_format": {
                    "type": "string",
                    "minLength": 1,
                    "description": "An strptime layout for `value` when it is not ISO 8601, e.g. %d/%m/%Y.",
                },
                "format": {
                    "type": "string",
                    "minLength": 1,
                    "description": "An strftime layout for the output `formatted`, e.g. %A %d %B %Y.",
                },
                "timezone": {
                    "type": "string",
                    "default": "UTC",
                    "description": "IANA time zone of the outputs and of a `value` without offset.",
                },
                "duration": {
                    **DURATION_SCHEMA,
                    "description": "For add and subtract: 90s, 15m, 2h, 7d, ISO 8601 (P1DT2H) or seconds.",
                },
            },
            "allOf": [
                {
                    "if": {"properties": {"action": {"const": "parse"}}, "required": ["action"]},
                    "then": {"required": ["value"]},
                },
                {
                    "if": {"properties": {"action": {"const": "format"}}, "required": ["action"]},
                    "then": {"required": ["format"]},
                },
                {
                    "if": {"properties": {"action": {"enum": ["add", "subtract"]}}, "required": ["action"]},
                    "then": {"required": ["duration"]},
                },
            ],
            "additionalProperties": False,
        },
        output_schema=object_schema(
            {
                "iso": {
                    "type": "string",
                    "format": "date-time",
                    "description": "ISO 8601 with the zone's offset (Z when it is zero).",
                },
                "timestamp": {"type": "integer", "description": "Unix time in whole seconds."},
                "timestamp_ms": {"type": "integer", "description": "Unix time in milliseconds."},
                "date": {"type": "string", "format": "date", "description": "The calendar date in `timezone`."},
                "timezone": {"type": "string", "description": "The IANA zone the outputs are in."},
                "formatted": {"type": "string", "description": "Only with `format`: the instant written that way."},
            },
            ["iso", "timestamp", "timestamp_ms", "date", "timezone"],
        ),
        examples=(
            task_example("started", "util.datetime"),
            task_example(
                "report_title",
                "util.datetime",
                """
                action: format
                value: '2024-05-01T12:30:00Z'
                timezone: Europe/Paris
                format: '%A %d %B %Y, %H:%M'
                """,
            ),
            task_example(
                "invoice_date",
                "util.datetime",
                """
                action: parse
                value: 31/12/2024
                input_format: '%d/%m/%Y'
                """,
            ),
            task_example(
                "yesterday",
                "util.datetime",
                """
                action: subtract
                duration: 1d
                format: '%Y-%m-%d'
                """,
            ),
        ),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        action = read_choice(properties, "action", DATETIME_ACTIONS, "now")
        zone = _zone(properties)
        pattern = _output_format(properties)
        input_format = read_optional_text(properties, "input_format")
        value = properties.get("value")
        if action == "now" and value is not None:
            raise TaskFailed("action now takes no value; use parse, format, add or subtract")
        if action == "parse" and value is None:
            raise TaskFailed("action parse needs a value")
        if action == "format" and pattern is None:
            raise TaskFailed("action format needs a format, e.g. %Y-%m-%d")
        if value is None and input_format is not None:
            raise TaskFailed("input_format reads value, which is not given")
        shift = self._shift(action, properties.get("duration"))
        instant = datetime.now(UTC) if value is None else _instant(value, input_format, zone)
        try:
            return _describe(instant + shift, zone, pattern)
        except OverflowError:
            raise TaskFailed("the result is outside the years 1 to 9999") from None

    @staticmethod
    def _shift(action: str, duration: JSON) -> timedelta:
        if action not in ("add", "subtract"):
            if duration is not None:
                raise TaskFailed("duration is only used by add and subtract")
            return timedelta(0)
        if duration is None:
            raise TaskFailed(f"action {action} needs a duration")
        try:
            seconds = parse_duration(duration)
        except ValueError as exc:
            raise TaskFailed(str(exc)) from None
        try:
            return timedelta(seconds=seconds if action == "add" else -seconds)
        except OverflowError:
            raise TaskFailed("duration is too long") from None
