"""notify.webhook: JSON to any http(s) endpoint, for services without their own task type."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from workflowdev.engine.plugin import JSON
from workflowdev.engine.plugin import Manifest
from workflowdev.engine.plugin import Plugin
from workflowdev.engine.plugin import TaskContext
from workflowdev.engine.plugin import TaskFailed
from workflowdev.engine.plugin import as_text
from workflowdev.plugins._notify_http import DEFAULT_TIMEOUT
from workflowdev.plugins._notify_http import TIMEOUT_SCHEMA
from workflowdev.plugins._notify_http import endpoint
from workflowdev.plugins._notify_http import send
from workflowdev.plugins._toolkit import flag_schema
from workflowdev.plugins._toolkit import object_schema
from workflowdev.plugins._toolkit import read_flag
from workflowdev.plugins._toolkit import read_text_map
from workflowdev.plugins._toolkit import task_example
from workflowdev.plugins.notify._common import WEBHOOK_METHODS
from workflowdev.plugins.notify._common import url_schema

# -- notify.webhook -------------------------------------------------------------------------------


class Webhook(Plugin):
    """Send a JSON document to any webhook."""

    manifest: ClassVar[Manifest] = Manifest(
        id="notify.webhook",
        name="Call a webhook",
        category="notify",
        description=(
            "Sends `body` as JSON to a webhook URL (POST by default) and returns the answer's "
            "status and body (decoded when it is JSON). An answer other than 2xx fails the task "
            "unless `fail_on_status` is false; redirects are not followed. Messages name the "
            "webhook by its origin only, as webhook URLs often carry secrets."
        ),
        input_schema=object_schema(
            {
                "url": url_schema("The webhook URL; when it carries a secret, from a credential: `${HOOK_URL}`."),
                "method": {
                    "type": "string",
                    "enum": list(WEBHOOK_METHODS),
                    "default": "POST",
                    "description": "The HTTP method.",
                },
                "headers": {
                    "type": "object",
                    "additionalProperties": {"type": ["string", "number", "boolean"]},
                    "description": "Request headers, name to value (an Authorization header from a credential, say).",
                },
                "body": {"description": "Any JSON value, sent as the request body (application/json)."},
                "fail_on_status": flag_schema(
                    True, "Fail the task when the answer is not 2xx; when false, any status is a result."
                ),
                "verify_tls": flag_schema(
                    True, "Check the server's TLS certificate. Turn off only for hosts you trust."
                ),
                "timeout": TIMEOUT_SCHEMA,
            },
            ["url"],
        ),
        output_schema=object_schema(
            {
                "status_code": {"type": "integer", "description": "The HTTP status of the answer."},
                "body": {"description": "The answer's body: decoded JSON when it is JSON, else text ('' when empty)."},
            },
            ["status_code", "body"],
        ),
        examples=(
            task_example(
                "open_incident",
                "notify.webhook",
                """
                url: ${HOOK_URL}
                headers: {X-Source: workflowdev}
                body:
                  summary: Nightly import failed
                  severity: critical
                """,
            ),
        ),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        method = properties.get("method", "POST")
        if method not in WEBHOOK_METHODS:
            raise TaskFailed(f"method must be one of {', '.join(WEBHOOK_METHODS)}; got {as_text(method)}")
        target = endpoint(properties.get("url"), "url", "the webhook")
        reply = await send(
            ctx,
            target,
            method=str(method),
            payload=properties.get("body"),
            has_payload="body" in properties,
            headers=read_text_map(properties.get("headers"), "headers"),
            timeout=properties.get("timeout", DEFAULT_TIMEOUT),
            verify_tls=read_flag(properties, "verify_tls", True),
        )
        if not reply.ok and read_flag(properties, "fail_on_status", True):
            raise reply.refusal(target)
        decoded = reply.json() if "json" in reply.content_type else None
        return {"status_code": reply.status, "body": decoded if decoded is not None else reply.text()}
