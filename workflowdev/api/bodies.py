"""Reading request bodies and query strings strictly, with errors that say what is wrong.

The body size limit itself is aiohttp's `client_max_size` (a 413 before anything is parsed).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from aiohttp import web

from workflowdev.engine.errors import DomainError, Invalid

JSON_TYPES = ("application/json",)
MAX_LIMIT = 1000
DEFAULT_LIMIT = 100


class UnsupportedMediaType(DomainError):
    status = 415
    code = "unsupported_media_type"


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
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise Invalid(
            f"malformed JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}",
            [{"line": exc.lineno, "column": exc.colno, "path": "", "message": exc.msg}],
        ) from None
    except RecursionError:
        raise Invalid("malformed JSON: nested too deeply") from None


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
        _int_param(request, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT),
        _int_param(request, "offset", 0, 0, None),
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
    if raw is None:
        return None
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise Invalid(f"query parameter {name} must be an RFC 3339 timestamp, got {raw!r}") from None
    if value.tzinfo is None:
        raise Invalid(f"query parameter {name} must carry a time zone (end it with Z for UTC)")
    return value


def _int_param(request: web.Request, name: str, default: int, low: int, high: int | None) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise Invalid(f"query parameter {name} must be an integer, got {raw!r}") from None
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise Invalid(f"query parameter {name} must be {bound}, got {value}")
    return value


def _as_tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


_TYPE_NAMES = {str: "a string", dict: "an object", list: "an array", int: "an integer", bool: "a boolean"}
