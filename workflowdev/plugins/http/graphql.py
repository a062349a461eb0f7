"""http.graphql: a GraphQL query or mutation, its `errors` failing the task unless told otherwise."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import ClassVar

from workflowdev.engine.plugin import JSON
from workflowdev.engine.plugin import Manifest
from workflowdev.engine.plugin import Plugin
from workflowdev.engine.plugin import TaskContext
from workflowdev.engine.plugin import TaskFailed
from workflowdev.engine.plugin import as_text
from workflowdev.plugins._toolkit import duration_schema
from workflowdev.plugins._toolkit import flag_schema
from workflowdev.plugins._toolkit import object_schema
from workflowdev.plugins._toolkit import read_flag
from workflowdev.plugins._toolkit import task_example
from workflowdev.plugins.http._client import DEFAULT_TIMEOUT
from workflowdev.plugins.http._client import EXCHANGE_TIMEOUT
from workflowdev.plugins.http._client import HEADERS_SCHEMA
from workflowdev.plugins.http._client import IDEMPOTENCY_SCHEMA
from workflowdev.plugins.http._client import STATUS_OUT
from workflowdev.plugins.http._client import URL_SCHEMA
from workflowdev.plugins.http._client import VERIFY_TLS_SCHEMA
from workflowdev.plugins.http._client import exchange_options
from workflowdev.plugins.http._client import fetch
from workflowdev.plugins.http._client import http_url
from workflowdev.plugins.http._client import shown_url
from workflowdev.plugins.http.request import request_headers

# -- http.graphql ---------------------------------------------------------------------------------


def _graphql_errors(errors: list[JSON]) -> str:
    messages = [
        as_text(error.get("message", error)) if isinstance(error, Mapping) else as_text(error) for error in errors[:3]
    ]
    more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
    return "; ".join(messages) + more


class GraphQL(Plugin):
    """Run a GraphQL query or mutation over HTTP POST."""

    manifest: ClassVar[Manifest] = Manifest(
        id="http.graphql",
        name="GraphQL query",
        category="http",
        description=(
            "POSTs `query` (with `variables` and `operation_name`) as JSON to a GraphQL endpoint "
            "and returns the response's `data` and `errors`. The task fails when the response "
            "has errors or an HTTP status of 400 or more, unless `fail_on_errors` is false; a "
            "response that is not a JSON object always fails it."
        ),
        input_schema=object_schema(
            {
                "url": URL_SCHEMA,
                "query": {"type": "string", "minLength": 1, "description": "The GraphQL document."},
                "variables": {
                    "type": "object",
                    "description": "Values of the document's variables, name to value.",
                },
                "operation_name": {
                    "type": "string",
                    "minLength": 1,
                    "description": "Which operation to run when the document has several.",
                },
                "headers": HEADERS_SCHEMA,
                "send_idempotency_key": IDEMPOTENCY_SCHEMA,
                "timeout": duration_schema(DEFAULT_TIMEOUT, EXCHANGE_TIMEOUT),
                "verify_tls": VERIFY_TLS_SCHEMA,
                "fail_on_errors": flag_schema(
                    True, "Fail the task when the response has errors or a status of 400 or more."
                ),
            },
            ["url", "query"],
        ),
        output_schema=object_schema(
            {
                "data": {"description": "The response's `data`; null when it has none."},
                "errors": {
                    "type": "array",
                    "description": "The response's `errors` as sent; empty when there are none.",
                },
                "status_code": STATUS_OUT,
            },
            ["data", "errors", "status_code"],
        ),
        examples=(
            task_example(
                "order_status",
                "http.graphql",
                """
                url: http://example.test/graphql
                query: 'query Order($id: ID!) { order(id: $id) { status } }'
                variables: {id: "42"}
                operation_name: Order
                """,
            ),
        ),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        url = http_url(properties["url"])
        document: dict[str, JSON] = {"query": as_text(properties["query"])}
        if "variables" in properties:
            document["variables"] = properties["variables"]
        if "operation_name" in properties:
            document["operationName"] = as_text(properties["operation_name"])
        headers = request_headers(ctx, properties)
        headers.setdefault("Content-Type", "application/json")
        headers.setdefault("Accept", "application/graphql-response+json, application/json")
        reply = await fetch(
            ctx,
            "POST",
            url,
            **exchange_options(properties, DEFAULT_TIMEOUT, has_follow_redirects=False),
            headers=headers,
            data=json.dumps(document, ensure_ascii=False).encode(),
        )
        try:
            answer = json.loads(reply.raw)
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise TaskFailed(
                f"POST {shown_url(reply.url)} answered HTTP {reply.status} without a GraphQL JSON "
                f"object: {reply.snippet() or '(empty body)'}"
            )
        errors = answer.get("errors") or []
        if not isinstance(errors, list):
            errors = [errors]
        if read_flag(properties, "fail_on_errors", True):
            if errors:
                raise TaskFailed(f"GraphQL errors from {shown_url(reply.url)}: {_graphql_errors(errors)}")
            if reply.status >= 400:
                raise reply.status_failure("POST")
        return {"data": answer.get("data"), "errors": errors, "status_code": reply.status}
