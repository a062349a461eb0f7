"""notify.*: each provider's payload checked by a local server that answers like the provider,
and email through a real aiosmtpd SMTP server (plain, STARTTLS and implicit TLS).

The fake providers accept exactly their documented format and refuse anything else the way the
real ones do (Slack's `invalid_payload`, Discord's `Invalid Form Body`, Telegram's
`{"ok": false, "description": …}`), and they record what arrived, so a test compares the JSON
received with the provider's format as a whole.
"""

from __future__ import annotations

import asyncio
import datetime
import email
import email.policy
import ipaddress
import json
import re
import socket
import ssl
import sys
from collections.abc import AsyncIterator
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from dataclasses import replace
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import AuthResult
from aiosmtpd.smtp import Envelope
from aiosmtpd.smtp import LoginPassword
from aiosmtpd.smtp import Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from jsonschema import Draft202012Validator

from tests.conftest import Api
from tests.engine.flows_helpers import outputs
from tests.engine.flows_helpers import run
from tests.engine.flows_helpers import tasks_by_name
from workflowdev.engine.plugin import JSON
from workflowdev.engine.plugin import Plugin
from workflowdev.engine.plugin import TaskContext
from workflowdev.engine.plugin import TaskFailed
from workflowdev.engine.run.context import Resources
from workflowdev.plugins._notify_http import SESSION_KEY
from workflowdev.plugins.notify import DISCORD_CONTENT_LIMIT
from workflowdev.plugins.notify import TELEGRAM_API_URL
from workflowdev.plugins.notify import Discord
from workflowdev.plugins.notify import Email
from workflowdev.plugins.notify import Slack
from workflowdev.plugins.notify import Teams
from workflowdev.plugins.notify import Telegram
from workflowdev.plugins.notify import Webhook
from workflowdev.plugins.notify import split_message

from .test_util import FakeContext

TOKEN = "123456789:AAFz-secret_bot_token_value"
CHAT_NOT_FOUND = 404404
HOOK_SECRET = "hook-secret-9f2c"


# -- the fake providers ---------------------------------------------------------------------------


@dataclass
class Received:
    method: str
    path: str
    query: dict[str, str]
    headers: Mapping[str, str]
    raw: bytes

    @property
    def json(self) -> JSON:
        return json.loads(self.raw)


RECEIVED = web.AppKey("received", list)
RELEASE = web.AppKey("release", asyncio.Event)
RATE_LIMITED = web.AppKey("rate_limited", list)


async def record(request: web.Request) -> Received:
    received = Received(request.method, request.path, dict(request.query), dict(request.headers), await request.read())
    request.app[RECEIVED].append(received)
    return received


def is_json_request(received: Received) -> bool:
    return received.headers.get("Content-Type") == "application/json"


async def slack(request: web.Request) -> web.Response:
    """Slack incoming webhooks: 200 `ok`, or 400 `invalid_payload` / `no_text` as plain text."""
    received = await record(request)
    if not is_json_request(received):
        return web.Response(status=400, text="invalid_payload")
    payload = received.json
    if not isinstance(payload, dict) or set(payload) - {"text", "blocks", "attachments", "username", "icon_emoji", "icon_url"}:
        return web.Response(status=400, text="invalid_payload")
    if "text" not in payload and "blocks" not in payload:
        return web.Response(status=400, text="no_text")
    return web.Response(text="ok")


async def slack_gone(request: web.Request) -> web.Response:
    await record(request)
    return web.Response(status=404, text="no_service")


async def discord(request: web.Request) -> web.Response:
    """Discord webhooks: with ?wait=true, 200 and the message object; 429 once when asked."""
    received = await record(request)
    if request.app[RATE_LIMITED]:
        request.app[RATE_LIMITED].pop()
        return web.json_response({"message": "You are being rate limited.", "retry_after": 0.05, "global": False}, status=429)
    payload = received.json if is_json_request(received) else None
    allowed = {"content", "username", "avatar_url", "tts", "embeds", "allowed_mentions"}
    if (
        not isinstance(payload, dict)
        or set(payload) - allowed
        or len(payload.get("content", "")) > DISCORD_CONTENT_LIMIT
        or not (payload.get("content") or payload.get("embeds"))
    ):
        return web.json_response({"message": "Invalid Form Body", "code": 50035}, status=400)
    if received.query.get("wait") != "true":
        return web.Response(status=204)
    number = len(request.app[RECEIVED])
    return web.json_response({"id": f"11122233344455{number}", "content": payload.get("content", "")})


async def discord_unknown(request: web.Request) -> web.Response:
    await record(request)
    return web.json_response({"message": "Unknown Webhook", "code": 10015}, status=404)


async def teams(request: web.Request) -> web.Response:
    """A Workflows webhook: 202 for a message with an Adaptive Card attachment, else 400."""
    received = await record(request)
    payload = received.json if is_json_request(received) else None
    try:
        assert payload["type"] == "message"
        (attachment,) = payload["attachments"]
        assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
        assert attachment["content"]["type"] == "AdaptiveCard"
    except (AssertionError, KeyError, TypeError, ValueError):
        return web.json_response({"error": {"code": "InvalidRequestContent", "message": "The input body is not valid."}}, status=400)
    return web.Response(status=202)


