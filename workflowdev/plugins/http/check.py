"""http.check: is an endpoint up, does it answer the expected status and body."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import ClassVar
from typing import Final

from workflowdev.engine.plugin import JSON
from workflowdev.engine.plugin import Manifest
from workflowdev.engine.plugin import Plugin
from workflowdev.engine.plugin import TaskContext
from workflowdev.engine.plugin import TaskFailed
from workflowdev.engine.plugin import as_text
from workflowdev.plugins._toolkit import duration_schema
from workflowdev.plugins._toolkit import flag_schema
from workflowdev.plugins._toolkit import object_schema
from workflowdev.plugins._toolkit import read_choice
from workflowdev.plugins._toolkit import read_flag
from workflowdev.plugins._toolkit import read_text_map
from workflowdev.plugins._toolkit import task_example
from workflowdev.plugins.http._client import DEFAULT_CHECK_TIMEOUT
from workflowdev.plugins.http._client import EXCHANGE_TIMEOUT
from workflowdev.plugins.http._client import FOLLOW_REDIRECTS_SCHEMA
from workflowdev.plugins.http._client import HEADERS_SCHEMA
from workflowdev.plugins.http._client import URL_SCHEMA
from workflowdev.plugins.http._client import VERIFY_TLS_SCHEMA
from workflowdev.plugins.http._client import Refused
from workflowdev.plugins.http._client import Reply
from workflowdev.plugins.http._client import exchange_options
from workflowdev.plugins.http._client import fetch
from workflowdev.plugins.http._client import http_url
from workflowdev.plugins.http._client import shown_url

# -- http.check -----------------------------------------------------------------------------------

_STATUS: Final[dict[str, JSON]] = {"type": "integer", "minimum": 100, "maximum": 599}


def _expected_statuses(value: JSON) -> list[int]:
    statuses = value if isinstance(value, list) else [value]
    if not statuses or not all(isinstance(s, int) and not isinstance(s, bool) and 100 <= s <= 599 for s in statuses):
        raise TaskFailed(f"expected_status must be a status code or a list of them, got {as_text(value)}")
    return statuses


def _check_failure(reply: Reply, expected: list[int], contains: JSON) -> str | None:
    """Why a response fails the check, or None when it passes."""
    if reply.status not in expected:
        wanted = " or ".join(str(s) for s in expected)
        snippet = reply.snippet()
        return f"status {reply.status}, expected {wanted}" + (f": {snippet}" if snippet else "")
    if contains is not None and as_text(contains) not in reply.text():
        return f"the body does not contain {as_text(contains)!r}"
    return None


class Check(Plugin):
    """Check that an endpoint answers as expected: the building block of health checks."""

    manifest: ClassVar[Manifest] = Manifest(
        id="http.check",
        name="Check an endpoint",
        category="http",
        description=(
            "Requests `url` and checks the status (one of `expected_status`) and, when "
            "`contains` is given, that the body contains that text. A failed check fails the "
            "task unless `fail` is false; then the outputs say `ok: false` and why, including "
            "when the server could not be reached or timed out. Addresses refused by the "
            "server's address guard always fail the task. `latency_ms` covers the whole "
            "exchange, body included."
        ),
        input_schema=object_schema(
            {
                "url": URL_SCHEMA,
                "method": {
                    "type": "string",
                    "enum": ["GET", "HEAD"],
                    "default": "GET",
                    "description": "GET, or HEAD to skip the body (then `contains` cannot match).",
                },
                "expected_status": {
                    "anyOf": [_STATUS, {"type": "array", "items": _STATUS, "minItems": 1}],
                    "default": 200,
                    "description": "The status code, or a list of codes, that counts as healthy.",
                },
                "contains": {
                    "type": "string",
                    "minLength": 1,
                    "description": "Text the body must contain (matched case-sensitively).",
                },
                "headers": HEADERS_SCHEMA,
                "timeout": duration_schema(DEFAULT_CHECK_TIMEOUT, EXCHANGE_TIMEOUT),
                "follow_redirects": FOLLOW_REDIRECTS_SCHEMA,
                "verify_tls": VERIFY_TLS_SCHEMA,
                "fail": flag_schema(True, "Fail the task when the check fails; when false, report it in `ok`."),
            },
            ["url"],
        ),
        output_schema=object_schema(
            {
                "ok": {"type": "boolean", "description": "Whether the check passed."},
                "status_code": {
                    "type": ["integer", "null"],
                    "description": "The response's status; null when no response came.",
                },
                "latency_ms": {
                    "type": "integer",
                    "minimum": 0,
                    "description": "Milliseconds from sending the request to the end of the body (or the failure).",
                },
                "reason": {
                    "type": ["string", "null"],
                    "description": "Why the check failed; null when it passed.",
                },
            },
            ["ok", "status_code", "latency_ms", "reason"],
        ),
        examples=(
            task_example(
                "api_is_up",
                "http.check",
                """
                url: http://example.test/status/200
                expected_status: [200, 204]
                timeout: 5s
                """,
            ),
            task_example(
                "greeting_served",
                "http.check",
                """
                url: http://example.test/text
                contains: hello
                fail: false
                """,
            ),
        ),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        method = read_choice(properties, "method", ("GET", "HEAD"), "GET")
        url = http_url(properties["url"])
        expected = _expected_statuses(properties.get("expected_status", 200))
        contains = properties.get("contains")
        fail = read_flag(properties, "fail", True)
        loop = asyncio.get_running_loop()
        started = loop.time()
        status: int | None = None
        try:
            reply = await fetch(
                ctx,
                method,
                url,
                **exchange_options(properties, DEFAULT_CHECK_TIMEOUT),
                headers=read_text_map(properties.get("headers"), "headers"),
            )
        except Refused:
            raise
        except TaskFailed as exc:
            if fail:
                raise
            reason: str | None = str(exc)
        else:
            status = reply.status
            reason = _check_failure(reply, expected, contains)
        latency_ms = round((loop.time() - started) * 1000)
        if reason is not None:
            ctx.log.warning(f"check of {method} {shown_url(url)} failed: {reason}")
            if fail:
                raise TaskFailed(f"check of {method} {shown_url(url)} failed: {reason}")
        return {"ok": reason is None, "status_code": status, "latency_ms": latency_ms, "reason": reason}
