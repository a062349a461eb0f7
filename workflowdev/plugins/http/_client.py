"""What the http task types share: the guarded session, one exchange under one timeout, and
responses read within the memory cap.
"""

from __future__ import annotations

import asyncio
import base64
import codecs
import json
import os
from collections.abc import Awaitable
from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from typing import Final
from typing import TypeVar

import aiohttp
from multidict import CIMultiDictProxy
from yarl import URL

from workflowdev.engine.plugin import JSON
from workflowdev.engine.plugin import TaskContext
from workflowdev.engine.plugin import TaskFailed
from workflowdev.engine.plugin import TaskLogger
from workflowdev.engine.plugin import TaskTimeout
from workflowdev.engine.plugin import as_text
from workflowdev.engine.plugin import parse_timeout
from workflowdev.plugins._netguard import BlockedAddress
from workflowdev.plugins._netguard import absolute_http_url
from workflowdev.plugins._netguard import guarded_session
from workflowdev.plugins._toolkit import flag_schema
from workflowdev.plugins._toolkit import object_schema
from workflowdev.plugins._toolkit import read_flag

SESSION_KEY: Final = "http.session"
"""The execution resource holding the shared ClientSession."""

METHODS: Final = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
DEFAULT_TIMEOUT: Final = "30s"
DEFAULT_TRANSFER_TIMEOUT: Final = "5m"
"""Downloads and uploads move files, which takes longer than an API call."""
DEFAULT_CHECK_TIMEOUT: Final = "10s"
DEFAULT_MAX_REDIRECTS: Final = 10
MAX_REDIRECTS_LIMIT: Final = 50
DEFAULT_DOWNLOAD_MAX_BYTES: Final = 1024**3
"""One GiB: a download lands on disk, not in memory, but a runaway one must not fill the disk."""
SNIPPET_CHARS: Final = 200
"""How much of an error response's body a failure message quotes."""
SNIPPET_BYTES: Final = 4096
WRITE_BUFFER_BYTES: Final = 1024 * 1024
"""Downloads are written to disk in slices of about this size, each in a worker thread."""

_TEXT_TYPES: Final = frozenset(
    {
        "application/xml",
        "application/javascript",
        "application/ecmascript",
        "application/x-www-form-urlencoded",
        "application/yaml",
        "application/x-yaml",
    }
)

T = TypeVar("T")


# -- schemas --------------------------------------------------------------------------------------

EXCHANGE_TIMEOUT: Final = "How long the whole exchange may take, from connecting to the last byte:"

URL_SCHEMA: Final[dict[str, JSON]] = {
    "type": "string",
    "pattern": "^[Hh][Tt][Tt][Pp][Ss]?://",
    "description": "The http:// or https:// URL to call.",
}
HEADERS_SCHEMA: Final[dict[str, JSON]] = {
    "type": "object",
    "additionalProperties": {"type": ["string", "number", "boolean"]},
    "description": "Request headers, name to value. Credentials belong in `${CREDENTIAL}` references.",
}
SCALAR: Final[dict[str, JSON]] = {"type": ["string", "number", "boolean"]}
QUERY_SCHEMA: Final[dict[str, JSON]] = {
    "type": "object",
    "additionalProperties": {"anyOf": [SCALAR, {"type": "array", "items": SCALAR}]},
    "description": (
        "Query parameters added to the URL's own, name to value; a list repeats the name "
        "(`ids: [1, 2]` sends `ids=1&ids=2`). Booleans are sent as true/false."
    ),
}
VERIFY_TLS_SCHEMA: Final[dict[str, JSON]] = flag_schema(
    True, "Check the server's TLS certificate. Turn off only for hosts you trust."
)
FOLLOW_REDIRECTS_SCHEMA: Final[dict[str, JSON]] = flag_schema(
    True,
    "Follow 3xx redirects (every hop passes the address guard). When false, the 3xx response itself is the result.",
)
MAX_REDIRECTS_SCHEMA: Final[dict[str, JSON]] = {
    "type": "integer",
    "minimum": 1,
    "maximum": MAX_REDIRECTS_LIMIT,
    "default": DEFAULT_MAX_REDIRECTS,
    "description": "The task fails when following more redirects than this.",
}
IDEMPOTENCY_SCHEMA: Final[dict[str, JSON]] = flag_schema(
    False,
    "Send `Idempotency-Key: <the task's idempotency key>` (unless `headers` has one): the same "
    "on every attempt, resume and retry of this task in this execution, so a receiver that "
    "honours the header performs the side effect once. The key is `{{ task.idempotencyKey }}`.",
)
FAIL_ON_STATUS_SCHEMA: Final[dict[str, JSON]] = flag_schema(
    True,
    "Fail the task when the status is 400 or more; the error names the status and quotes "
    "the start of the body. When false, any status is a result.",
)


