"""util: the small building blocks of flows — log, echo, sleep, assert, ids, dates, random values, noop.

They touch nothing outside the task's own log, which also makes them the task types that
examples, tests and new users reach for first: every one of them must behave exactly as its
manifest says, with errors an operator can act on.
"""

from __future__ import annotations

import asyncio
import base64
import math
import random
import re
import secrets
import string
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import ClassVar, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from workflowdev.engine.plugin import (
    CONDITION_SCHEMA,
    DURATION_SCHEMA,
    DURATION_TEXT_SCHEMA,
    JSON,
    Manifest,
    Plugin,
    TaskContext,
    TaskFailed,
    as_condition,
    as_text,
    parse_duration,
)

__all__ = [
    "MAX_SLEEP_SECONDS",
    "PLUGINS",
    "Assert",
    "DateTime",
    "Echo",
    "Log",
    "Noop",
    "RandomValue",
    "Sleep",
    "Uuid",
]

LOG_LEVELS: Final = ("debug", "info", "warning", "error")
DEFAULT_LOG_LEVEL: Final = "info"
DEFAULT_ASSERT_MESSAGE: Final = "assertion failed"

MAX_SLEEP_SECONDS: Final = 86_400.0
"""A sleep holds a runner slot; waits longer than a day belong to a schedule trigger."""