async def telegram(request: web.Request) -> web.Response:
    """The Bot API's sendMessage: {"ok": true, "result": message} or {"ok": false, "description"}."""
    received = await record(request)
    if request.match_info["token"] != TOKEN:
        return web.json_response({"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401)
    payload = received.json if is_json_request(received) else None
    if not isinstance(payload, dict) or "chat_id" not in payload or "text" not in payload:
        return web.json_response({"ok": False, "error_code": 400, "description": "Bad Request: message text is empty"}, status=400)
    if payload["chat_id"] == CHAT_NOT_FOUND:
        return web.json_response({"ok": False, "error_code": 400, "description": "Bad Request: chat not found"}, status=400)
    message = {"message_id": 77, "chat": {"id": payload["chat_id"]}, "text": payload["text"]}
    return web.json_response({"ok": True, "result": message})


async def hook(request: web.Request) -> web.Response:
    received = await record(request)
    return web.json_response({"method": received.method, "got": json.loads(received.raw) if received.raw else None})


async def hook_text(request: web.Request) -> web.Response:
    await record(request)
    return web.Response(text="accepted, thanks")


async def status(request: web.Request) -> web.Response:
    await record(request)
    code = int(request.match_info["code"])
    return web.Response(status=code, text=f"status {code}: the queue is down\n  try later")


async def slow(request: web.Request) -> web.Response:
    await record(request)
    await asyncio.wait_for(request.app[RELEASE].wait(), 10)
    return web.Response(text="late")


async def redirect(request: web.Request) -> web.Response:
    await record(request)
    raise web.HTTPFound("/hook/elsewhere")


def make_app() -> web.Application:
    app = web.Application()
    app[RECEIVED] = []
    app[RELEASE] = asyncio.Event()
    app[RATE_LIMITED] = []
    app.router.add_post("/services/T0001/B0001/{secret}", slack)
    app.router.add_post("/services/gone", slack_gone)
    app.router.add_post("/api/webhooks/{id}/{token}", discord)
    app.router.add_post("/api/webhooks/unknown", discord_unknown)
    app.router.add_post("/workflows/{flow}/triggers/manual/paths/invoke", teams)
    app.router.add_post("/bot{token}/sendMessage", telegram)
    app.router.add_route("*", "/hook/{name}", hook)
    app.router.add_post("/text", hook_text)
    app.router.add_route("*", "/status/{code}", status)
    app.router.add_post("/slow", slow)
    app.router.add_post("/redirect", redirect)
    return app


@pytest.fixture
async def server() -> AsyncIterator[TestServer]:
    app = make_app()
    test_server = TestServer(app, host="127.0.0.1")
    await test_server.start_server()
    yield test_server
    app[RELEASE].set()
    await test_server.close()


def url(server: TestServer, path: str) -> str:
    return str(server.make_url(path))


def origin(server: TestServer) -> str:
    return f"http://127.0.0.1:{server.port}"


def received(server: TestServer) -> list[Received]:
    return server.app[RECEIVED]


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- the context ----------------------------------------------------------------------------------


@dataclass
class NotifyContext(FakeContext):
    """A task context with the engine's own per-execution Resources and a private workdir."""

    resources: Resources = field(default_factory=Resources)


@pytest.fixture
async def ctx(tmp_path: Path) -> AsyncIterator[NotifyContext]:
    workdir = tmp_path / "work"
    workdir.mkdir()
    context = NotifyContext(workdir=workdir)
    assert isinstance(context, TaskContext)
    yield context
    await context.resources.close()


async def run_task(plugin: type[Plugin], ctx: NotifyContext, **properties: JSON) -> Mapping[str, JSON]:
    """Run a task and check its outputs against its manifest's output schema."""
    out = await plugin().run(ctx, properties)
    errors = [e.message for e in Draft202012Validator(plugin.manifest.output_schema).iter_errors(out)]
    assert errors == [], errors
    return out


async def fails(plugin: type[Plugin], ctx: NotifyContext, **properties: JSON) -> str:
    with pytest.raises(TaskFailed) as failure:
        await plugin().run(ctx, properties)
    return str(failure.value)


def logged(ctx: NotifyContext) -> str:
    return "\n".join(line for _, line in ctx.log.lines)


# -- notify.slack ---------------------------------------------------------------------------------


async def test_slack_posts_an_incoming_webhook_message(server: TestServer, ctx: NotifyContext) -> None:
    out = await run_task(
        Slack,
        ctx,
        webhook_url=url(server, f"/services/T0001/B0001/{HOOK_SECRET}"),
        text="Nightly import finished: *1,204* rows",
        username="importer",
        icon_emoji=":package:",
    )

    assert out == {"status_code": 200}
    (got,) = received(server)
    assert is_json_request(got)
    assert got.json == {"text": "Nightly import finished: *1,204* rows", "username": "importer", "icon_emoji": ":package:"}


async def test_slack_sends_blocks_and_attachments_as_they_are(server: TestServer, ctx: NotifyContext) -> None:
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*Deploy finished*"}}, {"type": "divider"}]
    attachments = [{"color": "#36a64f", "text": "all green"}]

    await run_task(Slack, ctx, webhook_url=url(server, "/services/T0001/B0001/x"), blocks=blocks, attachments=attachments)

    assert received(server)[0].json == {"blocks": blocks, "attachments": attachments}


async def test_slack_needs_text_or_blocks(server: TestServer, ctx: NotifyContext) -> None:
    message = await fails(Slack, ctx, webhook_url=url(server, "/services/T0001/B0001/x"), username="x")

    assert message == "give text, blocks or both: Slack needs something to post"
    assert received(server) == []


async def test_slack_refusal_fails_with_slacks_reason_and_no_secret(server: TestServer, ctx: NotifyContext) -> None:
    message = await fails(Slack, ctx, webhook_url=url(server, "/services/gone"), text="hi")

    assert message == f"the Slack webhook at {origin(server)} answered HTTP 404 Not Found: no_service"


async def test_a_server_error_fails_the_task_with_status_and_snippet(server: TestServer, ctx: NotifyContext) -> None:
    message = await fails(Slack, ctx, webhook_url=url(server, f"/status/500?token={HOOK_SECRET}"), text="hi")

    assert message == (
        f"the Slack webhook at {origin(server)} answered HTTP 500 Internal Server Error: "
        "status 500: the queue is down try later"
    )
    assert HOOK_SECRET not in message and HOOK_SECRET not in logged(ctx)


# -- notify.discord -------------------------------------------------------------------------------


async def test_discord_posts_webhook_json_and_returns_the_message_id(server: TestServer, ctx: NotifyContext) -> None:
    embeds = [{"title": "Build 1234", "description": "3 tests failed", "color": 15158332}]

    out = await run_task(
        Discord,
        ctx,
        webhook_url=url(server, f"/api/webhooks/42/{HOOK_SECRET}?thread_id=9"),
        content="The main branch build failed.",
        username="CI",
        embeds=embeds,
    )

    assert out == {"status_code": 200, "message_ids": ["111222333444551"]}
    (got,) = received(server)
    assert got.query == {"thread_id": "9", "wait": "true"}
    assert got.json == {
        "content": "The main branch build failed.",
        "username": "CI",
        "embeds": embeds,
        "tts": False,
        "allowed_mentions": {"parse": []},
    }


async def test_discord_content_over_the_limit_fails_clearly(server: TestServer, ctx: NotifyContext) -> None:
    message = await fails(Discord, ctx, webhook_url=url(server, "/api/webhooks/42/t"), content="x" * 2500)

    assert message == (
        "content is 2500 characters; Discord takes at most 2000 per message. "
        "Shorten it, or set split: true to send it as several messages"
    )
    assert received(server) == []


async def test_discord_split_sends_several_messages_cut_at_lines(server: TestServer, ctx: NotifyContext) -> None:
    lines = [f"line {n:04d} " + "." * 40 for n in range(100)]  # 5,000 characters
    content = "\n".join(lines)
    embeds = [{"title": "summary"}]

    out = await run_task(
        Discord, ctx, webhook_url=url(server, "/api/webhooks/42/t"), content=content, embeds=embeds, split=True
    )

    sent = [got.json for got in received(server)]
    assert len(sent) == 3 and len(out["message_ids"]) == 3
    assert all(len(piece["content"]) <= DISCORD_CONTENT_LIMIT for piece in sent)
    assert "\n".join(piece["content"] for piece in sent) == content
    assert [("embeds" in piece) for piece in sent] == [False, False, True]


async def test_discord_waits_out_a_short_rate_limit(server: TestServer, ctx: NotifyContext) -> None:
    server.app[RATE_LIMITED].append(True)

    out = await run_task(Discord, ctx, webhook_url=url(server, "/api/webhooks/42/t"), content="hello")

    assert len(received(server)) == 2 and out["status_code"] == 200
    assert ("warning", "Discord rate limit: waiting 0.05s before sending again") in ctx.log.lines


async def test_discord_refusal_quotes_discords_message(server: TestServer, ctx: NotifyContext) -> None:
    message = await fails(Discord, ctx, webhook_url=url(server, "/api/webhooks/unknown"), content="hi")

    assert message == f"the Discord webhook at {origin(server)} answered HTTP 404 Not Found: Unknown Webhook (code 10015)"


@pytest.mark.parametrize(
    ("text", "pieces"),
    [
        ("short", ["short"]),
        ("aaaa\nbbbb\ncc", ["aaaa", "bbbb", "cc"]),
        ("aaa bbb ccc", ["aaa", "bbb", "ccc"]),
        ("abcdefghij", ["abcde", "fghij"]),
        ("abcde\n", ["abcde"]),
    ],
)
def test_split_message_prefers_line_breaks_then_spaces(text: str, pieces: list[str]) -> None:
    assert split_message(text, 5) == pieces


# -- notify.teams ---------------------------------------------------------------------------------


TEAMS_PATH = f"/workflows/abc123/triggers/manual/paths/invoke?api-version=2016-06-01&sig={HOOK_SECRET}"


async def test_teams_posts_an_adaptive_card_in_a_message_envelope(server: TestServer, ctx: NotifyContext) -> None:
    out = await run_task(
        Teams,
        ctx,
        webhook_url=url(server, TEAMS_PATH),
        title="Backup finished",
        text="All 12 databases were copied.",
        facts={"Duration": "14 min", "Size": "38 GB", "Verified": True},
        links=[{"title": "Open the report", "url": "https://reports.example.com/backup"}],
    )

    assert out == {"status_code": 202}
    (got,) = received(server)
    assert got.query["sig"] == HOOK_SECRET
    assert got.json == {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": {
                    "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                    "type": "AdaptiveCard",
                    "version": "1.4",
                    "body": [
                        {"type": "TextBlock", "text": "Backup finished", "weight": "Bolder", "size": "Medium", "wrap": True},
                        {"type": "TextBlock", "text": "All 12 databases were copied.", "wrap": True},
                        {
                            "type": "FactSet",
                            "facts": [
                                {"title": "Duration", "value": "14 min"},
                                {"title": "Size", "value": "38 GB"},
                                {"title": "Verified", "value": "true"},
                            ],
                        },
                    ],
                    "actions": [
                        {"type": "Action.OpenUrl", "title": "Open the report", "url": "https://reports.example.com/backup"}
                    ],
                },
            }
        ],
    }