STATUS_OUT: Final[dict[str, JSON]] = {
    "type": "integer",
    "description": "The HTTP status code of the (final) response.",
}
HEADERS_OUT: Final[dict[str, JSON]] = {
    "type": "object",
    "additionalProperties": {"type": "string"},
    "description": (
        "Response headers with lower-case names (`headers['content-type']`); a repeated header's "
        "values are joined with ', '."
    ),
}
BODY_OUT: Final[dict[str, JSON]] = {
    "description": (
        "The response body: decoded JSON when the Content-Type says JSON, text for textual "
        "types and any UTF-8 body, base64 for anything else; see `body_encoding`."
    ),
}
BODY_ENCODING_OUT: Final[dict[str, JSON]] = {
    "type": "string",
    "enum": ["json", "text", "base64"],
    "description": (
        "How `body` was read: `json` (decoded value), `text`, or `base64` (binary content). A "
        "body labelled JSON that does not parse is returned as `text`, with a warning logged."
    ),
}
RESPONSE_OUT: Final[dict[str, JSON]] = object_schema(
    {
        "status_code": STATUS_OUT,
        "headers": HEADERS_OUT,
        "body": BODY_OUT,
        "body_encoding": BODY_ENCODING_OUT,
    },
    ["status_code", "headers", "body", "body_encoding"],
)


# -- reading properties ---------------------------------------------------------------------------


def query_pairs(value: JSON) -> list[tuple[str, str]]:
    if value is None:
        return []
    if not isinstance(value, Mapping):
        raise TaskFailed(f"query must be a mapping of names to values, got {as_text(value)}")
    return [
        (str(name), as_text(one))
        for name, item in value.items()
        for one in (item if isinstance(item, list) else [item])
    ]


def http_url(value: JSON) -> URL:
    url = absolute_http_url(value)
    if url is None:
        raise TaskFailed(f"url must be an absolute http:// or https:// URL, got {as_text(value)}")
    return url


def exchange_options(
    properties: Mapping[str, JSON], default_timeout: str, *, has_follow_redirects: bool = True
) -> dict[str, Any]:
    """What every http task reads alike, as keyword arguments of `fetch` and `exchange`.

    `timeout` (the whole exchange), `verify_tls` and, unless the task has no `follow_redirects`
    property (`has_follow_redirects=False`), whether to follow redirects.
    """
    options: dict[str, Any] = {
        "timeout": parse_timeout(properties.get("timeout", default_timeout)),
        "verify_tls": read_flag(properties, "verify_tls", True),
    }
    if has_follow_redirects:
        options["follow_redirects"] = read_flag(properties, "follow_redirects", True)
    return options


def shown_url(url: URL) -> str:
    """A URL for messages: without user info and query, which often carry secrets."""
    return str(url.with_user(None).with_query(None).with_fragment(None))


# -- the session and the exchange -----------------------------------------------------------------


class Refused(TaskFailed):
    """The address guard refused a connection: a policy verdict, never a health-check result."""


def _os_reason(error: OSError) -> str:
    if error.errno is not None and error.errno > 0:
        return os.strerror(error.errno)
    return error.strerror or str(error)


def _client_failure(exc: aiohttp.ClientError, method: str, url: URL, max_redirects: int) -> TaskFailed:
    """An operator-facing verdict for what went wrong between us and the server."""
    call = f"{method} {shown_url(url)}"
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return TaskFailed(
            f"{call}: the TLS certificate of {exc.host} could not be verified "
            f"({exc.certificate_error}); set verify_tls: false only for a host you trust"
        )
    if isinstance(exc, aiohttp.ClientConnectorError):
        if isinstance(exc.os_error, BlockedAddress):
            address = exc.os_error.address
            target = exc.host if exc.host == address else f"{exc.host} ({address})"
            return Refused(f"{call}: refused to connect to {target}: {exc.os_error.reason}")
        if isinstance(exc, aiohttp.ClientConnectorDNSError):
            return TaskFailed(f"{call}: could not resolve host {exc.host}: {_os_reason(exc.os_error)}")
        return TaskFailed(f"{call}: could not connect to {exc.host}:{exc.port}: {_os_reason(exc.os_error)}")
    if isinstance(exc, aiohttp.TooManyRedirects):
        return TaskFailed(f"{call}: gave up after {max_redirects} redirects")
    if isinstance(exc, (aiohttp.InvalidUrlRedirectClientError, aiohttp.NonHttpUrlRedirectClientError)):
        return TaskFailed(f"{call}: redirected to a URL that cannot be followed: {exc}")
    if isinstance(exc, (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError, aiohttp.ClientOSError)):
        return TaskFailed(f"{call}: the connection broke before the response was complete ({exc})")
    return TaskFailed(f"{call} failed: {exc}")