class Log(Plugin):
    """Write one line to the task's log, at the level asked for."""

    manifest: ClassVar[Manifest] = Manifest(
        id="util.log",
        name="Log a message",
        category="util",
        description=(
            "Writes a message to the execution's log at the given level. Strings are logged as "
            "they are; any other value (a number, a list, an object) is logged as compact JSON. "
            "The logged text is also the task's output."
        ),
        input_schema={
            "type": "object",
            "properties": {
                "message": {
                    "description": (
                        "What to log. Any JSON value; non-strings are logged as compact JSON."
                    ),
                },
                "level": {
                    "type": "string",
                    "enum": list(LOG_LEVELS),
                    "default": DEFAULT_LOG_LEVEL,
                    "description": "Log level of the line.",
                },
            },
            "required": ["message"],
            "additionalProperties": False,
        },
        output_schema={
            "type": "object",
            "properties": {
                "message": {"type": "string", "description": "The text exactly as logged."},
            },
            "required": ["message"],
            "additionalProperties": False,
        },
        examples=(
            "- name: hello\n  type: util.log\n  properties:\n    message: Hello world\n",
            "- name: report\n"
            "  type: util.log\n"
            "  properties:\n"
            "    level: warning\n"
            "    message: {stage: import, skipped: 3}\n",
        ),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        level = properties.get("level", DEFAULT_LOG_LEVEL)
        writers = {
            "debug": ctx.log.debug,
            "info": ctx.log.info,
            "warning": ctx.log.warning,
            "error": ctx.log.error,
        }
        if level not in writers:
            raise TaskFailed(f"level must be one of {', '.join(LOG_LEVELS)}; got {as_text(level)}")
        text = as_text(properties["message"])
        writers[level](text)
        return {"message": text}


class Echo(Plugin):
    """Return a value unchanged: how a flow names an intermediate result for later tasks."""

    manifest: ClassVar[Manifest] = Manifest(
        id="util.echo",
        name="Echo a value",
        category="util",
        description=(
            "Returns its `value` unchanged as the output `value`. Useful to compute something "
            "once with an expression and refer to it later as `outputs.<task>.value`."
        ),
        input_schema={
            "type": "object",
            "properties": {
                "value": {"description": "Any JSON value; returned as it is."},
            },
            "required": ["value"],
            "additionalProperties": False,
        },
        output_schema={
            "type": "object",
            "properties": {"value": {"description": "The `value` property, unchanged."}},
            "required": ["value"],
            "additionalProperties": False,
        },
        examples=(
            "- name: settings\n"
            "  type: util.echo\n"
            "  properties:\n"
            "    value: {region: eu-west, batch_size: 50, dry_run: false}\n",
        ),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        return {"value": properties["value"]}


class Sleep(Plugin):
    """Wait for a while. Cancelling the task (which is how the runner cancels) ends it at once."""

    manifest: ClassVar[Manifest] = Manifest(
        id="util.sleep",
        name="Sleep",
        category="util",
        description=(
            "Waits for `duration`, then succeeds with the time actually slept. Cancelling the "
            "execution interrupts the wait immediately. At most one day: longer waits belong "
            "to a schedule trigger."
        ),
        input_schema={
            "type": "object",
            "properties": {
                "duration": {
                    "anyOf": [
                        DURATION_TEXT_SCHEMA,
                        {"type": "number", "minimum": 0, "maximum": MAX_SLEEP_SECONDS},
                    ],
                    "description": (
                        "How long to wait: 500ms, 30s, 10m, 2h, 1d, ISO 8601 (PT30S) or a number "
                        "of seconds. At most one day."
                    ),
                },
            },
            "required": ["duration"],
            "additionalProperties": False,
        },
        output_schema={
            "type": "object",
            "properties": {
                "slept_ms": {
                    "type": "integer",
                    "minimum": 0,
                    "description": "Milliseconds actually slept, measured on a monotonic clock.",
                },
            },
            "required": ["slept_ms"],
            "additionalProperties": False,
        },
        examples=(
            "- name: let_the_replica_catch_up\n"
            "  type: util.sleep\n"
            "  properties:\n"
            "    duration: 250ms\n",
        ),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        try:
            seconds = parse_duration(properties["duration"])
        except ValueError as exc:
            raise TaskFailed(str(exc)) from None
        if seconds > MAX_SLEEP_SECONDS:
            raise TaskFailed(
                f"duration {as_text(properties['duration'])} is longer than the maximum of one "
                "day; use a schedule trigger for longer waits"
            )
        loop = asyncio.get_running_loop()
        started = loop.time()
        await asyncio.sleep(seconds)
        return {"slept_ms": round((loop.time() - started) * 1000)}


class Assert(Plugin):
    """Stop the flow with the operator's own message when something that must hold does not."""

    manifest: ClassVar[Manifest] = Manifest(
        id="util.assert",
        name="Assert",
        category="util",
        description=(
            "Succeeds when `condition` is true and fails the task with `message` when it is "
            "false. The condition is usually an expression; the words true and false (any case) "
            "are accepted too, any other value fails the task."
        ),
        input_schema={
            "type": "object",
            "properties": {
                "condition": {
                    **CONDITION_SCHEMA,
                    "description": "What must hold; a boolean, or the text true/false.",
                },
                "message": {
                    "type": "string",
                    "default": DEFAULT_ASSERT_MESSAGE,
                    "description": "The task's error when the condition is false.",
                },
            },
            "required": ["condition"],
            "additionalProperties": False,
        },
        output_schema={
            "type": "object",
            "properties": {},
            "additionalProperties": False,
        },
        examples=(
            "- name: enough_orders\n"
            "  type: util.assert\n"
            "  properties:\n"
            "    condition: true\n"
            "    message: expected at least one order\n",
        ),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        if not as_condition(properties["condition"]):
            raise TaskFailed(as_text(properties.get("message", DEFAULT_ASSERT_MESSAGE)))
        return {}


class Noop(Plugin):
    """Do nothing and succeed: a placeholder, or a join point for `depends_on` in a DAG."""

    manifest: ClassVar[Manifest] = Manifest(
        id="util.noop",
        name="No operation",
        category="util",
        description=(
            "Does nothing and succeeds. A placeholder while a flow is being written, or a join "
            "point that other tasks of a flow.dag depend on."
        ),
        input_schema={"type": "object", "properties": {}, "additionalProperties": False},
        output_schema={"type": "object", "properties": {}, "additionalProperties": False},
        examples=("- name: placeholder\n  type: util.noop\n",),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        return {}


def _one_of(properties: Mapping[str, JSON], name: str, allowed: tuple[JSON, ...], default: JSON) -> JSON:
    """A property that must be one of `allowed` (expressions may render anything at run time)."""
    value = properties.get(name, default)
    if isinstance(value, bool) or value not in allowed:
        raise TaskFailed(f"{name} must be one of {', '.join(map(str, allowed))}; got {as_text(value)}")
    return value


def _optional_text(properties: Mapping[str, JSON], name: str) -> str | None:
    value = properties.get(name)
    if value is not None and not isinstance(value, str):
        raise TaskFailed(f"{name} must be text, got {as_text(value)}")
    return value


def _whole_number(properties: Mapping[str, JSON], name: str, default: int, low: int, high: int) -> int:
    value = properties.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TaskFailed(f"{name} must be a whole number, got {as_text(value)}")
    if isinstance(value, float) and not value.is_integer():  # also refuses inf and nan
        raise TaskFailed(f"{name} must be a whole number, got {as_text(value)}")
    if not low <= value <= high:
        raise TaskFailed(f"{name} must be between {low} and {high}, got {as_text(value)}")
    return int(value)


UUID_VERSIONS: Final = (4, 5, 7)
MAX_UUIDS: Final = 1000
UUID_NAMESPACES: Final = {
    "dns": uuid.NAMESPACE_DNS,
    "url": uuid.NAMESPACE_URL,
    "oid": uuid.NAMESPACE_OID,
    "x500": uuid.NAMESPACE_X500,
}


class _Uuid7Source:
    """Version 7 UUIDs (RFC 9562 section 5.7), strictly increasing within this process.

    Python 3.11 has no uuid7(). The 48-bit Unix millisecond timestamp is followed, in the 12
    `rand_a` bits, by the fraction of that millisecond (section 6.2, method 3); a value not greater
    than the previous one is bumped by one, so ids made in a batch, or by tasks running one after
    the other on this server, sort in the order they were made. The other 62 bits come from
    `secrets`. Tasks run on one event loop thread, so the shared state needs no lock.
    """

    def __init__(self) -> None:
        self._last_stamp = 0

    def next(self) -> uuid.UUID:
        milliseconds, nanoseconds = divmod(time.time_ns(), 1_000_000)
        stamp = max((milliseconds << 12) | (nanoseconds * 4096 // 1_000_000), self._last_stamp + 1)
        self._last_stamp = stamp
        unix_ms, fraction = stamp >> 12, stamp & 0xFFF
        value = (unix_ms << 80) | (0x7 << 76) | (fraction << 64) | (0b10 << 62) | secrets.randbits(62)
        return uuid.UUID(int=value)


_UUID7: Final = _Uuid7Source()


class Uuid(Plugin):
    """Make unique ids: random (4), time-ordered (7), or derived from a name (5)."""

    manifest: ClassVar[Manifest] = Manifest(
        id="util.uuid",
        name="Make UUIDs",
        category="util",
        description=(
            "Makes UUIDs (RFC 9562). Version 4 is random; version 7 starts with the time, so ids "
            "sort in the order they were made (good database keys); version 5 is derived from "
            "`namespace` and `name`, the same every time (an idempotency key for a record). "
            "`uuid` is the first id and `uuids` all of them."
        ),
        input_schema={
            "type": "object",
            "properties": {
                "version": {
                    "type": "integer",
                    "enum": list(UUID_VERSIONS),
                    "default": 4,
                    "description": "4 (random), 7 (time-ordered) or 5 (from namespace and name).",
                },
                "count": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": MAX_UUIDS,
                    "default": 1,
                    "description": f"How many ids to make, at most {MAX_UUIDS}; version 5 makes one.",
                },
                "namespace": {
                    "type": "string",
                    "description": "Version 5 only: dns, url, oid, x500, or a UUID of your own.",
                },
                "name": {"type": "string", "description": "Version 5 only: the name the id is derived from."},
            },
            "if": {"properties": {"version": {"const": 5}}, "required": ["version"]},
            "then": {"required": ["namespace", "name"]},
            "additionalProperties": False,
        },
        output_schema={
            "type": "object",
            "properties": {
                "uuid": {"type": "string", "format": "uuid", "description": "The (first) id, lowercase."},
                "uuids": {
                    "type": "array",
                    "items": {"type": "string", "format": "uuid"},
                    "description": "All the ids made, in the order they were made.",
                },
            },
            "required": ["uuid", "uuids"],
            "additionalProperties": False,
        },
        examples=(
            "- name: request_id\n  type: util.uuid\n",
            "- name: order_keys\n  type: util.uuid\n  properties:\n    version: 7\n    count: 3\n",
            "- name: customer_key\n"
            "  type: util.uuid\n"
            "  properties:\n"
            "    version: 5\n"
            "    namespace: url\n"
            "    name: https://shop.example.test/customers/42\n",
        ),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        version = _one_of(properties, "version", UUID_VERSIONS, 4)
        count = _whole_number(properties, "count", 1, 1, MAX_UUIDS)
        if version == 5:
            if count != 1:
                raise TaskFailed("version 5 ids are derived from namespace and name, so count must be 1")
            ids = [uuid.uuid5(self._namespace(properties), self._name(properties))]
        elif "namespace" in properties or "name" in properties:
            raise TaskFailed("namespace and name are only used by version 5")
        else:
            make = uuid.uuid4 if version == 4 else _UUID7.next
            ids = [make() for _ in range(count)]
        texts = [str(made) for made in ids]
        return {"uuid": texts[0], "uuids": texts}

    @staticmethod
    def _namespace(properties: Mapping[str, JSON]) -> uuid.UUID:
        namespace = _optional_text(properties, "namespace")
        if namespace is None:
            raise TaskFailed("version 5 needs a namespace (dns, url, oid, x500 or a UUID) and a name")
        if namespace.lower() in UUID_NAMESPACES:
            return UUID_NAMESPACES[namespace.lower()]
        try:
            return uuid.UUID(namespace)
        except ValueError:
            raise TaskFailed(f"namespace must be dns, url, oid, x500 or a UUID; got {namespace!r}") from None

    @staticmethod
    def _name(properties: Mapping[str, JSON]) -> str:
        name = _optional_text(properties, "name")
        if name is None:
            raise TaskFailed("version 5 needs a name to derive the id from")
        return name


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
    pattern = _optional_text(properties, "format")
    for match in _DIRECTIVE.finditer(pattern or ""):
        if match.group(1) not in STRFTIME_DIRECTIVES:
            shown = f"%{match.group(1)}" if match.group(1) else "a lone % at the end"
            raise TaskFailed(f"format has an unknown code {shown}; use strftime codes such as %Y-%m-%d %H:%M (%% for %)")
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
        output_schema={
            "type": "object",
            "properties": {
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
            "required": ["iso", "timestamp", "timestamp_ms", "date", "timezone"],
            "additionalProperties": False,
        },
        examples=(
            "- name: started\n  type: util.datetime\n",
            "- name: report_title\n"
            "  type: util.datetime\n"
            "  properties:\n"
            "    action: format\n"
            "    value: '2024-05-01T12:30:00Z'\n"
            "    timezone: Europe/Paris\n"
            "    format: '%A %d %B %Y, %H:%M'\n",
            "- name: invoice_date\n"
            "  type: util.datetime\n"
            "  properties:\n"
            "    action: parse\n"
            "    value: 31/12/2024\n"
            "    input_format: '%d/%m/%Y'\n",
            "- name: yesterday\n"
            "  type: util.datetime\n"
            "  properties:\n"
            "    action: subtract\n"
            "    duration: 1d\n"
            "    format: '%Y-%m-%d'\n",
        ),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        action = _one_of(properties, "action", DATETIME_ACTIONS, "now")
        zone = _zone(properties)
        pattern = _output_format(properties)
        input_format = _optional_text(properties, "input_format")
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


RANDOM_KINDS: Final = ("integer", "number", "choice", "string", "bytes")
RANDOM_KIND_PROPERTIES: Final = {
    "integer": {"min", "max"},
    "number": {"min", "max"},
    "choice": {"choices"},
    "string": {"length", "alphabet"},
    "bytes": {"length", "encoding"},
}
"""What each kind reads; anything else given is refused, since it would be silently ignored."""
DEFAULT_BOUNDS: Final = {"integer": (0, 100), "number": (0.0, 1.0)}
DEFAULT_ALPHABET: Final = string.ascii_letters + string.digits
DEFAULT_RANDOM_LENGTH: Final = 16
MAX_RANDOM_LENGTH: Final = 65_536
BYTE_ENCODERS: Final = {
    "hex": bytes.hex,
    "base64": lambda data: base64.b64encode(data).decode(),
    "base64url": lambda data: base64.urlsafe_b64encode(data).decode().rstrip("="),
}


class RandomValue(Plugin):
    """A random number, pick, string or byte string; from the OS's secure source unless told."""

    manifest: ClassVar[Manifest] = Manifest(
        id="util.random",
        name="Random value",
        category="util",
        description=(
            "Draws one random value. `integer`: between min and max, both included (default 0 to "
            "100). `number`: a decimal between min and max (default 0 to 1). `choice`: one item of "
            "`choices`. `string`: `length` characters of `alphabet` (letters and digits by "
            "default). `bytes`: `length` bytes as hex, base64 or base64url. Values come from the "
            "operating system's secure source (Python's `secrets`), fit for passwords and tokens; "
            "`secure: false` with a `seed` gives the same values on every run instead."
        ),
        input_schema={
            "type": "object",
            "properties": {
                "kind": {
                    "type": "string",
                    "enum": list(RANDOM_KINDS),
                    "default": "integer",
                    "description": "integer, number, choice, string or bytes.",
                },
                "min": {"type": "number", "description": "integer and number: the lowest value (default 0)."},
                "max": {
                    "type": "number",
                    "description": "integer and number: the highest value (default 100 and 1).",
                },
                "choices": {
                    "type": "array",
                    "minItems": 1,
                    "description": "choice: the items to pick one from (any JSON values).",
                },
                "length": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": MAX_RANDOM_LENGTH,
                    "default": DEFAULT_RANDOM_LENGTH,
                    "description": "string and bytes: how many characters or bytes.",
                },
                "alphabet": {
                    "type": "string",
                    "minLength": 1,
                    "description": "string: the characters to draw from (default A-Z, a-z, 0-9).",
                },
                "encoding": {
                    "type": "string",
                    "enum": list(BYTE_ENCODERS),
                    "default": "hex",
                    "description": "bytes: how they are written (base64url has no padding).",
                },
                "secure": {
                    "type": "boolean",
                    "default": True,
                    "description": "Draw from the OS's secure source; false for Python's seedable generator.",
                },
                "seed": {
                    "type": ["integer", "string"],
                    "description": "With secure: false, makes the value the same on every run.",
                },
            },
            "additionalProperties": False,
        },
        output_schema={
            "type": "object",
            "properties": {"value": {"description": "The value drawn: a number, an item of choices, or text."}},
            "required": ["value"],
            "additionalProperties": False,
        },
        examples=(
            "- name: dice\n  type: util.random\n  properties:\n    min: 1\n    max: 6\n",
            "- name: password\n"
            "  type: util.random\n"
            "  properties:\n"
            "    kind: string\n"
            "    length: 24\n",
            "- name: pick_reviewer\n"
            "  type: util.random\n"
            "  properties:\n"
            "    kind: choice\n"
            "    choices: [alice, bob, carol]\n",
            "- name: api_token\n"
            "  type: util.random\n"
            "  properties:\n"
            "    kind: bytes\n"
            "    length: 32\n"
            "    encoding: base64url\n",
        ),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        kind = _one_of(properties, "kind", RANDOM_KINDS, "integer")
        unused = set(properties) - RANDOM_KIND_PROPERTIES[kind] - {"kind", "secure", "seed"}
        if unused:
            raise TaskFailed(f"{', '.join(sorted(unused))} not used with kind {kind}")
        rng = self._generator(properties)
        if kind in DEFAULT_BOUNDS:
            return {"value": self._number(rng, kind, properties)}
        if kind == "choice":
            choices = properties.get("choices")
            if not isinstance(choices, list) or not choices:
                raise TaskFailed("kind choice needs choices: a list of at least one item")
            return {"value": rng.choice(choices)}
        length = _whole_number(properties, "length", DEFAULT_RANDOM_LENGTH, 1, MAX_RANDOM_LENGTH)
        if kind == "bytes":
            encoding = _one_of(properties, "encoding", tuple(BYTE_ENCODERS), "hex")
            return {"value": BYTE_ENCODERS[encoding](rng.randbytes(length))}
        alphabet = _optional_text(properties, "alphabet") or DEFAULT_ALPHABET
        letters = "".join(dict.fromkeys(alphabet))  # a repeated character would be drawn more often
        return {"value": "".join(rng.choice(letters) for _ in range(length))}

    @staticmethod
    def _generator(properties: Mapping[str, JSON]) -> random.Random:
        secure = properties.get("secure", True)
        seed = properties.get("seed")
        if not isinstance(secure, bool):
            raise TaskFailed(f"secure must be true or false, got {as_text(secure)}")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int | str)):
            raise TaskFailed(f"seed must be a whole number or text, got {as_text(seed)}")
        if secure and seed is not None:
            raise TaskFailed("a seed makes values repeatable, which is not secure: set secure: false with it")
        return secrets.SystemRandom() if secure else random.Random(seed)

    @staticmethod
    def _number(rng: random.Random, kind: str, properties: Mapping[str, JSON]) -> int | float:
        default_low, default_high = DEFAULT_BOUNDS[kind]
        low, high = properties.get("min", default_low), properties.get("max", default_high)
        for name, bound in (("min", low), ("max", high)):
            if isinstance(bound, bool) or not isinstance(bound, int | float):
                raise TaskFailed(f"{name} must be a number, got {as_text(bound)}")
            if isinstance(bound, float) and not math.isfinite(bound):
                raise TaskFailed(f"{name} must be a finite number, got {as_text(bound)}")
            if kind == "integer" and isinstance(bound, float) and not bound.is_integer():
                raise TaskFailed(f"{name} must be a whole number for kind integer, got {as_text(bound)}")
        if low > high:
            raise TaskFailed(f"min ({as_text(low)}) is greater than max ({as_text(high)})")
        if kind == "integer":
            return rng.randint(int(low), int(high))
        return rng.uniform(low, high)


PLUGINS: Final[list[type[Plugin]]] = [Log, Echo, Sleep, Assert, Noop, Uuid, DateTime, RandomValue]
