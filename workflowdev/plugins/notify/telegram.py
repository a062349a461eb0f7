"""notify.telegram: a message from a bot, through the Telegram Bot API."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from yarl import URL

from workflowdev.engine.plugin import JSON
from workflowdev.engine.plugin import Manifest
from workflowdev.engine.plugin import Plugin
from workflowdev.engine.plugin import TaskContext
from workflowdev.engine.plugin import TaskFailed
from workflowdev.engine.plugin import as_text
from workflowdev.plugins._notify_http import DEFAULT_TIMEOUT
from workflowdev.plugins._notify_http import TIMEOUT_SCHEMA
from workflowdev.plugins._notify_http import Endpoint
from workflowdev.plugins._notify_http import endpoint
from workflowdev.plugins._notify_http import send
from workflowdev.plugins._toolkit import flag_schema
from workflowdev.plugins._toolkit import object_schema
from workflowdev.plugins._toolkit import read_flag
from workflowdev.plugins._toolkit import read_optional_text
from workflowdev.plugins._toolkit import task_example
from workflowdev.plugins.notify._common import STATUS_OUT
from workflowdev.plugins.notify._common import TELEGRAM_API_URL
from workflowdev.plugins.notify._common import TELEGRAM_TEXT_LIMIT
from workflowdev.plugins.notify._common import TEXT
from workflowdev.plugins.notify._common import provider_reason
from workflowdev.plugins.notify._common import put_if_given
from workflowdev.plugins.notify._common import url_schema

# -- notify.telegram ------------------------------------------------------------------------------


def _bot_token(value: JSON) -> str:
    """The token, checked for its shape: it goes into the URL path, so nothing else may pass."""
    if not isinstance(value, str) or not _is_bot_token(value):
        raise TaskFailed(
            "bot_token does not look like a Telegram bot token (digits, a colon, then letters, "
            "digits, - and _ as BotFather gives it)"
        )
    return value


def _is_bot_token(text: str) -> bool:
    number, colon, secret = text.partition(":")
    allowed = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")
    return bool(number.isascii() and number.isdigit() and colon and secret and set(secret) <= allowed)


class Telegram(Plugin):
    """Send a message to a Telegram chat as a bot."""

    manifest: ClassVar[Manifest] = Manifest(
        id="notify.telegram",
        name="Send a Telegram message",
        category="notify",
        description=(
            "Sends a message as a Telegram bot: POSTs the Bot API's sendMessage JSON (`chat_id`, "
            "`text`, `parse_mode`, …) to `{api_url}/bot<token>/sendMessage` and returns the new "
            f"message's id. Text is limited to {TELEGRAM_TEXT_LIMIT} characters. The bot token "
            "never appears in logs or errors. A refusal (chat not found, bad markup, …) fails "
            "the task with Telegram's description."
        ),
        input_schema=object_schema(
            {
                "bot_token": {
                    **TEXT,
                    "description": "The bot's token from BotFather (`123456:ABC-…`), from a credential: `${TELEGRAM_BOT_TOKEN}`.",
                },
                "chat_id": {
                    "anyOf": [{"type": "integer"}, {**TEXT, "pattern": "^(@\\w+|-?[0-9]+)$"}],
                    "description": "The chat's numeric id, or `@channelusername` for a public channel.",
                },
                "text": {**TEXT, "maxLength": TELEGRAM_TEXT_LIMIT, "description": "The message."},
                "parse_mode": {
                    "type": "string",
                    "enum": ["MarkdownV2", "HTML", "Markdown"],
                    "description": "How Telegram reads markup in `text`; plain text when not given.",
                },
                "disable_notification": flag_schema(False, "Deliver silently: users get no sound."),
                "disable_link_preview": flag_schema(False, "Do not show a preview of the first link."),
                "message_thread_id": {
                    "type": "integer",
                    "description": "The topic of a forum supergroup to post in.",
                },
                "api_url": {
                    **url_schema("The Bot API server; point it at a self-hosted Bot API server or a proxy."),
                    "default": TELEGRAM_API_URL,
                },
                "timeout": TIMEOUT_SCHEMA,
            },
            ["bot_token", "chat_id", "text"],
        ),
        output_schema=object_schema(
            {
                "status_code": STATUS_OUT,
                "message_id": {
                    "type": ["integer", "null"],
                    "description": "The id of the message sent; null when the server did not say.",
                },
            },
            ["status_code", "message_id"],
        ),
        examples=(
            task_example(
                "ping_on_call",
                "notify.telegram",
                """
                bot_token: ${TELEGRAM_BOT_TOKEN}
                chat_id: -1001234567890
                text: "<b>Disk almost full</b> on db-2 (93%)"
                parse_mode: HTML
                api_url: ${TELEGRAM_API_URL}
                """,
            ),
        ),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        token = _bot_token(properties.get("bot_token"))
        api = endpoint(properties.get("api_url", TELEGRAM_API_URL), "api_url", "the Telegram Bot API")
        base = str(api.url.with_query(None).with_fragment(None)).rstrip("/")
        target = Endpoint(URL(f"{base}/bot{token}/sendMessage", encoded=True), api.label)
        chat_id = properties.get("chat_id")
        if isinstance(chat_id, bool) or not isinstance(chat_id, (int, str)) or chat_id == "":
            raise TaskFailed(f"chat_id must be a chat's id or @channelusername, got {as_text(chat_id)}")
        text = read_optional_text(properties, "text")
        if not text:
            raise TaskFailed("text must not be empty")
        if len(text) > TELEGRAM_TEXT_LIMIT:
            raise TaskFailed(f"text is {len(text)} characters; Telegram takes at most {TELEGRAM_TEXT_LIMIT}")
        payload: dict[str, JSON] = {"chat_id": chat_id, "text": text}
        put_if_given(payload, "parse_mode", read_optional_text(properties, "parse_mode"))
        if read_flag(properties, "disable_notification", False):
            payload["disable_notification"] = True
        if read_flag(properties, "disable_link_preview", False):
            payload["link_preview_options"] = {"is_disabled": True}
        thread = properties.get("message_thread_id")
        if thread is not None:
            if isinstance(thread, bool) or not isinstance(thread, int):
                raise TaskFailed(f"message_thread_id must be a whole number, got {as_text(thread)}")
            payload["message_thread_id"] = thread
        reply = await send(ctx, target, payload=payload, timeout=properties.get("timeout", DEFAULT_TIMEOUT))
        answer = reply.json()
        if not reply.ok or (isinstance(answer, Mapping) and answer.get("ok") is False):
            raise reply.refusal(target, provider_reason(reply))
        result = answer.get("result") if isinstance(answer, Mapping) else None
        message_id = result.get("message_id") if isinstance(result, Mapping) else None
        return {"status_code": reply.status, "message_id": message_id if isinstance(message_id, int) else None}
