"""Reading requests strictly, with errors that say what is wrong: the API's one decoding room.

What every request passes through, so no handler meets text the database or the engine cannot
take (each a 400 with the usual JSON error, never a 500):
- `decoding_middleware`: header names and values, query parameters and path segments must be
  valid UTF-8 without NUL characters (PostgreSQL refuses NUL in text; a header of raw bytes
  reaches Python as lone surrogates that no encoder takes).
- `parse_json`, which every JSON body goes through: lone surrogate escapes (`"\ud800"`) and
  `\u0000` in strings, `NaN`/`Infinity`, and numbers of more than 4,300 digits are refused.
- Integer parameters are bounded to what the database columns hold (`MAX_OFFSET`,
  `MAX_REVISION`); a number of 20 or 5,000 digits is a 400 that does not echo it whole.
The body size limit itself is aiohttp's `client_max_size` (a 413 before anything is parsed);
request lines and headers over aiohttp's 8,190 bytes are refused by its parser, dressed as
JSON by `protocol.JsonErrorsRunner`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from collections.abc import Mapping
from datetime import UTC
from datetime import datetime
from typing import Any
from urllib.parse import unquote_to_bytes

from aiohttp import web

from workflowdev.engine.errors import DomainError
from workflowdev.engine.errors import Invalid

JSON_TYPES = ("application/json",)
MAX_LIMIT = 1000
DEFAULT_LIMIT = 100
MAX_OFFSET = 2**63 - 1
"""A 64-bit signed integer: what SQLite and PostgreSQL take for OFFSET."""
MAX_REVISION = 2**31 - 1
"""Revisions are 32-bit integer columns."""
_SHOWN = 40
"""Characters of a rejected value echoed in an error message."""
_ODD_ESCAPE = re.compile(r"\\u(?:[dD][89a-fA-F][0-9a-fA-F]{2}|0000)")
"""A JSON escape that may decode to a lone surrogate or NUL: then the strings are checked."""


class UnsupportedMediaType(DomainError, status=415, code="unsupported_media_type"):
    """A body in a format the route does not read."""


async def read_text(request: web.Request) -> str:
    raw = await request.read()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Invalid(f"request body is not valid UTF-8 (byte {exc.start})") from None


async def read_json(request: web.Request, *, optional: bool = False) -> Any:
    """The JSON body; with `optional`, an empty body is None whatever its content type."""
    if optional and not request.body_exists:
        return None
    if request.content_type not in JSON_TYPES:
        raise UnsupportedMediaType(
            f"expected Content-Type application/json, got {request.content_type or 'none'}"
        )
    text = await read_text(request)
    if optional and not text.strip():
        return None
    return parse_json(text)


def parse_json(text: str) -> Any:
    try:
        value = json.loads(text, parse_constant=_no_constant, parse_float=_finite_float)
    except json.JSONDecodeError as exc:
        raise Invalid(
            f"malformed JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}",
            [{"line": exc.lineno, "column": exc.colno, "path": "", "message": exc.msg}],
        ) from None
    except RecursionError:
        raise Invalid("malformed JSON: nested too deeply") from None
    except ValueError as exc:  # NaN/Infinity, or a number past the digits `int` converts
        reason = "a number has more than 4300 digits" if "Exceeds the limit" in str(exc) else str(exc)
        raise Invalid(f"malformed JSON: {reason}") from None
    if _ODD_ESCAPE.search(text):
        for path, string in _strings(value, ""):
            problem = text_problem(string)
            if problem is not None:
                raise Invalid(f"malformed JSON: a string {problem}", [{"path": path, "message": problem}])
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON can carry")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e400: valid JSON, but no database takes infinity
        raise ValueError(f"{shown(text)} is too large a number")
    return value


def _strings(value: Any, path: str) -> Iterator[tuple[str, str]]:
    """(path, string) of every string in a parsed JSON value, keys included."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            inner = f"{path}.{key}" if path else key
            yield inner, key
            yield from _strings(item, inner)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, f"{path}[{index}]")


def text_problem(text: str) -> str | None:
    """Why a text cannot be taken (not valid UTF-8, or holding NUL), or None."""
    if "\x00" in text:
        return "contains a NUL character (\\u0000)"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return f"is not valid UTF-8 (a lone surrogate at character {exc.start})"
    return None


@web.middleware
async def decoding_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    """Refuse headers, query parameters and path segments the rest of the API cannot take."""
    for kind, raw in (("path", request.rel_url.raw_path), ("query string", request.rel_url.raw_query_string)):
        try:  # yarl would turn bytes that are not UTF-8 into U+FFFD without a word
            unquote_to_bytes(raw).decode("utf-8")
        except UnicodeDecodeError as exc:
            problem = f"is not valid UTF-8 once percent-decoded (byte {exc.start})"
            raise Invalid(f"the {kind} {problem}", [{"path": kind, "message": problem}]) from None
    for kind, name, value in _request_texts(request):
        problem = text_problem(name) or text_problem(value)
        if problem is not None:
            raise Invalid(f"{kind} {shown(name)} {problem}", [{"path": f"{kind}:{shown(name)}", "message": problem}])
    return await handler(request)


