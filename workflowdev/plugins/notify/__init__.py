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

from typing import Final

from workflowdev.engine.plugin import Plugin
from workflowdev.plugins.notify._common import DISCORD_CONTENT_LIMIT
from workflowdev.plugins.notify._common import TELEGRAM_API_URL
from workflowdev.plugins.notify._common import TELEGRAM_TEXT_LIMIT
from workflowdev.plugins.notify.discord import Discord
from workflowdev.plugins.notify.discord import split_message
from workflowdev.plugins.notify.email import Email
from workflowdev.plugins.notify.slack import Slack
from workflowdev.plugins.notify.teams import Teams
from workflowdev.plugins.notify.teams import teams_card
from workflowdev.plugins.notify.teams import teams_message
from workflowdev.plugins.notify.telegram import Telegram
from workflowdev.plugins.notify.webhook import Webhook

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

PLUGINS: Final[list[type[Plugin]]] = [Slack, Discord, Teams, Telegram, Email, Webhook]