async def test_teams_sends_a_given_card_as_it_is(server: TestServer, ctx: NotifyContext) -> None:
    card = {"type": "AdaptiveCard", "version": "1.5", "body": [{"type": "TextBlock", "text": "custom"}]}

    await run_task(Teams, ctx, webhook_url=url(server, TEAMS_PATH), card=card)

    assert received(server)[0].json["attachments"][0]["content"] == card


async def test_teams_card_and_title_do_not_mix(server: TestServer, ctx: NotifyContext) -> None:
    message = await fails(Teams, ctx, webhook_url=url(server, TEAMS_PATH), card={"type": "AdaptiveCard"}, title="x")

    assert message == "give either card or title, not both"


async def test_teams_refusal_quotes_the_error_message(server: TestServer, ctx: NotifyContext) -> None:
    message = await fails(Teams, ctx, webhook_url=url(server, TEAMS_PATH), card={"type": "NotACard"})

    assert message == f"the Teams webhook at {origin(server)} answered HTTP 400 Bad Request: The input body is not valid."
    assert HOOK_SECRET not in message


# -- notify.telegram ------------------------------------------------------------------------------


async def test_telegram_calls_send_message_with_the_bot_api_json(server: TestServer, ctx: NotifyContext) -> None:
    out = await run_task(
        Telegram,
        ctx,
        api_url=origin(server),
        bot_token=TOKEN,
        chat_id=-1001234567890,
        text="<b>Disk almost full</b> on db-2",
        parse_mode="HTML",
        disable_notification=True,
        disable_link_preview=True,
        message_thread_id=5,
    )

    assert out == {"status_code": 200, "message_id": 77}
    (got,) = received(server)
    assert got.path == f"/bot{TOKEN}/sendMessage"
    assert got.json == {
        "chat_id": -1001234567890,
        "text": "<b>Disk almost full</b> on db-2",
        "parse_mode": "HTML",
        "disable_notification": True,
        "link_preview_options": {"is_disabled": True},
        "message_thread_id": 5,
    }
    assert TOKEN not in logged(ctx)