def _request_texts(request: web.Request) -> Iterator[tuple[str, str, str]]:
    for name, value in request.headers.items():
        yield "header", name, value
    for name, value in request.query.items():
        yield "query parameter", name, value
    for name, value in request.match_info.items():
        yield "path parameter", name, value


def shown(raw: str) -> str:
    """A value for an error message: cut, and printable (a surrogate would not encode)."""
    printable = raw.encode("utf-8", "backslashreplace").decode("utf-8")
    return repr(printable) if len(printable) <= _SHOWN else repr(printable[:_SHOWN]) + f"… ({len(raw)} characters)"


async def read_object(request: web.Request, *, optional: bool = False) -> dict[str, Any]:
    """A JSON object body (an empty body counts as `{}` when `optional`)."""
    body = await read_json(request, optional=optional)
    if body is None and optional:
        return {}
    if not isinstance(body, dict):
        raise Invalid("request body must be a JSON object")
    return body


def field(body: Mapping[str, Any], name: str, kind: type | tuple[type, ...], *, required: bool = False) -> Any:
    value = body.get(name)
    if value is None:
        if required:
            raise Invalid(f"{name} is required", [{"path": name, "message": "is required"}])
        return None
    if not isinstance(value, kind) or isinstance(value, bool) and bool not in _as_tuple(kind):
        expected = " or ".join(_TYPE_NAMES.get(k, k.__name__) for k in _as_tuple(kind))
        raise Invalid(f"{name} must be {expected}", [{"path": name, "message": f"must be {expected}"}])
    return value


def reject_unknown(body: Mapping[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise Invalid(
            f"unknown field {unknown[0]!r}; allowed: {', '.join(sorted(allowed))}",
            [{"path": k, "message": "unknown field"} for k in unknown],
        )


def paging(request: web.Request) -> tuple[int, int]:
    return (
        int_param(request, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT),
        int_param(request, "offset", 0, 0, MAX_OFFSET),
    )


def bool_param(request: web.Request, name: str) -> bool:
    raw = request.query.get(name)
    if raw is None:
        return False
    if raw.lower() in ("true", "1", "yes"):
        return True
    if raw.lower() in ("false", "0", "no", ""):
        return False
    raise Invalid(f"query parameter {name} must be true or false")


def time_param(request: web.Request, name: str) -> datetime | None:
    """An RFC 3339 timestamp query parameter with its time zone, or None when absent."""
    raw = request.query.get(name)
    return None if raw is None else parse_timestamp(raw, f"query parameter {name}")


def time_field(body: Mapping[str, Any], name: str, *, required: bool = False) -> datetime | None:
    """An RFC 3339 timestamp field of a JSON body, or None when absent."""
    raw = field(body, name, str, required=required)
    return None if raw is None else parse_timestamp(raw, name)


def parse_timestamp(raw: str, what: str) -> datetime:
    """RFC 3339 with its time zone, in UTC. A time a zone offset pushes outside the years
    datetime holds (`0001-01-01T00:00:00+05:00`) is refused like any malformed one."""
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        if value.tzinfo is None:
            raise Invalid(f"{what} must carry a time zone (end it with Z for UTC)")
        return value.astimezone(UTC)
    except (ValueError, OverflowError):
        raise Invalid(f"{what} must be an RFC 3339 timestamp, got {shown(raw)}") from None


def parse_seconds(raw: str, what: str) -> float:
    """A number of seconds, fractions allowed; which range it must fall in is the caller's rule."""
    try:
        return float(raw)
    except ValueError:
        raise Invalid(f"{what} must be a number of seconds, got {raw!r}") from None


def int_param(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    return bounded_int(raw, f"query parameter {name}", low, high)


def bounded_int(raw: str, what: str, low: int, high: int) -> int:
    """An integer written in ASCII digits (a sign allowed), between `low` and `high`.

    The digits are counted before `int` sees them, so a number of 5,000 digits costs nothing
    and is refused like one of 20.
    """
    digits = raw[1:] if raw[:1] in "+-" else raw
    if not (digits.isascii() and digits.isdigit()):
        raise Invalid(f"{what} must be an integer, got {shown(raw)}")
    if len(digits.lstrip("0")) > len(str(max(abs(low), abs(high)))) or not low <= int(raw) <= high:
        raise Invalid(f"{what} must be between {low} and {high}, got {shown(raw)}")
    return int(raw)


def _as_tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


_TYPE_NAMES = {str: "a string", dict: "an object", list: "an array", int: "an integer", bool: "a boolean"}
