"""http.request: one HTTP call, its response kept in memory (capped) and decoded."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from typing import ClassVar

import aiohttp
from multidict import CIMultiDict

from workflowdev.engine.plugin import JSON
from workflowdev.engine.plugin import Manifest
from workflowdev.engine.plugin import Plugin
from workflowdev.engine.plugin import TaskContext
from workflowdev.engine.plugin import TaskFailed
from workflowdev.engine.plugin import as_text
from workflowdev.plugins._toolkit import duration_schema
from workflowdev.plugins._toolkit import object_schema
from workflowdev.plugins._toolkit import read_choice
from workflowdev.plugins._toolkit import read_flag
from workflowdev.plugins._toolkit import read_text_map
from workflowdev.plugins._toolkit import read_whole_number
from workflowdev.plugins._toolkit import task_example
from workflowdev.plugins.http._client import DEFAULT_MAX_REDIRECTS
from workflowdev.plugins.http._client import DEFAULT_TIMEOUT
from workflowdev.plugins.http._client import EXCHANGE_TIMEOUT
from workflowdev.plugins.http._client import FAIL_ON_STATUS_SCHEMA
from workflowdev.plugins.http._client import FOLLOW_REDIRECTS_SCHEMA
from workflowdev.plugins.http._client import HEADERS_SCHEMA
from workflowdev.plugins.http._client import IDEMPOTENCY_SCHEMA
from workflowdev.plugins.http._client import MAX_REDIRECTS_LIMIT
from workflowdev.plugins.http._client import MAX_REDIRECTS_SCHEMA
from workflowdev.plugins.http._client import METHODS
from workflowdev.plugins.http._client import QUERY_SCHEMA
from workflowdev.plugins.http._client import RESPONSE_OUT
from workflowdev.plugins.http._client import SCALAR
from workflowdev.plugins.http._client import URL_SCHEMA
from workflowdev.plugins.http._client import VERIFY_TLS_SCHEMA
from workflowdev.plugins.http._client import exchange_options
from workflowdev.plugins.http._client import fetch
from workflowdev.plugins.http._client import http_url
from workflowdev.plugins.http._client import query_pairs

# -- http.request ---------------------------------------------------------------------------------


def request_headers(ctx: TaskContext, properties: Mapping[str, JSON]) -> CIMultiDict[str]:
    headers = CIMultiDict(read_text_map(properties.get("headers"), "headers"))
    if read_flag(properties, "send_idempotency_key", False):
        headers.setdefault("Idempotency-Key", ctx.idempotency_key)
    return headers


def _payload(properties: Mapping[str, JSON], headers: CIMultiDict[str]) -> dict[str, Any]:
    """The request body from `body`, `form` or `data`, and a Content-Type unless one is given."""
    given = [name for name in ("body", "form", "data") if name in properties]
    if len(given) > 1:
        raise TaskFailed(f"give at most one of body, form and data; this task gives {' and '.join(given)}")
    if "body" in properties:
        headers.setdefault("Content-Type", "application/json")
        return {"data": json.dumps(properties["body"], ensure_ascii=False).encode()}
    if "form" in properties:
        form = aiohttp.FormData()
        for name, value in query_pairs(properties["form"]):
            form.add_field(name, value)
        return {"data": form}
    if "data" in properties:
        headers.setdefault("Content-Type", "text/plain; charset=utf-8")
        return {"data": as_text(properties["data"]).encode()}
    return {}


class Request(Plugin):
    """Call an HTTP endpoint and return its status, headers and body."""

    manifest: ClassVar[Manifest] = Manifest(
        id="http.request",
        name="HTTP request",
        category="http",
        description=(
            "Sends one HTTP request and returns the response's status, headers and body (JSON "
            "decoded when the response says it is JSON). Give at most one body: `body` (sent as "
            "JSON), `form` (URL-encoded) or `data` (raw text). By default a status of 400 or more "
            "fails the task. The body read is capped by the server's http_max_response_bytes; "
            "link-local and cloud-metadata addresses are refused unless the operator allows them."
        ),
        input_schema=object_schema(
            {
                "url": URL_SCHEMA,
                "method": {
                    "type": "string",
                    "enum": list(METHODS),
                    "default": "GET",
                    "description": "The HTTP method.",
                },
                "headers": HEADERS_SCHEMA,
                "send_idempotency_key": IDEMPOTENCY_SCHEMA,
                "query": QUERY_SCHEMA,
                "body": {
                    "description": (
                        "Any JSON value, sent as the JSON body (Content-Type application/json "
                        "unless `headers` says otherwise)."
                    ),
                },
                "form": {
                    "type": "object",
                    "additionalProperties": {"anyOf": [SCALAR, {"type": "array", "items": SCALAR}]},
                    "description": "Fields sent URL-encoded (application/x-www-form-urlencoded).",
                },
                "data": {
                    "type": "string",
                    "description": "Raw text sent as it is (text/plain unless `headers` says otherwise).",
                },
                "timeout": duration_schema(DEFAULT_TIMEOUT, EXCHANGE_TIMEOUT),
                "follow_redirects": FOLLOW_REDIRECTS_SCHEMA,
                "max_redirects": MAX_REDIRECTS_SCHEMA,
                "verify_tls": VERIFY_TLS_SCHEMA,
                "fail_on_status": FAIL_ON_STATUS_SCHEMA,
            },
            ["url"],
        ),
        output_schema=RESPONSE_OUT,
        examples=(
            task_example(
                "fetch_status",
                "http.request",
                """
                url: http://example.test/json
                headers:
                  Accept: application/json
                query:
                  verbose: true
                """,
            ),
            task_example(
                "greeting",
                "http.request",
                """
                url: http://example.test/text
                timeout: 5s
                fail_on_status: false
                """,
            ),
        ),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        method = read_choice(properties, "method", METHODS, "GET")
        url = http_url(properties["url"])
        headers = request_headers(ctx, properties)
        payload = _payload(properties, headers)
        reply = await fetch(
            ctx,
            method,
            url,
            **exchange_options(properties, DEFAULT_TIMEOUT),
            max_redirects=read_whole_number(properties, "max_redirects", DEFAULT_MAX_REDIRECTS, 1, MAX_REDIRECTS_LIMIT),
            headers=headers,
            params=query_pairs(properties.get("query")),
            **payload,
        )
        if reply.status >= 400 and read_flag(properties, "fail_on_status", True):
            raise reply.status_failure(method)
        return reply.outputs(ctx.log)
