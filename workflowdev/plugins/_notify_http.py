"""How notify.* tasks talk HTTP: one guarded session per execution, bounded exchanges, and
failure messages that never show a secret.

A notification URL is itself a secret: whoever holds a Slack or Discord webhook URL, a Teams
Workflows URL (its `sig` query) or a Telegram bot URL (the token in its path) can post as you.
So every message built here names the endpoint by its origin only — scheme, host and port —
never by its path, query or user info; the engine's masking of credential values is a second
line of defence, not the first.

Connections go through the same address guard as http.* (`_netguard`): a flow that can point a
webhook anywhere must not reach link-local or cloud-metadata addresses, and the operator's
`http_deny` ranges hold for notifications too. Redirects are not followed: a webhook that
answers 3xx did not take the message, and following it would resend the payload elsewhere.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

import aiohttp
from yarl import URL

from workflowdev.engine.plugin import JSON
from workflowdev.engine.plugin import TaskContext
from workflowdev.engine.plugin import TaskFailed
from workflowdev.engine.plugin import parse_timeout
from workflowdev.plugins._netguard import BlockedAddress
from workflowdev.plugins._netguard import absolute_http_url
from workflowdev.plugins._netguard import guarded_session
from workflowdev.plugins._toolkit import duration_schema

__all__ = [
    "DEFAULT_TIMEOUT",
    "SESSION_KEY",
    "TIMEOUT_SCHEMA",
    "Endpoint",
    "Reply",
    "endpoint",
    "send",
]

SESSION_KEY: Final = "notify.session"
"""The execution resource holding the notify tasks' shared ClientSession."""
DEFAULT_TIMEOUT: Final = "30s"
TIMEOUT_SCHEMA: Final = duration_schema(
    DEFAULT_TIMEOUT, "How long the whole exchange may take, from connecting to the last byte of the answer:"
)
SNIPPET_CHARS: Final = 200
"""How much of a refusal's body a failure message quotes."""
_READ_CHUNK: Final = 64 * 1024


@dataclass(frozen=True)
class Endpoint:
    """Where to send, and how to name it in messages without giving the secret away."""

    url: URL
    label: str
    """E.g. "the Slack webhook at https://hooks.slack.com": origin only."""


def endpoint(value: JSON, what: str, service: str) -> Endpoint:
    """An absolute http(s) URL from property `what`, labelled `service` for messages."""
    url = absolute_http_url(value)
    if url is None:
        # The value is likely a credential: say what is wrong with it, not what it is.
        raise TaskFailed(f"{what} must be an absolute http:// or https:// URL")
    return Endpoint(url, f"{service} at {url.origin()}")


@dataclass(frozen=True)
class Reply:
    """A response read whole, within the server's http_max_response_bytes."""

    status: int
    reason: str
    content_type: str
    raw: bytes

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def text(self) -> str:
        return self.raw.decode("utf-8", errors="replace")

    def json(self) -> JSON:
        """The decoded body when it parses as JSON, whatever its label; else None."""
        try:
            return json.loads(self.raw) if self.raw else None
        except ValueError:
            return None

    def snippet(self) -> str:
        text = " ".join(self.text()[: SNIPPET_CHARS * 4].split())
        return text if len(text) <= SNIPPET_CHARS else text[:SNIPPET_CHARS] + "…"

    def refusal(self, target: Endpoint, detail: str | None = None) -> TaskFailed:
        """The failure for a non-2xx answer: status, reason and the start of the body."""
        message = f"{target.label} answered HTTP {self.status} {self.reason}".rstrip()
        shown = self.snippet() if detail is None else detail
        return TaskFailed(f"{message}: {shown}" if shown else message)


def _os_reason(error: OSError) -> str:
    if error.errno is not None and error.errno > 0:
        return os.strerror(error.errno)
    return error.strerror or type(error).__name__


def _client_failure(exc: aiohttp.ClientError, target: Endpoint) -> TaskFailed:
    """What went wrong on the way, in words that name no path, query or token."""
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return TaskFailed(f"the TLS certificate of {target.label} could not be verified ({exc.certificate_error})")
    if isinstance(exc, aiohttp.ClientConnectorError):
        if isinstance(exc.os_error, BlockedAddress):
            return TaskFailed(f"refused to connect to {target.label} ({exc.os_error.address}): {exc.os_error.reason}")
        if isinstance(exc, aiohttp.ClientConnectorDNSError):
            return TaskFailed(f"could not resolve the host of {target.label}: {_os_reason(exc.os_error)}")
        return TaskFailed(f"could not connect to {target.label}: {_os_reason(exc.os_error)}")
    if isinstance(exc, (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError, aiohttp.ClientOSError)):
        return TaskFailed(f"the connection to {target.label} broke before the answer was complete")
    return TaskFailed(f"sending to {target.label} failed ({type(exc).__name__})")


async def _read_capped(response: aiohttp.ClientResponse, limit: int, target: Endpoint) -> bytes:
    too_large = TaskFailed(
        f"the answer of {target.label} is larger than {limit} bytes, the limit set by http_max_response_bytes"
    )
    if response.content_length is not None and response.content_length > limit:
        raise too_large
    buffer = bytearray()
    async for chunk in response.content.iter_chunked(_READ_CHUNK):
        buffer += chunk
        if len(buffer) > limit:
            raise too_large
    return bytes(buffer)


async def send(
    ctx: TaskContext,
    target: Endpoint,
    *,
    method: str = "POST",
    payload: JSON = None,
    has_payload: bool = True,
    headers: Mapping[str, str] | None = None,
    timeout: JSON = DEFAULT_TIMEOUT,
    verify_tls: bool = True,
) -> Reply:
    """Send `payload` as JSON (when `has_payload`) and read the answer, all within `timeout`.

    The caller decides what a non-2xx answer means; transport failures and timeouts fail the
    task here.
    """
    deadline = parse_timeout(timeout)
    request_headers = {"Content-Type": "application/json"} if has_payload else {}
    request_headers.update(headers or {})
    data = json.dumps(payload, ensure_ascii=False).encode() if has_payload else None
    session = await guarded_session(ctx, SESSION_KEY, filter_dns=False)
    limit = ctx.settings.http_max_response_bytes
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        async with asyncio.timeout(deadline.seconds):
            async with session.request(
                method, target.url, data=data, headers=request_headers, ssl=verify_tls, allow_redirects=False
            ) as response:
                raw = await _read_capped(response, limit, target)
                reply = Reply(response.status, response.reason or "", response.content_type, raw)
    except TimeoutError:
        raise TaskFailed(f"{target.label} did not answer within {deadline.text}") from None
    except aiohttp.ClientError as exc:
        raise _client_failure(exc, target) from None
    elapsed = round((loop.time() - started) * 1000)
    ctx.log.info(f"{target.label} answered HTTP {reply.status} ({len(raw)} bytes, {elapsed} ms)")
    return reply
