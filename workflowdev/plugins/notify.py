"""notify: tell people — Slack, Discord, Microsoft Teams, Telegram, email, or any webhook.

Each HTTP task posts its provider's real payload (Slack's incoming-webhook JSON, Discord's
webhook JSON, the Adaptive Card message that Teams Workflows webhooks take, the Bot API's
sendMessage) to a URL that defaults to the provider's endpoint where there is one and can be
pointed anywhere else: a proxy, a self-hosted Bot API server, a test server. They share
`_notify_http`: one guarded session per execution, a timeout on the whole exchange, and failure
messages that name an endpoint by its origin only, because webhook URLs and bot tokens are
secrets. A provider's non-2xx answer fails the task with the status and the provider's reason.

notify.email speaks SMTP through aiosmtplib (the `connectors` extra), with STARTTLS by default,
implicit TLS or, explicitly, none. Delivery is all or nothing: when the server refuses any
recipient, the envelope is reset before the message is sent, so a retry never mails the others
twice.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar, Final

from yarl import URL

from workflowdev.engine.plugin import (
    DURATION_SCHEMA,
    JSON,
    Manifest,
    Plugin,
    TaskContext,
    TaskFailed,
    as_text,
)
from workflowdev.plugins._notify_http import (
    DEFAULT_TIMEOUT,
    Endpoint,
    Reply,
    endpoint,
    parse_timeout,
    send,
    text_map,
    timeout_schema,
)
from workflowdev.plugins._notify_smtp import (
    SECURITY_MODES,
    Mailbox,
    build_message,
    deliver,
    parse_addresses,
    server_from,
    tls_context,
)
from workflowdev.plugins._paths import confinement

__all__ = [
    "DISCORD_CONTENT_LIMIT",
    "PLUGINS",
    "TELEGRAM_API_URL",
    "TELEGRAM_TEXT_LIMIT",
    "Discord",
    "Email",
    "Slack",
    "Teams",
    "Telegram",
    "Webhook",
    "split_message",
    "teams_card",
    "teams_message",
]

CONNECTORS_EXTRA: Final = "this task needs the `connectors` extra: pip install 'workflowdev[connectors]'"

SLACK_MAX_BLOCKS: Final = 50
DISCORD_CONTENT_LIMIT: Final = 2000
"""Discord refuses a message whose content is longer than this many characters."""
DISCORD_MAX_EMBEDS: Final = 10
DISCORD_MAX_RATE_LIMIT_WAIT: Final = 10.0
"""A 429 asking to wait up to this many seconds is waited out; a longer one fails the task."""
DISCORD_RATE_LIMIT_RETRIES: Final = 3
TELEGRAM_TEXT_LIMIT: Final = 4096
TELEGRAM_API_URL: Final = "https://api.telegram.org"
TEAMS_CARD_VERSION: Final = "1.4"
"""The Adaptive Card schema version Teams renders everywhere (desktop, web and mobile)."""
ADAPTIVE_CARD: Final = "application/vnd.microsoft.card.adaptive"
ADAPTIVE_CARD_SCHEMA: Final = "http://adaptivecards.io/schemas/adaptive-card.json"
WEBHOOK_METHODS: Final = ("POST", "PUT", "PATCH", "DELETE", "GET")


# -- schemas --------------------------------------------------------------------------------------


def _object(properties: dict[str, JSON], required: list[str]) -> dict[str, JSON]:
    return {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }


def _url_schema(description: str) -> dict[str, JSON]:
    return {"type": "string", "pattern": "^[Hh][Tt][Tt][Pp][Ss]?://", "description": description}


def _webhook_url(provider: str, example: str, credential: str) -> dict[str, JSON]:
    return _url_schema(
        f"The {provider} webhook URL ({example}). It is a secret, so it usually comes from a "
        f"credential: `${{{credential}}}`. Any http(s) URL works, e.g. a proxy."
    )


_TEXT: Final[dict[str, JSON]] = {"type": "string", "minLength": 1}
STATUS_OUT: Final[dict[str, JSON]] = {
    "type": "integer",
    "description": "The HTTP status the provider answered with (2xx; anything else fails the task).",
}


def _recipients_schema(description: str) -> dict[str, JSON]:
    return {
        "anyOf": [_TEXT, {"type": "array", "items": _TEXT, "minItems": 1}],
        "description": description,
    }


# -- reading properties ---------------------------------------------------------------------------


def _flag(properties: Mapping[str, JSON], name: str, default: bool) -> bool:
    value = properties.get(name, default)
    if not isinstance(value, bool):
        raise TaskFailed(f"{name} must be true or false, got {as_text(value)}")
    return value


def _optional_text(properties: Mapping[str, JSON], name: str) -> str | None:
    value = properties.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise TaskFailed(f"{name} must be text, got {as_text(value)}")
    return value


def _objects(properties: Mapping[str, JSON], name: str, limit: int | None = None) -> list[JSON] | None:
    value = properties.get(name)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(item, Mapping) for item in value):
        raise TaskFailed(f"{name} must be a list of objects, got {as_text(value)}")
    if limit is not None and len(value) > limit:
        raise TaskFailed(f"{name} has {len(value)} items; at most {limit} are allowed")
    return list(value)


def _detail(reply: Reply) -> str | None:
    """The provider's own reason from a JSON error body ({"message"}, {"description"},
    {"error": {"message"}}), or None to quote the body as it is."""
    body = reply.json()
    if not isinstance(body, Mapping):
        return None
    error = body.get("error")
    if isinstance(error, Mapping) and isinstance(error.get("message"), str):
        return error["message"]
    for key in ("description", "message"):
        if isinstance(body.get(key), str):
            code = body.get("code")
            return f"{body[key]} (code {code})" if isinstance(code, int) else body[key]
    return None


def _put(payload: dict[str, JSON], key: str, value: JSON) -> None:
    if value is not None:
        payload[key] = value


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
        input_schema=_object(
            {
                "webhook_url": _webhook_url(
                    "Slack incoming", "https://hooks.slack.com/services/T…/B…/…", "SLACK_WEBHOOK_URL"
                ),
                "text": {
                    **_TEXT,
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
                "username": {**_TEXT, "description": "The name to post as, where the webhook allows it."},
                "icon_emoji": {
                    "type": "string",
                    "pattern": "^:[^:\\s]+:$",
                    "description": "An emoji to post with, like `:rocket:`, where the webhook allows it.",
                },
                "icon_url": _url_schema("An image URL to post with, where the webhook allows it."),
                "timeout": timeout_schema(),
            },
            ["webhook_url"],
        ),
        output_schema=_object({"status_code": STATUS_OUT}, ["status_code"]),
        examples=(
            "- name: tell_ops\n"
            "  type: notify.slack\n"
            "  properties:\n"
            "    webhook_url: ${SLACK_WEBHOOK_URL}\n"
            "    text: \"Nightly import finished: *1,204* rows\"\n"
            "    icon_emoji: \":package:\"\n",
            "- name: deploy_done\n"
            "  type: notify.slack\n"
            "  properties:\n"
            "    webhook_url: ${SLACK_WEBHOOK_URL}\n"
            "    text: Deploy finished\n"
            "    blocks:\n"
            "      - type: section\n"
            "        text: {type: mrkdwn, text: \"*Deploy finished* :white_check_mark:\"}\n",
        ),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        target = endpoint(properties.get("webhook_url"), "webhook_url", "the Slack webhook")
        text = _optional_text(properties, "text")
        blocks = _objects(properties, "blocks", SLACK_MAX_BLOCKS)
        if not text and not blocks:
            raise TaskFailed("give text, blocks or both: Slack needs something to post")
        payload: dict[str, JSON] = {}
        _put(payload, "text", text)
        _put(payload, "blocks", blocks)
        _put(payload, "attachments", _objects(properties, "attachments"))
        for name in ("username", "icon_emoji", "icon_url"):
            _put(payload, name, _optional_text(properties, name))
        reply = await send(ctx, target, payload=payload, timeout=properties.get("timeout", DEFAULT_TIMEOUT))
        if not reply.ok:
            raise reply.refusal(target)
        return {"status_code": reply.status}


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
        input_schema=_object(
            {
                "webhook_url": _webhook_url(
                    "Discord", "https://discord.com/api/webhooks/<id>/<token>", "DISCORD_WEBHOOK_URL"
                ),
                "content": {**_TEXT, "description": "The message text (Discord markdown)."},
                "username": {**_TEXT, "maxLength": 80, "description": "The name to post as instead of the webhook's."},
                "avatar_url": _url_schema("An image URL to post with instead of the webhook's avatar."),
                "embeds": {
                    "type": "array",
                    "items": {"type": "object", "minProperties": 1},
                    "minItems": 1,
                    "maxItems": DISCORD_MAX_EMBEDS,
                    "description": "Rich embeds as Discord defines them (title, description, color, fields, …).",
                },
                "tts": {"type": "boolean", "default": False, "description": "Read the message aloud (text-to-speech)."},
                "allowed_mentions": {
                    "type": "object",
                    "default": {"parse": []},
                    "description": (
                        "Which mentions in the content ping, as Discord's allowed_mentions object: "
                        "`{parse: [users, roles, everyone]}` to let them all through. Default: none."
                    ),
                },
                "split": {
                    "type": "boolean",
                    "default": False,
                    "description": (
                        f"Send content longer than {DISCORD_CONTENT_LIMIT} characters as several "
                        "messages instead of failing."
                    ),
                },
                "timeout": timeout_schema(),
            },
            ["webhook_url"],
        ),
        output_schema=_object(
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
            "- name: build_broken\n"
            "  type: notify.discord\n"
            "  properties:\n"
            "    webhook_url: ${DISCORD_WEBHOOK_URL}\n"
            "    username: CI\n"
            "    content: The main branch build failed.\n"
            "    embeds:\n"
            "      - title: Build 1234\n"
            "        description: 3 tests failed\n"
            "        color: 15158332\n",
        ),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        target = endpoint(properties.get("webhook_url"), "webhook_url", "the Discord webhook")
        target = Endpoint(target.url.update_query(wait="true"), target.label)
        content = _optional_text(properties, "content")
        embeds = _objects(properties, "embeds", DISCORD_MAX_EMBEDS)
        if not content and not embeds:
            raise TaskFailed("give content, embeds or both: Discord needs something to post")
        if content and len(content) > DISCORD_CONTENT_LIMIT and not _flag(properties, "split", False):
            raise TaskFailed(
                f"content is {len(content)} characters; Discord takes at most {DISCORD_CONTENT_LIMIT} "
                "per message. Shorten it, or set split: true to send it as several messages"
            )
        pieces: list[str | None] = [*split_message(content, DISCORD_CONTENT_LIMIT)] if content else [None]
        allowed_mentions = properties.get("allowed_mentions", {"parse": []})
        if not isinstance(allowed_mentions, Mapping):
            raise TaskFailed(f"allowed_mentions must be an object, got {as_text(allowed_mentions)}")
        common: dict[str, JSON] = {"tts": _flag(properties, "tts", False), "allowed_mentions": dict(allowed_mentions)}
        _put(common, "username", _optional_text(properties, "username"))
        _put(common, "avatar_url", _optional_text(properties, "avatar_url"))
        timeout = properties.get("timeout", DEFAULT_TIMEOUT)
        message_ids: list[str] = []
        status = 0
        for number, piece in enumerate(pieces, start=1):
            payload = dict(common)
            _put(payload, "content", piece)
            if number == len(pieces):
                _put(payload, "embeds", embeds)
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
            raise reply.refusal(target, _detail(reply))
        return reply


# -- notify.teams ---------------------------------------------------------------------------------


def teams_card(title: str | None, text: str | None, facts: Mapping[str, str], links: list[tuple[str, str]]) -> dict[str, JSON]:
    """The Adaptive Card for a title, a text, facts and link buttons."""
    body: list[JSON] = []
    if title:
        body.append({"type": "TextBlock", "text": title, "weight": "Bolder", "size": "Medium", "wrap": True})
    if text:
        body.append({"type": "TextBlock", "text": text, "wrap": True})
    if facts:
        body.append({"type": "FactSet", "facts": [{"title": name, "value": value} for name, value in facts.items()]})
    card: dict[str, JSON] = {
        "$schema": ADAPTIVE_CARD_SCHEMA,
        "type": "AdaptiveCard",
        "version": TEAMS_CARD_VERSION,
        "body": body,
    }
    if links:
        card["actions"] = [{"type": "Action.OpenUrl", "title": label, "url": url} for label, url in links]
    return card


def teams_message(card: Mapping[str, JSON]) -> dict[str, JSON]:
    """The message envelope Teams Workflows webhooks take around an Adaptive Card."""
    return {
        "type": "message",
        "attachments": [{"contentType": ADAPTIVE_CARD, "contentUrl": None, "content": dict(card)}],
    }


def _links(value: JSON) -> list[tuple[str, str]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise TaskFailed(f"links must be a list of {{title, url}} objects, got {as_text(value)}")
    links = []
    for item in value:
        if not (isinstance(item, Mapping) and isinstance(item.get("title"), str) and isinstance(item.get("url"), str)):
            raise TaskFailed(f"each link needs a title and a url, got {as_text(item)}")
        links.append((item["title"], item["url"]))
    return links


class Teams(Plugin):
    """Post an Adaptive Card to a Microsoft Teams channel through a Workflows webhook."""

    manifest: ClassVar[Manifest] = Manifest(
        id="notify.teams",
        name="Post to Microsoft Teams",
        category="notify",
        description=(
            "Posts an Adaptive Card to Microsoft Teams through a Workflows (Power Automate) "
            "webhook, in the message envelope those webhooks take: "
            "`{type: message, attachments: [{contentType: application/vnd.microsoft.card.adaptive, "
            "content: <card>}]}`. The card shows `title`, `text`, `facts` as a fact set and "
            "`links` as buttons; or give a complete Adaptive Card in `card`. Workflows answer "
            "202 Accepted; any answer but 2xx fails the task with the reason given."
        ),
        input_schema=_object(
            {
                "webhook_url": _webhook_url(
                    "Teams Workflows",
                    "https://prod-00.westeurope.logic.azure.com/workflows/…?…&sig=…",
                    "TEAMS_WEBHOOK_URL",
                ),
                "title": {**_TEXT, "description": "A bold heading."},
                "text": {**_TEXT, "description": "The message; Adaptive Card TextBlocks take a subset of Markdown."},
                "facts": {
                    "type": "object",
                    "additionalProperties": {"type": ["string", "number", "boolean"]},
                    "description": "Name-value pairs shown as a fact set, in the order given.",
                },
                "links": {
                    "type": "array",
                    "items": _object(
                        {
                            "title": {**_TEXT, "description": "The button's label."},
                            "url": _url_schema("Where the button leads."),
                        },
                        ["title", "url"],
                    ),
                    "description": "Buttons that open a URL.",
                },
                "card": {
                    "type": "object",
                    "required": ["type"],
                    "description": (
                        "A complete Adaptive Card (`{type: AdaptiveCard, version, body, …}`) to send "
                        "instead of one built from title, text, facts and links."
                    ),
                },
                "timeout": timeout_schema(),
            },
            ["webhook_url"],
        ),
        output_schema=_object({"status_code": STATUS_OUT}, ["status_code"]),
        examples=(
            "- name: tell_the_team\n"
            "  type: notify.teams\n"
            "  properties:\n"
            "    webhook_url: ${TEAMS_WEBHOOK_URL}\n"
            "    title: Backup finished\n"
            "    text: All 12 databases were copied.\n"
            "    facts: {Duration: 14 min, Size: 38 GB}\n"
            "    links:\n"
            "      - {title: Open the report, url: \"https://reports.example.com/backup\"}\n",
        ),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        target = endpoint(properties.get("webhook_url"), "webhook_url", "the Teams webhook")
        card = properties.get("card")
        built = [name for name in ("title", "text", "facts", "links") if name in properties]
        if card is not None:
            if built:
                raise TaskFailed(f"give either card or {', '.join(built)}, not both")
            if not isinstance(card, Mapping):
                raise TaskFailed(f"card must be an Adaptive Card object, got {as_text(card)}")
        else:
            title, text = _optional_text(properties, "title"), _optional_text(properties, "text")
            if not title and not text:
                raise TaskFailed("give a title, a text or a card: Teams needs something to show")
            facts = text_map(properties.get("facts"), "facts")
            card = teams_card(title, text, facts, _links(properties.get("links")))
        reply = await send(ctx, target, payload=teams_message(card), timeout=properties.get("timeout", DEFAULT_TIMEOUT))
        if not reply.ok:
            raise reply.refusal(target, _detail(reply))
        return {"status_code": reply.status}


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
        input_schema=_object(
            {
                "bot_token": {
                    **_TEXT,
                    "description": "The bot's token from BotFather (`123456:ABC-…`), from a credential: `${TELEGRAM_BOT_TOKEN}`.",
                },
                "chat_id": {
                    "anyOf": [{"type": "integer"}, {**_TEXT, "pattern": "^(@\\w+|-?[0-9]+)$"}],
                    "description": "The chat's numeric id, or `@channelusername` for a public channel.",
                },
                "text": {**_TEXT, "maxLength": TELEGRAM_TEXT_LIMIT, "description": "The message."},
                "parse_mode": {
                    "type": "string",
                    "enum": ["MarkdownV2", "HTML", "Markdown"],
                    "description": "How Telegram reads markup in `text`; plain text when not given.",
                },
                "disable_notification": {
                    "type": "boolean",
                    "default": False,
                    "description": "Deliver silently: users get no sound.",
                },
                "disable_link_preview": {
                    "type": "boolean",
                    "default": False,
                    "description": "Do not show a preview of the first link.",
                },
                "message_thread_id": {
                    "type": "integer",
                    "description": "The topic of a forum supergroup to post in.",
                },
                "api_url": {
                    **_url_schema("The Bot API server; point it at a self-hosted Bot API server or a proxy."),
                    "default": TELEGRAM_API_URL,
                },
                "timeout": timeout_schema(),
            },
            ["bot_token", "chat_id", "text"],
        ),
        output_schema=_object(
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
            "- name: ping_on_call\n"
            "  type: notify.telegram\n"
            "  properties:\n"
            "    bot_token: ${TELEGRAM_BOT_TOKEN}\n"
            "    chat_id: -1001234567890\n"
            "    text: \"<b>Disk almost full</b> on db-2 (93%)\"\n"
            "    parse_mode: HTML\n"
            "    api_url: ${TELEGRAM_API_URL}\n",
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
        text = _optional_text(properties, "text")
        if not text:
            raise TaskFailed("text must not be empty")
        if len(text) > TELEGRAM_TEXT_LIMIT:
            raise TaskFailed(f"text is {len(text)} characters; Telegram takes at most {TELEGRAM_TEXT_LIMIT}")
        payload: dict[str, JSON] = {"chat_id": chat_id, "text": text}
        _put(payload, "parse_mode", _optional_text(properties, "parse_mode"))
        if _flag(properties, "disable_notification", False):
            payload["disable_notification"] = True
        if _flag(properties, "disable_link_preview", False):
            payload["link_preview_options"] = {"is_disabled": True}
        thread = properties.get("message_thread_id")
        if thread is not None:
            if isinstance(thread, bool) or not isinstance(thread, int):
                raise TaskFailed(f"message_thread_id must be a whole number, got {as_text(thread)}")
            payload["message_thread_id"] = thread
        reply = await send(ctx, target, payload=payload, timeout=properties.get("timeout", DEFAULT_TIMEOUT))
        answer = reply.json()
        if not reply.ok or (isinstance(answer, Mapping) and answer.get("ok") is False):
            raise reply.refusal(target, _detail(reply))
        result = answer.get("result") if isinstance(answer, Mapping) else None
        message_id = result.get("message_id") if isinstance(result, Mapping) else None
        return {"status_code": reply.status, "message_id": message_id if isinstance(message_id, int) else None}


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
        input_schema=_object(
            {
                "url": _url_schema("The webhook URL; when it carries a secret, from a credential: `${HOOK_URL}`."),
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
                "fail_on_status": {
                    "type": "boolean",
                    "default": True,
                    "description": "Fail the task when the answer is not 2xx; when false, any status is a result.",
                },
                "verify_tls": {
                    "type": "boolean",
                    "default": True,
                    "description": "Check the server's TLS certificate. Turn off only for hosts you trust.",
                },
                "timeout": timeout_schema(),
            },
            ["url"],
        ),
        output_schema=_object(
            {
                "status_code": {"type": "integer", "description": "The HTTP status of the answer."},
                "body": {"description": "The answer's body: decoded JSON when it is JSON, else text ('' when empty)."},
            },
            ["status_code", "body"],
        ),
        examples=(
            "- name: open_incident\n"
            "  type: notify.webhook\n"
            "  properties:\n"
            "    url: ${HOOK_URL}\n"
            "    headers: {X-Source: workflowdev}\n"
            "    body:\n"
            "      summary: Nightly import failed\n"
            "      severity: critical\n",
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
            headers=text_map(properties.get("headers"), "headers"),
            timeout=properties.get("timeout", DEFAULT_TIMEOUT),
            verify_tls=_flag(properties, "verify_tls", True),
        )
        if not reply.ok and _flag(properties, "fail_on_status", True):
            raise reply.refusal(target)
        decoded = reply.json() if "json" in reply.content_type else None
        return {"status_code": reply.status, "body": decoded if decoded is not None else reply.text()}


# -- notify.email ---------------------------------------------------------------------------------


def _port(value: JSON) -> int | None:
    if value is None:
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise TaskFailed(f"port must be a port number from 1 to 65535, got {as_text(value)}")
    return value


def _mailboxes(properties: Mapping[str, JSON], name: str) -> list[Mailbox]:
    value = properties.get(name)
    if value is None:
        return []
    entries = value if isinstance(value, list) else [value]
    if not all(isinstance(entry, str) for entry in entries):
        raise TaskFailed(f"{name} must be an address or a list of addresses, got {as_text(value)}")
    return parse_addresses(entries, name)


def _attachments(ctx: TaskContext, value: JSON) -> list[Path]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise TaskFailed(f"attachments must be a list of file paths, got {as_text(value)}")
    places = confinement(ctx)
    paths = []
    for raw in value:
        path = places.resolve(raw, what="attachment")
        if not path.is_file():
            raise TaskFailed(f"there is no file at attachment path {raw}")
        paths.append(path)
    return paths


class Email(Plugin):
    """Send an email through an SMTP server."""

    manifest: ClassVar[Manifest] = Manifest(
        id="notify.email",
        name="Send an email",
        category="notify",
        description=(
            "Sends an email through an SMTP server: a text part, an HTML part, or both as "
            "multipart/alternative, with optional attachments from the working directory. "
            "Security is STARTTLS by default (the server must offer it), `ssl` for implicit TLS "
            "(smtps://, port 465), or `none`; certificates are verified against the system CAs, "
            "or only `ca_cert` when given. Delivery is all or nothing: if the server refuses any "
            "recipient, nothing is sent and the task fails naming it. Bcc recipients are in the "
            "envelope only. Needs the `connectors` extra."
        ),
        input_schema=_object(
            {
                "smtp_url": {
                    "type": "string",
                    "pattern": "^[Ss][Mm][Tt][Pp][Ss]?://",
                    "description": (
                        "smtp://user:password@host:587 (STARTTLS unless told otherwise) or "
                        "smtps://user:password@host:465 (SSL); usually a credential: `${SMTP_URL}`, so "
                        "the URL may also say `?security=none` (or starttls, ssl). Percent-encode special "
                        "characters in the user and password. Or give `host`."
                    ),
                },
                "host": {**_TEXT, "description": "The SMTP server's host name, instead of smtp_url."},
                "port": {
                    "anyOf": [
                        {"type": "integer", "minimum": 1, "maximum": 65535},
                        {"type": "string", "pattern": "^[0-9]+$"},
                    ],
                    "description": "The server's port; default from smtp_url, else 587 (starttls), 465 (ssl) or 25 (none).",
                },
                "username": {**_TEXT, "description": "Log in as this user (overrides the one in smtp_url)."},
                "password": {**_TEXT, "description": "The password, from a credential: `${SMTP_PASSWORD}`."},
                "security": {
                    "type": "string",
                    "enum": list(SECURITY_MODES),
                    "description": (
                        "starttls (default; upgrade a plain connection, refuse servers that cannot), "
                        "ssl (TLS from the first byte; implied by smtps://) or none (plain text: "
                        "only on a network you trust)."
                    ),
                },
                "verify_tls": {
                    "type": "boolean",
                    "default": True,
                    "description": "Check the server's certificate. Turn off only for a server you trust.",
                },
                "ca_cert": {
                    **_TEXT,
                    "description": "PEM certificate(s) of the CA that signed the server's certificate, for a private CA; the system CAs are then not used.",
                },
                "from": {**_TEXT, "description": "The sender: `alerts@example.com` or `Alerts <alerts@example.com>`."},
                "to": _recipients_schema("Recipient(s): an address, a comma-separated list, or a list."),
                "cc": _recipients_schema("Copy recipient(s), shown in the message."),
                "bcc": _recipients_schema("Blind-copy recipient(s): in the envelope, not in the message."),
                "reply_to": {**_TEXT, "description": "Where replies go, when not to the sender."},
                "subject": {"type": "string", "description": "The subject line."},
                "text": {"type": "string", "description": "The plain-text body."},
                "html": {"type": "string", "description": "The HTML body; with `text`, the two are alternatives."},
                "attachments": {
                    "type": "array",
                    "items": _TEXT,
                    "description": "Files to attach: paths in the execution's working directory.",
                },
                "timeout": {
                    **DURATION_SCHEMA,
                    "default": DEFAULT_TIMEOUT,
                    "description": "How long the whole SMTP session may take: 500ms, 30s, 10m, PT30S or seconds.",
                },
            },
            ["from", "subject"],
        ),
        output_schema=_object(
            {
                "accepted": {
                    "type": "array",
                    "items": {"type": "string"},
                    "description": "The recipients' addresses (to, cc and bcc) the server accepted: all of them.",
                },
                "message_id": {"type": "string", "description": "The Message-ID header of the message sent."},
            },
            ["accepted", "message_id"],
        ),
        examples=(
            "- name: mail_report\n"
            "  type: notify.email\n"
            "  properties:\n"
            "    smtp_url: ${SMTP_URL}\n"
            "    from: Reports <reports@example.com>\n"
            "    to: [ops@example.com]\n"
            "    subject: Nightly import\n"
            "    text: 1,204 rows imported.\n"
            "    html: <p><b>1,204</b> rows imported.</p>\n",
        ),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        try:
            import aiosmtplib  # noqa: F401 - only to tell a missing extra apart from other failures
        except ImportError:
            raise TaskFailed(CONNECTORS_EXTRA) from None
        host = properties.get("host")
        server = server_from(
            smtp_url=_optional_text(properties, "smtp_url"),
            host=None if host is None else as_text(host),
            port=_port(properties.get("port")),
            security=_optional_text(properties, "security"),
            username=_optional_text(properties, "username"),
            password=_optional_text(properties, "password"),
        )
        seconds, shown_timeout = parse_timeout(properties.get("timeout", DEFAULT_TIMEOUT))
        senders = _mailboxes(properties, "from")
        if len(senders) != 1:
            raise TaskFailed("from must be exactly one address")
        to, cc, bcc = (_mailboxes(properties, name) for name in ("to", "cc", "bcc"))
        recipients = list(dict.fromkeys(address for _, address in to + cc + bcc))
        if not recipients:
            raise TaskFailed("give at least one recipient in to, cc or bcc")
        message = await asyncio.to_thread(  # attachments are read from disk
            build_message,
            sender=senders[0],
            to=to,
            cc=cc,
            reply_to=_mailboxes(properties, "reply_to"),
            subject=as_text(properties.get("subject", "")),
            text=_optional_text(properties, "text"),
            html=_optional_text(properties, "html"),
            attachments=_attachments(ctx, properties.get("attachments")),
        )
        tls = await tls_context(_optional_text(properties, "ca_cert"), _flag(properties, "verify_tls", True))
        await deliver(
            server,
            tls=tls,
            timeout=seconds,
            shown_timeout=shown_timeout,
            sender=senders[0][1],
            recipients=recipients,
            message=message,
            log=ctx.log,
        )
        return {"accepted": recipients, "message_id": str(message["Message-ID"])}


PLUGINS: Final[list[type[Plugin]]] = [Slack, Discord, Teams, Telegram, Email, Webhook]
"""notify.*: chat providers, email and plain webhooks."""