async def test_telegram_plain_text_sends_only_chat_and_text(server: TestServer, ctx: NotifyContext) -> None:
    await run_task(Telegram, ctx, api_url=origin(server) + "/", bot_token=TOKEN, chat_id="@alerts", text="hi")

    assert received(server)[0].json == {"chat_id": "@alerts", "text": "hi"}


async def test_telegram_refusal_gives_the_description_and_never_the_token(server: TestServer, ctx: NotifyContext) -> None:
    message = await fails(Telegram, ctx, api_url=origin(server), bot_token=TOKEN, chat_id=CHAT_NOT_FOUND, text="hi")

    assert message == f"the Telegram Bot API at {origin(server)} answered HTTP 400 Bad Request: Bad Request: chat not found"
    assert TOKEN not in logged(ctx)


async def test_telegram_unreachable_api_never_shows_the_token(ctx: NotifyContext, closed_port: int) -> None:
    message = await fails(Telegram, ctx, api_url=f"http://127.0.0.1:{closed_port}", bot_token=TOKEN, chat_id=1, text="hi")

    assert message == f"could not connect to the Telegram Bot API at http://127.0.0.1:{closed_port}: Connection refused"
    assert TOKEN.split(":")[1] not in message


@pytest.mark.parametrize("token", ["not-a-token", "123:abc/../../evil", "123:abc?x=1", ":abc"])
async def test_telegram_refuses_a_malformed_token_without_echoing_it(
    server: TestServer, ctx: NotifyContext, token: str
) -> None:
    message = await fails(Telegram, ctx, api_url=origin(server), bot_token=token, chat_id=1, text="hi")

    assert message.startswith("bot_token does not look like a Telegram bot token")
    assert token not in message
    assert received(server) == []


async def test_telegram_text_over_the_limit_fails(server: TestServer, ctx: NotifyContext) -> None:
    message = await fails(Telegram, ctx, api_url=origin(server), bot_token=TOKEN, chat_id=1, text="x" * 4097)

    assert message == "text is 4097 characters; Telegram takes at most 4096"


def test_telegram_defaults_to_the_public_bot_api() -> None:
    assert TELEGRAM_API_URL == "https://api.telegram.org"
    assert Telegram.manifest.input_schema["properties"]["api_url"]["default"] == TELEGRAM_API_URL


# -- notify.webhook -------------------------------------------------------------------------------


async def test_webhook_posts_json_with_headers_and_returns_the_decoded_answer(
    server: TestServer, ctx: NotifyContext
) -> None:
    body = {"summary": "Nightly import failed", "severity": "critical", "tags": ["etl", 3]}

    out = await run_task(Webhook, ctx, url=url(server, "/hook/incident"), body=body, headers={"X-Source": "workflowdev", "X-Try": 2})

    assert out == {"status_code": 200, "body": {"method": "POST", "got": body}}
    (got,) = received(server)
    assert got.headers["X-Source"] == "workflowdev" and got.headers["X-Try"] == "2"
    assert is_json_request(got)


async def test_webhook_other_methods_and_no_body(server: TestServer, ctx: NotifyContext) -> None:
    put = await run_task(Webhook, ctx, url=url(server, "/hook/x"), method="PUT", body=[1, 2])
    get = await run_task(Webhook, ctx, url=url(server, "/hook/x"), method="GET")

    assert put["body"] == {"method": "PUT", "got": [1, 2]}
    assert get["body"] == {"method": "GET", "got": None}
    assert "Content-Type" not in received(server)[1].headers


async def test_webhook_text_answer_is_text(server: TestServer, ctx: NotifyContext) -> None:
    out = await run_task(Webhook, ctx, url=url(server, "/text"), body={})

    assert out["body"] == "accepted, thanks"


async def test_webhook_status_fails_unless_told_otherwise(server: TestServer, ctx: NotifyContext) -> None:
    target = url(server, f"/status/503?key={HOOK_SECRET}")

    message = await fails(Webhook, ctx, url=target, body={})
    out = await run_task(Webhook, ctx, url=target, body={}, fail_on_status=False)

    assert message == f"the webhook at {origin(server)} answered HTTP 503 Service Unavailable: status 503: the queue is down try later"
    assert out == {"status_code": 503, "body": "status 503: the queue is down\n  try later"}


