"""What the notify task types share: webhook URL and recipient schemas, and reading the
providers' answers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from workflowdev.engine.plugin import JSON
from workflowdev.engine.plugin import TaskFailed
from workflowdev.engine.plugin import as_text
from workflowdev.plugins._notify_http import Reply

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


def url_schema(description: str) -> dict[str, JSON]:
    return {"type": "string", "pattern": "^[Hh][Tt][Tt][Pp][Ss]?://", "description": description}


def webhook_url_schema(provider: str, example: str, credential: str) -> dict[str, JSON]:
    return url_schema(
        f"The {provider} webhook URL ({example}). It is a secret, so it usually comes from a "
        f"credential: `${{{credential}}}`. Any http(s) URL works, e.g. a proxy."
    )


TEXT: Final[dict[str, JSON]] = {"type": "string", "minLength": 1}
STATUS_OUT: Final[dict[str, JSON]] = {
    "type": "integer",
    "description": "The HTTP status the provider answered with (2xx; anything else fails the task).",
}


def recipients_schema(description: str) -> dict[str, JSON]:
    return {
        "anyOf": [TEXT, {"type": "array", "items": TEXT, "minItems": 1}],
        "description": description,
    }


# -- reading properties ---------------------------------------------------------------------------


def read_objects(properties: Mapping[str, JSON], name: str, limit: int | None = None) -> list[JSON] | None:
    value = properties.get(name)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(item, Mapping) for item in value):
        raise TaskFailed(f"{name} must be a list of objects, got {as_text(value)}")
    if limit is not None and len(value) > limit:
        raise TaskFailed(f"{name} has {len(value)} items; at most {limit} are allowed")
    return list(value)


def provider_reason(reply: Reply) -> str | None:
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


def put_if_given(payload: dict[str, JSON], key: str, value: JSON) -> None:
    """Leave a key out rather than send null, so that the provider applies its own default."""
    if value is not None:
        payload[key] = value
