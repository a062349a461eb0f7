"""notify.teams: an Adaptive Card to a Microsoft Teams workflow webhook."""

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
from workflowdev.plugins._toolkit import object_schema
from workflowdev.plugins._toolkit import read_optional_text
from workflowdev.plugins._toolkit import read_text_map
from workflowdev.plugins._toolkit import task_example
from workflowdev.plugins.notify._common import ADAPTIVE_CARD
from workflowdev.plugins.notify._common import ADAPTIVE_CARD_SCHEMA
from workflowdev.plugins.notify._common import STATUS_OUT
from workflowdev.plugins.notify._common import TEAMS_CARD_VERSION
from workflowdev.plugins.notify._common import TEXT
from workflowdev.plugins.notify._common import provider_reason
from workflowdev.plugins.notify._common import url_schema
from workflowdev.plugins.notify._common import webhook_url_schema

# -- notify.teams ---------------------------------------------------------------------------------


def teams_card(
    title: str | None, text: str | None, facts: Mapping[str, str], links: list[tuple[str, str]]
) -> dict[str, JSON]:
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
        input_schema=object_schema(
            {
                "webhook_url": webhook_url_schema(
                    "Teams Workflows",
                    "https://prod-00.westeurope.logic.azure.com/workflows/…?…&sig=…",
                    "TEAMS_WEBHOOK_URL",
                ),
                "title": {**TEXT, "description": "A bold heading."},
                "text": {**TEXT, "description": "The message; Adaptive Card TextBlocks take a subset of Markdown."},
                "facts": {
                    "type": "object",
                    "additionalProperties": {"type": ["string", "number", "boolean"]},
                    "description": "Name-value pairs shown as a fact set, in the order given.",
                },
                "links": {
                    "type": "array",
                    "items": object_schema(
                        {
                            "title": {**TEXT, "description": "The button's label."},
                            "url": url_schema("Where the button leads."),
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
                "timeout": TIMEOUT_SCHEMA,
            },
            ["webhook_url"],
        ),
        output_schema=object_schema({"status_code": STATUS_OUT}, ["status_code"]),
        examples=(
            task_example(
                "tell_the_team",
                "notify.teams",
                """
                webhook_url: ${TEAMS_WEBHOOK_URL}
                title: Backup finished
                text: All 12 databases were copied.
                facts: {Duration: 14 min, Size: 38 GB}
                links:
                  - {title: Open the report, url: "https://reports.example.com/backup"}
                """,
            ),
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
            title, text = read_optional_text(properties, "title"), read_optional_text(properties, "text")
            if not title and not text:
                raise TaskFailed("give a title, a text or a card: Teams needs something to show")
            facts = read_text_map(properties.get("facts"), "facts")
            card = teams_card(title, text, facts, _links(properties.get("links")))
        reply = await send(ctx, target, payload=teams_message(card), timeout=properties.get("timeout", DEFAULT_TIMEOUT))
        if not reply.ok:
            raise reply.refusal(target, provider_reason(reply))
        return {"status_code": reply.status}
