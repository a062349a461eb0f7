"""notify.slack: a message to a Slack incoming webhook."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from workflowdev.engine.plugin import JSON
from workflowdev.engine.plugin import Manifest
from workflowdev.engine.plugin import Plugin
from workflowdev.engine.plugin import TaskContext
from workflowdev.engine.plugin import TaskFailed
from workflowdev.plugins._notify_http import DEFAULT_TIMEOUT
from workflowdev.plugins._notify_http import TIMEOUT_SCHEMA
from workflowdev.plugins._notify_http import endpoint
from workflowdev.plugins._notify_http import send
from workflowdev.plugins._toolkit import object_schema
from workflowdev.plugins._toolkit import read_optional_text
from workflowdev.plugins._toolkit import task_example
from workflowdev.plugins.notify._common import SLACK_MAX_BLOCKS
from workflowdev.plugins.notify._common import STATUS_OUT
from workflowdev.plugins.notify._common import TEXT
from workflowdev.plugins.notify._common import put_if_given
from workflowdev.plugins.notify._common import read_objects
from workflowdev.plugins.notify._common import url_schema
from workflowdev.plugins.notify._common import webhook_url_schema

# -- notify.slack ---------------------------------------------------------------------------------


class Slack(Plugin):
    """Post a message to a Slack channel through an incoming webhook."""

    manifest: ClassVar[Manifest] = Manifest(
        id="notify.slack",
        name="Post to Slack",
        category="notify",
        description=(
            "Posts a message to Slack through an incoming webhook, as Slack's incoming-webhook "
            "JSON: `text`, and optionally Block Kit `blocks` (then `text` is the notification's "
            "fallback), legacy `attachments`, and the `username` / `icon_emoji` / `icon_url` "
            "overrides that legacy webhooks honour. Give `text`, `blocks` or both. Any answer "
            "but 2xx fails the task with Slack's reason (invalid_payload, no_service, …)."
        ),
        input_schema=object_schema(
            {
                "webhook_url": webhook_url_schema(
                    "Slack incoming", "https://hooks.slack.com/services/T…/B…/…", "SLACK_WEBHOOK_URL"
                ),
                "text": {
                    **TEXT,
                    "description": "The message, in Slack mrkdwn; with `blocks`, the notification text.",
                },
                "blocks": {
                    "type": "array",
                    "items": {"type": "object", "required": ["type"]},
                    "minItems": 1,
                    "maxItems": SLACK_MAX_BLOCKS,
                    "description": f"Block Kit blocks, sent as they are (at most {SLACK_MAX_BLOCKS}).",
                },
                "attachments": {
                    "type": "array",
                    "items": {"type": "object", "minProperties": 1},
                    "description": "Legacy secondary attachments (e.g. with a `color` bar), sent as they are.",
                },
                "username": {**TEXT, "description": "The name to post as, where the webhook allows it."},
                "icon_emoji": {
                    "type": "string",
                    "pattern": "^:[^:\\s]+:$",
                    "description": "An emoji to post with, like `:rocket:`, where the webhook allows it.",
                },
                "icon_url": url_schema("An image URL to post with, where the webhook allows it."),
                "timeout": TIMEOUT_SCHEMA,
            },
            ["webhook_url"],
        ),
        output_schema=object_schema({"status_code": STATUS_OUT}, ["status_code"]),
        examples=(
            task_example(
                "tell_ops",
                "notify.slack",
                """
                webhook_url: ${SLACK_WEBHOOK_URL}
                text: "Nightly import finished: *1,204* rows"
                icon_emoji: ":package:"
                """,
            ),
            task_example(
                "deploy_done",
                "notify.slack",
                """
                webhook_url: ${SLACK_WEBHOOK_URL}
                text: Deploy finished
                blocks:
                  - type: section
                    text: {type: mrkdwn, text: "*Deploy finished* :white_check_mark:"}
                """,
            ),
        ),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        target = endpoint(properties.get("webhook_url"), "webhook_url", "the Slack webhook")
        text = read_optional_text(properties, "text")
        blocks = read_objects(properties, "blocks", SLACK_MAX_BLOCKS)
        if not text and not blocks:
            raise TaskFailed("give text, blocks or both: Slack needs something to post")
        payload: dict[str, JSON] = {}
        put_if_given(payload, "text", text)
        put_if_given(payload, "blocks", blocks)
        put_if_given(payload, "attachments", read_objects(properties, "attachments"))
        for name in ("username", "icon_emoji", "icon_url"):
            put_if_given(payload, name, read_optional_text(properties, name))
        reply = await send(ctx, target, payload=payload, timeout=properties.get("timeout", DEFAULT_TIMEOUT))
        if not reply.ok:
            raise reply.refusal(target)
        return {"status_code": reply.status}