async def test_webhook_does_not_follow_redirects(server: TestServer, ctx: NotifyContext) -> None:
    message = await fails(Webhook, ctx, url=url(server, "/redirect"), body={"once": True})

    assert "answered HTTP 302 Found" in message
    assert [got.path for got in received(server)] == ["/redirect"]


# -- what all HTTP notifications share ------------------------------------------------------------


async def test_a_silent_provider_times_out(server: TestServer, ctx: NotifyContext) -> None:
    message = await fails(Slack, ctx, webhook_url=url(server, "/slow"), text="hi", timeout="200ms")

    assert message == f"the Slack webhook at {origin(server)} did not answer within 200ms"


async def test_a_refused_connection_is_reported(ctx: NotifyContext, closed_port: int) -> None:
    message = await fails(Webhook, ctx, url=f"http://127.0.0.1:{closed_port}/hook/{HOOK_SECRET}", body={})

    assert message == f"could not connect to the webhook at http://127.0.0.1:{closed_port}: Connection refused"


async def test_the_address_guard_applies(server: TestServer, ctx: NotifyContext) -> None:
    ctx.settings = replace(ctx.settings, http_deny=("127.0.0.0/8",))

    message = await fails(Discord, ctx, webhook_url=url(server, "/api/webhooks/42/t"), content="hi")

    assert message.startswith(f"refused to connect to the Discord webhook at {origin(server)} (127.0.0.1)")
    assert "http_deny" in message
    assert received(server) == []


async def test_a_metadata_address_is_refused(ctx: NotifyContext) -> None:
    message = await fails(Webhook, ctx, url="http://169.254.169.254/latest/meta-data/", body={}, timeout="5s")

    assert message.startswith("refused to connect to the webhook at http://169.254.169.254 (169.254.169.254)")


async def test_a_bad_url_is_refused_without_being_echoed(ctx: NotifyContext) -> None:
    message = await fails(Slack, ctx, webhook_url=f"hooks.slack.com/services/{HOOK_SECRET}", text="hi")

    assert message == "webhook_url must be an absolute http:// or https:// URL"


async def test_tasks_share_one_session_closed_with_the_execution(server: TestServer, ctx: NotifyContext) -> None:
    await run_task(Slack, ctx, webhook_url=url(server, "/services/T0001/B0001/x"), text="one")
    await run_task(Webhook, ctx, url=url(server, "/hook/x"), body={})

    def unexpected(*args: Any) -> Any:
        raise AssertionError("the execution should already have its session")

    session = await ctx.resources.get(SESSION_KEY, unexpected, unexpected)
    await ctx.resources.close()

    assert session.closed


# -- notify.email: the SMTP server ----------------------------------------------------------------

SMTP_USER = "mailer"
SMTP_PASSWORD = "p@ss/w:rd-smtp"


@dataclass
class Delivery:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    tls: bool
    login: str | None


