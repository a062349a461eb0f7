"""notify.discord: a message to a Discord webhook, split to fit and patient with rate limits."""

from __future__ import annotations

import asyncio
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
from workflowdev.plugins._notify_http import Endpoint
from workflowdev.plugins._notify_http import Reply
from workflowdev.plugins._notify_http import endpoint
from workflowdev.plugins._notify_http import send
from workflowdev.plugins._toolkit import flag_schema
from workflowdev.plugins._toolkit import object_schema
from workflowdev.plugins._toolkit import read_flag
from workflowdev.plugins._toolkit import read_optional_text
from workflowdev.plugins._toolkit import task_example
from workflowdev.plugins.notify._common import DISCORD_CONTENT_LIMIT
from workflowdev.plugins.notify._common import DISCORD_MAX_EMBEDS
from workflowdev.plugins.notify._common import DISCORD_MAX_RATE_LIMIT_WAIT
from workflowdev.plugins.notify._common import DISCORD_RATE_LIMIT_RETRIES
from workflowdev.plugins.notify._common import STATUS_OUT
from workflowdev.plugins.notify._common import TEXT
from workflowdev.plugins.notify._common import provider_reason
from workflowdev.plugins.notify._common import put_if_given
from workflowdev.plugins.notify._common import read_objects
from workflowdev.plugins.notify._common import url_schema
from workflowdev.plugins.notify._common import webhook_url_schema

# -- notify.discord -------------------------------------------------------------------------------


def split_message(text: str, limit: int) -> list[str]:
    """Cut `text` into pieces of at most `limit` characters, at line breaks where possible,
    else at spaces, else anywhere; the separator a cut falls on is dropped."""
    pieces: list[str] = []
    while len(text) > limit:
        cut = text.rfind("\n", 0, limit + 1)
        if cut <= 0:
            cut = text.rfind(" ", 0, limit + 1)
        if cut <= 0:
            pieces.append(text[:limit])
            text = text[limit:]
        else:
            pieces.append(text[:cut])
            text = text[cut + 1 :]
    if text or not pieces:
        pieces.append(text)
    return pieces


def _retry_after(reply: Reply) -> float | None:
    body = reply.json()
    if isinstance(body, Mapping) and isinstance(body.get("retry_after"), (int, float)):
        return float(body["retry_after"])
    return None