async def exchange(
    ctx: TaskContext,
    method: str,
    url: URL,
    read: Callable[[aiohttp.ClientResponse], Awaitable[T]],
    *,
    timeout: TaskTimeout,
    verify_tls: bool = True,
    follow_redirects: bool = True,
    max_redirects: int = DEFAULT_MAX_REDIRECTS,
    **request: Any,
) -> T:
    """Send one request and hand the response to `read`, all within `timeout`.

    aiohttp follows redirects itself: every hop opens its connection through the guard, and
    it drops Authorization when a redirect leaves the origin.
    """
    session = await guarded_session(ctx, SESSION_KEY, filter_dns=True)
    try:
        async with asyncio.timeout(timeout.seconds):
            async with session.request(
                method,
                url,
                ssl=verify_tls,
                allow_redirects=follow_redirects,
                max_redirects=max_redirects,
                **request,
            ) as response:
                return await read(response)
    except TimeoutError:
        raise TaskFailed(f"{method} {shown_url(url)} timed out after {timeout.text}") from None
    except aiohttp.ClientError as exc:
        raise _client_failure(exc, method, url, max_redirects) from None


# -- responses ------------------------------------------------------------------------------------


def _headers_out(headers: CIMultiDictProxy[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in headers.items():
        key = name.lower()
        out[key] = f"{out[key]}, {value}" if key in out else value
    return out


def _charset(name: str | None) -> str:
    try:
        return codecs.lookup(name).name if name else "utf-8"
    except LookupError:
        return "utf-8"


def _is_json(mime: str) -> bool:
    return mime == "application/json" or mime.endswith("+json")


def _is_text(mime: str) -> bool:
    return mime.startswith("text/") or mime in _TEXT_TYPES or mime.endswith("+xml")


@dataclass(frozen=True)
class Reply:
    """A response read whole (within the cap): what the request-like tasks return from."""

    status: int
    reason: str
    url: URL
    headers: CIMultiDictProxy[str]
    raw: bytes

    @property
    def mime(self) -> str | None:
        """The media type, lower case; None when the server sent no Content-Type."""
        header = self.headers.get("Content-Type")
        return header.split(";", 1)[0].strip().lower() if header is not None else None

    @property
    def charset(self) -> str:
        for param in self.headers.get("Content-Type", "").split(";")[1:]:
            key, _, value = param.partition("=")
            if key.strip().lower() == "charset":
                return _charset(value.strip().strip('"'))
        return "utf-8"

    def text(self) -> str:
        return self.raw.decode(self.charset, errors="replace")

    def snippet(self) -> str:
        text = " ".join(self.raw[:SNIPPET_BYTES].decode(self.charset, errors="replace").split())
        return text if len(text) <= SNIPPET_CHARS else text[:SNIPPET_CHARS] + "…"

    def body(self, log: TaskLogger) -> tuple[JSON, str]:
        """The body as a flow reads it, and how it was read (json, text or base64)."""
        mime = self.mime
        if not self.raw:
            return "", "text"
        if mime is not None and _is_json(mime):
            try:
                return json.loads(self.raw), "json"
            except ValueError as exc:
                log.warning(f"the response says {mime} but its body is not valid JSON ({exc}); returning it as text")
                return self.text(), "text"
        if mime is not None and _is_text(mime):
            return self.text(), "text"
        try:
            return self.raw.decode("utf-8"), "text"
        except UnicodeDecodeError:
            return base64.b64encode(self.raw).decode("ascii"), "base64"

    def outputs(self, log: TaskLogger) -> dict[str, JSON]:
        body, encoding = self.body(log)
        return {
            "status_code": self.status,
            "headers": _headers_out(self.headers),
            "body": body,
            "body_encoding": encoding,
        }

    def status_failure(self, method: str) -> TaskFailed:
        message = f"{method} {shown_url(self.url)} answered HTTP {self.status} {self.reason}".rstrip()
        snippet = self.snippet()
        return TaskFailed(f"{message}: {snippet}" if snippet else message)


def too_large(limit: int, setting: str) -> TaskFailed:
    return TaskFailed(f"the response body is larger than {limit} bytes, the limit set by {setting}")


async def _read_capped(response: aiohttp.ClientResponse, limit: int, setting: str) -> bytes:
    """The whole body, read in chunks and abandoned as soon as it passes `limit`."""
    if response.content_length is not None and response.content_length > limit:
        raise too_large(limit, setting)
    buffer = bytearray()
    async for chunk in response.content.iter_chunked(64 * 1024):
        buffer += chunk
        if len(buffer) > limit:
            raise too_large(limit, setting)
    return bytes(buffer)


async def fetch(ctx: TaskContext, method: str, url: URL, *, timeout: TaskTimeout, **request: Any) -> Reply:
    """One exchange whose body is read into memory under `http_max_response_bytes`."""
    limit = ctx.settings.http_max_response_bytes
    loop = asyncio.get_running_loop()
    started = loop.time()

    async def read(response: aiohttp.ClientResponse) -> Reply:
        raw = await _read_capped(response, limit, "http_max_response_bytes")
        return Reply(response.status, response.reason or "", response.url, response.headers, raw)

    reply = await exchange(ctx, method, url, read, timeout=timeout, **request)
    elapsed = round((loop.time() - started) * 1000)
    ctx.log.info(f"{method} {shown_url(url)} -> {reply.status} ({len(reply.raw)} bytes, {elapsed} ms)")
    return reply
