"""One middleware that turns every failure into the JSON error of API.md.

Domain errors carry their own status and code; aiohttp's HTTP exceptions (404 for unknown
routes, 405, 413 from the body limit) are re-dressed as JSON; a database that does not answer
is a 503; anything else is logged with its traceback and answered with a bare 500, so no
internals ever reach the client.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from aiohttp import web
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import InterfaceError
from sqlalchemy.exc import OperationalError

from workflowdev.api.keys import SETTINGS
from workflowdev.engine.errors import DomainError
from workflowdev.store.database import DatabaseUnavailable

log = logging.getLogger(__name__)

_CODES = {
    400: "invalid",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
    503: "unavailable",
}


def error_response(
    status: int,
    message: str,
    *,
    code: str | None = None,
    details: Sequence[dict[str, Any]] = (),
    headers: dict[str, str] | None = None,
) -> web.Response:
    body = {"error": {"code": code or _CODES.get(status, "error"), "message": message, "details": list(details)}}
    return web.json_response(body, status=status, headers=headers)


def _is_connection_failure(exc: BaseException) -> bool:
    if isinstance(exc, (DatabaseUnavailable, InterfaceError, ConnectionError)):
        return True
    if isinstance(exc, OperationalError):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


@web.middleware
async def error_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        return await handler(request)
    except DomainError as exc:
        return error_response(exc.status, exc.message, code=exc.code, details=exc.details, headers=exc.headers or None)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        message = exc.text if exc.text and not exc.text.startswith(f"{exc.status}:") else exc.reason
        if exc.status == 413:
            message = f"request body too large (limit {request.app[SETTINGS].body_limit} bytes)"
        elif exc.status == 404:
            message = f"no route for {request.path}"
        elif exc.status == 405:
            message = f"method {request.method} not allowed on {request.path}"
        headers = {k: v for k, v in exc.headers.items() if k.lower() == "allow"}
        return error_response(exc.status, message, headers=headers)
    except Exception as exc:  # noqa: BLE001 - the last line of defence
        if _is_connection_failure(exc):
            log.warning("database unavailable during %s %s: %s", request.method, request.path, exc)
            return error_response(503, "database unavailable, try again shortly")
        log.exception("unhandled error in %s %s", request.method, request.path)
        return error_response(500, "internal server error", code="internal")