class Discord(Plugin):
    """Post a message to a Discord channel through a webhook."""

    manifest: ClassVar[Manifest] = Manifest(
        id="notify.discord",
        name="Post to Discord",
        category="notify",
        description=(
            "Posts a message to Discord through a channel webhook, as Discord's webhook JSON "
            "(`content`, `username`, `avatar_url`, `embeds`, `tts`, `allowed_mentions`), and "
            "waits for Discord to confirm it (`?wait=true`), returning the message ids. Discord "
            f"takes at most {DISCORD_CONTENT_LIMIT} characters of content per message: longer "
            "content fails the task unless `split` is true, which sends it as several messages "
            "cut at line breaks (embeds go with the last). Mentions in the content do not ping "
            "anyone unless `allowed_mentions` says so, because content is often built from data. "
            "A rate limit asking to wait a few seconds is waited out; any other non-2xx answer "
            "fails the task with Discord's reason."
        ),
        input_schema=object_schema(
            {
                "webhook_url": webhook_url_schema(
                    "Discord", "https://discord.com/api/webhooks/<id>/<token>", "DISCORD_WEBHOOK_URL"
                ),
                "content": {**TEXT, "description": "The message text (Discord markdown)."},
                "username": {**TEXT, "maxLength": 80, "description": "The name to post as instead of the webhook's."},
                "avatar_url": url_schema("An image URL to post with instead of the webhook's avatar."),
                "embeds": {
                    "type": "array",
                    "items": {"type": "object", "minProperties": 1},
                    "minItems": 1,
                    "maxItems": DISCORD_MAX_EMBEDS,
                    "description": "Rich embeds as Discord defines them (title, description, color, fields, …).",
                },
                "tts": flag_schema(False, "Read the message aloud (text-to-speech)."),
                "allowed_mentions": {
                    "type": "object",
                    "default": {"parse": []},
                    "description": (
                        "Which mentions in the content ping, as Discord's allowed_mentions object: "
                        "`{parse: [users, roles, everyone]}` to let them all through. Default: none."
                    ),
                },
                "split": flag_schema(
                    False,
                    f"Send content longer than {DISCORD_CONTENT_LIMIT} characters as several "
                    "messages instead of failing.",
                ),
                "timeout": TIMEOUT_SCHEMA,
            },
            ["webhook_url"],
        ),
        output_schema=object_schema(
            {
                "status_code": STATUS_OUT,
                "message_ids": {
                    "type": "array",
                    "items": {"type": "string"},
                    "description": "The ids of the messages posted, in order; empty when the server returned none.",
                },
            },
            ["status_code", "message_ids"],
        ),
        examples=(
            task_example(
                "build_broken",
                "notify.discord",
                """
                webhook_url: ${DISCORD_WEBHOOK_URL}
                username: CI
                content: The main branch build failed.
                embeds:
                  - title: Build 1234
                    description: 3 tests failed
                    color: 15158332
                """,
            ),
        ),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        target = endpoint(properties.get("webhook_url"), "webhook_url", "the Discord webhook")
        target = Endpoint(target.url.update_query(wait="true"), target.label)
        content = read_optional_text(properties, "content")
        embeds = read_objects(properties, "embeds", DISCORD_MAX_EMBEDS)
        if not content and not embeds:
            raise TaskFailed("give content, embeds or both: Discord needs something to post")
        if content and len(content) > DISCORD_CONTENT_LIMIT and not read_flag(properties, "split", False):
            raise TaskFailed(
                f"content is {len(content)} characters; Discord takes at most {DISCORD_CONTENT_LIMIT} "
                "per message. Shorten it, or set split: true to send it as several messages"
            )
        pieces: list[str | None] = [*split_message(content, DISCORD_CONTENT_LIMIT)] if content else [None]
        allowed_mentions = properties.get("allowed_mentions", {"parse": []})
        if not isinstance(allowed_mentions, Mapping):
            raise TaskFailed(f"allowed_mentions must be an object, got {as_text(allowed_mentions)}")
        common: dict[str, JSON] = {
            "tts": read_flag(properties, "tts", False),
            "allowed_mentions": dict(allowed_mentions),
        }
        put_if_given(common, "username", read_optional_text(properties, "username"))
        put_if_given(common, "avatar_url", read_optional_text(properties, "avatar_url"))
        timeout = properties.get("timeout", DEFAULT_TIMEOUT)
        message_ids: list[str] = []
        status = 0
        for number, piece in enumerate(pieces, start=1):
            payload = dict(common)
            put_if_given(payload, "content", piece)
            if number == len(pieces):
                put_if_given(payload, "embeds", embeds)
            reply = await self._post(ctx, target, payload, timeout)
            status = reply.status
            body = reply.json()
            if isinstance(body, Mapping) and body.get("id") is not None:
                message_ids.append(as_text(body["id"]))
        if len(pieces) > 1:
            ctx.log.info(f"content sent as {len(pieces)} messages")
        return {"status_code": status, "message_ids": message_ids}

    @staticmethod
    async def _post(ctx: TaskContext, target: Endpoint, payload: JSON, timeout: JSON) -> Reply:
        """One message, waiting out short rate limits (split content can trip them)."""
        for _ in range(DISCORD_RATE_LIMIT_RETRIES + 1):
            reply = await send(ctx, target, payload=payload, timeout=timeout)
            wait = _retry_after(reply) if reply.status == 429 else None
            if wait is None or wait > DISCORD_MAX_RATE_LIMIT_WAIT:
                break
            ctx.log.warning(f"Discord rate limit: waiting {wait:g}s before sending again")
            await asyncio.sleep(wait)
        if not reply.ok:
            raise reply.refusal(target, provider_reason(reply))
        return reply