@dataclass
class MailHandler:
    """Collects delivered messages; refuses recipients at refused.example."""

    deliveries: list[Delivery] = field(default_factory=list)

    async def handle_RCPT(self, server: SMTPServer, session: Session, envelope: Envelope, address: str, options: list[str]) -> str:
        if address.endswith("@refused.example"):
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:
        assert isinstance(envelope.content, bytes)
        # SMTP carries CRLF line ends; a mail client stores the message with local ones.
        message = email.message_from_bytes(envelope.content.replace(b"\r\n", b"\n"), policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        login = session.auth_data.login.decode() if isinstance(session.auth_data, LoginPassword) else None
        tls = session.ssl is not None or server.transport.get_extra_info("sslcontext") is not None
        self.deliveries.append(Delivery(str(envelope.mail_from), list(envelope.rcpt_tos), message, tls, login))
        return "250 2.0.0 OK: queued as 4F2A"


def authenticate(server: SMTPServer, session: Session, envelope: Envelope, mechanism: str, auth_data: Any) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and auth_data == (SMTP_USER.encode(), SMTP_PASSWORD.encode())
    return AuthResult(success=ok, handled=False, auth_data=auth_data)


@dataclass
class Certificates:
    ca_pem: str
    server: ssl.SSLContext


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    """A throwaway CA and a certificate for 127.0.0.1 signed by it."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "workflowdev test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    return Certificates(ca.public_bytes(serialization.Encoding.PEM).decode(), context)


@dataclass
class MailServer:
    port: int
    handler: MailHandler
    listener: asyncio.Server


async def start_mail_server(*, tls: ssl.SSLContext | None = None, implicit_tls: bool = False, auth: bool = False) -> MailServer:
    """An aiosmtpd server in this event loop: STARTTLS when `tls`, TLS from the start when
    `implicit_tls`, AUTH (PLAIN/LOGIN) required when `auth`."""
    loop = asyncio.get_running_loop()
    handler = MailHandler()

    def protocol() -> SMTPServer:
        return SMTPServer(
            handler,
            hostname="mail.test",
            tls_context=None if implicit_tls else tls,
            require_starttls=tls is not None and not implicit_tls,
            authenticator=authenticate if auth else None,
            auth_required=auth,
            enable_SMTPUTF8=True,
            loop=loop,
        )

    listener = await loop.create_server(protocol, "127.0.0.1", 0, ssl=tls if implicit_tls else None)
    return MailServer(listener.sockets[0].getsockname()[1], handler, listener)


@pytest.fixture
async def mail() -> AsyncIterator[MailServer]:
    server = await start_mail_server()
    yield server
    server.listener.close()


@pytest.fixture
async def secure_mail(certificates: Certificates) -> AsyncIterator[MailServer]:
    server = await start_mail_server(tls=certificates.server, auth=True)
    yield server
    server.listener.close()


def plain(mail: MailServer, **properties: JSON) -> dict[str, JSON]:
    return {"host": "127.0.0.1", "port": mail.port, "security": "none", "from": "Reports <reports@example.com>", **properties}


# -- notify.email ---------------------------------------------------------------------------------


async def test_email_sends_text_and_html_as_alternatives(mail: MailServer, ctx: NotifyContext) -> None:
    out = await run_task(
        Email,
        ctx,
        **plain(
            mail,
            to=["Ops <ops@example.com>", "dev@example.com"],
            cc="audit@example.com",
            bcc=["boss@example.com"],
            reply_to="noreply@example.com",
            subject="Nightly import: Zoë's report",
            text="1,204 rows imported.\nZoë",
            html="<p><b>1,204</b> rows imported. Zoë</p>",
        ),
    )

    (delivery,) = mail.handler.deliveries
    recipients = ["ops@example.com", "dev@example.com", "audit@example.com", "boss@example.com"]
    assert out == {"accepted": recipients, "message_id": delivery.message["Message-ID"]}
    assert delivery.mail_from == "reports@example.com" and delivery.rcpt_tos == recipients
    message = delivery.message
    assert message["Subject"] == "Nightly import: Zoë's report"
    assert message["From"] == "Reports <reports@example.com>"
    assert message["To"] == "Ops <ops@example.com>, dev@example.com"
    assert message["Cc"] == "audit@example.com" and message["Reply-To"] == "noreply@example.com"
    assert message["Bcc"] is None
    assert re.fullmatch(r"<.+@example\.com>", out["message_id"])
    assert message.get_content_type() == "multipart/alternative"
    text, html = message.iter_parts()
    assert (text.get_content_type(), text.get_content()) == ("text/plain", "1,204 rows imported.\nZoë\n")
    assert (html.get_content_type(), html.get_content()) == ("text/html", "<p><b>1,204</b> rows imported. Zoë</p>\n")
    assert "queued as 4F2A" in logged(ctx)


async def test_email_html_only_and_attachments(mail: MailServer, ctx: NotifyContext) -> None:
    (ctx.workdir / "report.csv").write_text("id,total\n1,9.50\n")

    await run_task(Email, ctx, **plain(mail, to="ops@example.com", subject="s", html="<p>hi</p>", attachments=["report.csv"]))

    message = mail.handler.deliveries[0].message
    assert message.get_content_type() == "multipart/mixed"
    body, attachment = message.iter_parts()
    assert body.get_content_type() == "text/html"
    assert attachment.get_filename() == "report.csv" and attachment.get_content_type() == "text/csv"
    assert attachment.get_content() in ("id,total\n1,9.50\n", b"id,total\n1,9.50\n")


async def test_email_refused_recipient_fails_naming_it_and_sends_nothing(mail: MailServer, ctx: NotifyContext) -> None:
    message = await fails(
        Email, ctx, **plain(mail, to=["ops@example.com", "ghost@refused.example"], subject="s", text="t")
    )

    assert message == (
        f"the SMTP server at 127.0.0.1:{mail.port} refused recipient ghost@refused.example "
        "(550 5.1.1 <ghost@refused.example>: Recipient address rejected: User unknown); nothing was sent"
    )
    assert mail.handler.deliveries == []


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"to": "not an address"}, "to: 'not an address' is not an email address"),
        ({"to": "a@example.com\r\nBcc: x@example.com"}, "to: an address must not contain line breaks"),
        ({"subject": "hi\r\nBcc: x@example.com"}, "the message headers are not valid"),
        ({"text": None}, "give text, html or both: the message needs a body"),
        ({"to": None}, "give at least one recipient in to, cc or bcc"),
        ({"host": None}, "give exactly one of smtp_url and host"),
        ({"smtp_url": "http://mail"}, "give exactly one of smtp_url and host"),
        ({"host": None, "smtp_url": "http://user:pw@mail"}, "smtp_url must look like smtp://user:password@host:587"),
        ({"host": None, "smtp_url": "smtp://mail?security=none&tls=1"}, "smtp_url: unknown parameter tls"),
        ({"host": None, "smtp_url": "smtp://mail?security=tls"}, "smtp_url's security parameter must be one of"),
        ({"host": None, "smtp_url": "smtps://mail?security=none"}, "smtp_url says security ssl but smtp_url's security"),
        ({"port": 70000}, "port must be a port number from 1 to 65535"),
    ],
)
async def test_email_bad_input_is_refused_before_sending(
    mail: MailServer, ctx: NotifyContext, changes: dict[str, JSON], expected: str
) -> None:
    properties = {k: v for k, v in {**plain(mail, to="a@example.com", subject="s", text="t"), **changes}.items() if v is not None}

    message = await fails(Email, ctx, **properties)

    assert message.startswith(expected)
    assert mail.handler.deliveries == []


async def test_email_security_can_travel_in_the_smtp_url(mail: MailServer, ctx: NotifyContext) -> None:
    """One credential can then hold the whole connection, e.g. for a relay on a trusted network."""
    out = await run_task(
        Email, ctx, smtp_url=f"smtp://127.0.0.1:{mail.port}?security=none", to="ops@example.com", subject="s", text="t",
        **{"from": "r@example.com"},
    )

    assert out["accepted"] == ["ops@example.com"] and mail.handler.deliveries[0].tls is False


async def test_email_starttls_with_a_private_ca_and_a_login(
    secure_mail: MailServer, certificates: Certificates, ctx: NotifyContext
) -> None:
    smtp_url = f"smtp://{SMTP_USER}:p%40ss%2Fw%3Ard-smtp@127.0.0.1:{secure_mail.port}"

    out = await run_task(
        Email, ctx, smtp_url=smtp_url, ca_cert=certificates.ca_pem, to="ops@example.com", subject="s", text="t", **{"from": "r@example.com"}
    )

    (delivery,) = secure_mail.handler.deliveries
    assert delivery.tls is True and delivery.login == SMTP_USER
    assert out["accepted"] == ["ops@example.com"]


async def test_email_starttls_verifies_the_certificate(secure_mail: MailServer, ctx: NotifyContext) -> None:
    message = await fails(
        Email, ctx, host="127.0.0.1", port=secure_mail.port, username=SMTP_USER, password=SMTP_PASSWORD,
        to="ops@example.com", subject="s", text="t", **{"from": "r@example.com"},
    )

    assert message.startswith(f"the SMTP server at 127.0.0.1:{secure_mail.port}: its TLS certificate could not be verified")
    assert "give its CA in ca_cert" in message
    assert secure_mail.handler.deliveries == []


async def test_email_starttls_can_skip_verification_explicitly(secure_mail: MailServer, ctx: NotifyContext) -> None:
    await run_task(
        Email, ctx, host="127.0.0.1", port=str(secure_mail.port), username=SMTP_USER, password=SMTP_PASSWORD,
        verify_tls=False, to="ops@example.com", subject="s", text="t", **{"from": "r@example.com"},
    )

    assert secure_mail.handler.deliveries[0].tls is True


async def test_email_wrong_password_names_the_refusal_not_the_password(
    secure_mail: MailServer, certificates: Certificates, ctx: NotifyContext
) -> None:
    message = await fails(
        Email, ctx, host="127.0.0.1", port=secure_mail.port, username=SMTP_USER, password="wrong-pass-1",
        ca_cert=certificates.ca_pem, to="ops@example.com", subject="s", text="t", **{"from": "r@example.com"},
    )

    assert message.startswith(f"the SMTP server at 127.0.0.1:{secure_mail.port} refused the login of {SMTP_USER}: 535")
    assert "wrong-pass-1" not in message


async def test_email_starttls_is_required_when_asked_for(mail: MailServer, ctx: NotifyContext) -> None:
    properties = {**plain(mail, to="ops@example.com", subject="s", text="t"), "security": "starttls"}

    message = await fails(Email, ctx, **properties)

    assert message.startswith(f"the SMTP server at 127.0.0.1:{mail.port}")
    assert "STARTTLS" in message
    assert mail.handler.deliveries == []


async def test_email_over_implicit_tls(certificates: Certificates, ctx: NotifyContext) -> None:
    server = await start_mail_server(tls=certificates.server, implicit_tls=True)
    try:
        await run_task(
            Email, ctx, smtp_url=f"smtps://127.0.0.1:{server.port}", ca_cert=certificates.ca_pem,
            to="ops@example.com", subject="s", text="t", **{"from": "r@example.com"},
        )
        mismatch = await fails(
            Email, ctx, smtp_url=f"smtps://127.0.0.1:{server.port}", security="starttls",
            to="ops@example.com", subject="s", text="t", **{"from": "r@example.com"},
        )
    finally:
        server.listener.close()

    assert server.handler.deliveries[0].tls is True
    assert mismatch == "smtp_url says security ssl but security says starttls"


async def test_email_ssl_against_a_plain_server_fails_clearly(mail: MailServer, ctx: NotifyContext) -> None:
    properties = {**plain(mail, to="ops@example.com", subject="s", text="t", timeout="5s"), "security": "ssl"}

    message = await fails(Email, ctx, **properties)

    assert message.startswith(f"the SMTP server at 127.0.0.1:{mail.port}")
    assert mail.handler.deliveries == []


async def test_email_a_silent_server_times_out_and_is_let_go(ctx: NotifyContext) -> None:
    let_go = asyncio.Event()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # until the client closes its end
        let_go.set()
        writer.close()

    listener = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    try:
        message = await fails(Email, ctx, host="127.0.0.1", port=port, security="none", timeout="300ms",
                              to="ops@example.com", subject="s", text="t", **{"from": "r@example.com"})
        await asyncio.wait_for(let_go.wait(), 5)
    finally:
        listener.close()

    assert message == f"the SMTP server at 127.0.0.1:{port} did not answer within 300ms"


async def test_email_cancelled_mid_session_lets_the_server_go(ctx: NotifyContext) -> None:
    accepted, let_go = asyncio.Event(), asyncio.Event()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.set()
        await reader.read()
        let_go.set()
        writer.close()

    listener = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    task = asyncio.create_task(Email().run(ctx, {"host": "127.0.0.1", "port": port, "security": "none",
                                                 "to": "ops@example.com", "subject": "s", "text": "t", "from": "r@example.com"}))
    try:
        await asyncio.wait_for(accepted.wait(), 5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.wait_for(let_go.wait(), 5)
    finally:
        listener.close()


async def test_email_a_refused_connection_is_reported(ctx: NotifyContext, closed_port: int) -> None:
    message = await fails(Email, ctx, host="127.0.0.1", port=closed_port, security="none",
                          to="ops@example.com", subject="s", text="t", **{"from": "r@example.com"})

    assert message.startswith(f"could not connect to the SMTP server at 127.0.0.1:{closed_port}")


async def test_email_without_the_connectors_extra(ctx: NotifyContext, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "aiosmtplib", None)

    message = await fails(Email, ctx, host="127.0.0.1", to="a@example.com", subject="s", text="t", **{"from": "r@example.com"})

    assert message == "this task needs the `connectors` extra: pip install 'workflowdev[connectors]'"


# -- through a real execution ---------------------------------------------------------------------


async def create_credentials(api: Api, values: Mapping[str, str]) -> None:
    for name, value in values.items():
        reply = await api.post("/api/v1/credentials", json={"name": name, "value": value})
        assert reply.status == 201, reply.body


async def test_a_flow_notifies_with_secrets_that_only_show_as_stars(
    api: Api, server: TestServer, secure_mail: MailServer, certificates: Certificates
) -> None:
    await create_credentials(
        api,
        {
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "SLACK_WEBHOOK_URL": url(server, f"/services/T0001/B0001/{HOOK_SECRET}"),
            "SMTP_URL": f"smtp://{SMTP_USER}:p%40ss%2Fw%3Ard-smtp@127.0.0.1:{secure_mail.port}",
            "SMTP_PASSWORD": SMTP_PASSWORD,
        },
    )
    ca = json.dumps(certificates.ca_pem)
    yaml = (
        "name: notify-flow\n"
        "tasks:\n"
        "  - name: telegram\n"
        "    type: notify.telegram\n"
        "    properties:\n"
        "      bot_token: ${TELEGRAM_BOT_TOKEN}\n"
        f"      api_url: {origin(server)}\n"
        "      chat_id: 42\n"
        "      text: 'token check: ${TELEGRAM_BOT_TOKEN}'\n"
        "  - name: slack\n"
        "    type: notify.slack\n"
        "    properties:\n"
        "      webhook_url: ${SLACK_WEBHOOK_URL}\n"
        "      text: 'sent {{ outputs.telegram.message_id }}'\n"
        "  - name: echo\n"
        "    type: notify.webhook\n"
        "    properties:\n"
        f"      url: {url(server, '/hook/echo')}\n"
        "      body: {token: '${TELEGRAM_BOT_TOKEN}', password: '${SMTP_PASSWORD}'}\n"
        "  - name: mail\n"
        "    type: notify.email\n"
        "    properties:\n"
        "      smtp_url: ${SMTP_URL}\n"
        f"      ca_cert: {ca}\n"
        "      from: reports@example.com\n"
        "      to: ops@example.com\n"
        "      subject: 'password is ${SMTP_PASSWORD}'\n"
        "      text: done\n"
        "  - name: bad_login\n"
        "    type: notify.email\n"
        "    properties:\n"
        f"      host: 127.0.0.1\n"
        f"      port: {secure_mail.port}\n"
        f"      username: {SMTP_USER}\n"
        "      password: ${SMTP_PASSWORD}-typo\n"
        f"      ca_cert: {ca}\n"
        "      from: reports@example.com\n"
        "      to: ops@example.com\n"
        "      subject: never\n"
        "      text: never\n"
    )

    body = await run(api, yaml)

    tasks = {name: runs[-1] for name, runs in tasks_by_name(body).items()}
    assert [tasks[n]["status"] for n in ("telegram", "slack", "echo", "mail")] == ["SUCCESS"] * 4, [t["error"] for t in tasks.values()]
    assert outputs(tasks["telegram"]) == {"status_code": 200, "message_id": 77}
    telegram_call, slack_call, _ = received(server)
    assert telegram_call.path == f"/bot{TOKEN}/sendMessage" and telegram_call.json["text"] == f"token check: {TOKEN}"
    assert slack_call.json == {"text": "sent 77"}
    assert secure_mail.handler.deliveries[0].message["Subject"] == f"password is {SMTP_PASSWORD}"
    assert tasks["bad_login"]["status"] == "FAILED"
    assert tasks["bad_login"]["error"].startswith(f"the SMTP server at 127.0.0.1:{secure_mail.port} refused the login")
    logs = await api.get(f"/api/v1/executions/{body['execution']['id']}/logs")
    shown = json.dumps(body) + json.dumps(logs.body)
    for secret in (TOKEN, SMTP_PASSWORD, HOOK_SECRET):
        assert secret not in shown
    assert outputs(tasks["echo"]) == {"status_code": 200, "body": {"method": "POST", "got": {"token": "***", "password": "***"}}}


def examples_flow(plugins: list[type[Plugin]]) -> str:
    """Every example of `plugins` as the tasks of one flow."""
    tasks = [
        "\n".join("  " + line for line in example.splitlines())
        for plugin in plugins
        for example in plugin.manifest.examples
    ]
    return "name: notify-examples\ntasks:\n" + "\n".join(tasks) + "\n"


async def test_the_manifest_examples_run_against_local_servers(api: Api, server: TestServer, mail: MailServer) -> None:
    """The credentials a catalogue run needs, pointed at this module's fake providers and SMTP server."""
    await create_credentials(
        api,
        {
            "SLACK_WEBHOOK_URL": url(server, f"/services/T0001/B0001/{HOOK_SECRET}"),
            "DISCORD_WEBHOOK_URL": url(server, f"/api/webhooks/42/{HOOK_SECRET}"),
            "TEAMS_WEBHOOK_URL": url(server, TEAMS_PATH),
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_API_URL": origin(server),
            "HOOK_URL": url(server, "/hook/incident"),
            "SMTP_URL": f"smtp://127.0.0.1:{mail.port}?security=none",
        },
    )
    plugins: list[type[Plugin]] = [Slack, Discord, Teams, Telegram, Email, Webhook]

    body = await run(api, examples_flow(plugins))

    assert body["execution"]["status"] == "SUCCESS", [(t["taskName"], t["error"]) for t in body["tasks"]]
    by_type = {plugin.manifest.id: plugin for plugin in plugins}
    for task in body["tasks"]:
        schema = by_type[task["taskType"]].manifest.output_schema
        assert list(Draft202012Validator(schema).iter_errors(outputs(task))) == [], task["taskName"]
    assert len(received(server)) == 6 and len(mail.handler.deliveries) == 1
