"""Requests refused by aiohttp's HTTP parser, answered with the API's JSON error all the same.

A request line or header over the parser's limit (8,190 bytes), a malformed header or method:
aiohttp answers these itself, before any middleware runs, in plain text, and logs a traceback
for each. Its handler is swapped here for one that answers with the JSON error of API.md and
logs one line, so a client always gets JSON, and a flood of bad requests does not flood the log.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web
from aiohttp import web_protocol
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.http_exceptions import LineTooLong

from workflowdev.api.errors import error_response

log = logging.getLogger(__name__)


class _JsonErrorsHandler(web_protocol.RequestHandler):
    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if request.writer.output_size > 0:  # the response has begun: nothing can be said now
            raise ConnectionError("the response was already being sent when the request failed")
        if status >= 500:
            log.error("error handling a request from %s", request.remote, exc_info=exc)
            response = error_response(500, "internal server error", code="internal")
        else:
            reason = _describe(exc)
            log.info("refused a malformed request from %s: %s", request.remote, reason)
            response = error_response(status, reason)
        response.force_close()
        return response


def _describe(exc: BaseException | None) -> str:
    if isinstance(exc, LineTooLong):
        return "request line or header too long (each is limited to 8190 bytes)"
    if isinstance(exc, HttpProcessingError) and exc.message:
        first_line = exc.message.splitlines()[0].rstrip(":")
        return f"malformed HTTP request: {first_line[:200]}"
    return "malformed HTTP request"


class _JsonErrorsServer(web.Server):
    def __call__(self) -> web_protocol.RequestHandler:
        return _JsonErrorsHandler(self, loop=self._loop, **self._kwargs)


class JsonErrorsRunner(web.AppRunner):
    """An AppRunner whose connections answer parser errors as JSON."""

    async def _make_server(self) -> web.Server:
        server: Any = await super()._make_server()
        return _JsonErrorsServer(
            server.request_handler,
            request_factory=server.request_factory,
            handler_cancellation=server.handler_cancellation,
            loop=server._loop,
            **server._kwargs,
        )
