"""http: call HTTP APIs, download and upload files, query GraphQL endpoints and check health.

All five task types share one `aiohttp.ClientSession` per execution (kept in `ctx.resources`, so
connections are pooled across tasks and closed when the execution ends here) and the same
rules:
- every connection goes through the address guard of `_netguard`: link-local and cloud-metadata
  addresses are refused unless `http_allow` lifts them, `http_deny` ranges always; the check is
  on the address actually connected to, so it covers DNS answers and every redirect hop;
- a response body kept in memory is capped by `http_max_response_bytes` (downloads stream to
  disk with their own `max_bytes`);
- `timeout` bounds the whole exchange, connect to last byte;
- cookies are not carried from one task to the next: each task's request stands alone, and a
  flow passes state on explicitly (`outputs.login.headers['set-cookie']`).
"""

from __future__ import annotations

import asyncio
import base64
import codecs
import json
import mimetypes
import os
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, ClassVar, Final, TypeVar

import aiohttp
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from workflowdev.engine.plugin import (
    DURATION_SCHEMA,
    JSON,
    Manifest,
    Plugin,
    TaskContext,
    TaskFailed,
    TaskLogger,
    TaskTimeout,
    as_text,
    parse_timeout,
)
from workflowdev.plugins._netguard import AddressPolicy, BlockedAddress, GuardedResolver
from workflowdev.plugins._paths import confinement, open_flags

__all__ = ["PLUGINS", "SESSION_KEY", "Check", "Download", "GraphQL", "Request", "Upload"]

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
_SCALAR: Final[dict[str, JSON]] = {"type": ["string", "number", "boolean"]}
QUERY_SCHEMA: Final[dict[str, JSON]] = {
    "type": "object",
    "additionalProperties": {"anyOf": [_SCALAR, {"type": "array", "items": _SCALAR}]},
    "description": (
        "Query parameters added to the URL's own, name to value; a list repeats the name "
        "(`ids: [1, 2]` sends `ids=1&ids=2`). Booleans are sent as true/false."
    ),
}
VERIFY_TLS_SCHEMA: Final[dict[str, JSON]] = {
    "type": "boolean",
    "default": True,
    "description": "Check the server's TLS certificate. Turn off only for hosts you trust.",
}
FOLLOW_REDIRECTS_SCHEMA: Final[dict[str, JSON]] = {
    "type": "boolean",
    "default": True,
    "description": (
        "Follow 3xx redirects (every hop passes the address guard). When false, the 3xx response itself is the result."
    ),
}
MAX_REDIRECTS_SCHEMA: Final[dict[str, JSON]] = {
    "type": "integer",
    "minimum": 1,
    "maximum": MAX_REDIRECTS_LIMIT,
    "default": DEFAULT_MAX_REDIRECTS,
    "description": "The task fails when following more redirects than this.",
}
IDEMPOTENCY_SCHEMA: Final[dict[str, JSON]] = {
    "type": "boolean",
    "default": False,
    "description": (
        "Send `Idempotency-Key: <the task's idempotency key>` (unless `headers` has one): the same "
        "on every attempt, resume and retry of this task in this execution, so a receiver that "
        "honours the header performs the side effect once. The key is `{{ task.idempotencyKey }}`."
    ),
}
FAIL_ON_STATUS_SCHEMA: Final[dict[str, JSON]] = {
    "type": "boolean",
    "default": True,
    "description": (
        "Fail the task when the status is 400 or more; the error names the status and quotes "
        "the start of the body. When false, any status is a result."
    ),
}


def _timeout_schema(default: str) -> dict[str, JSON]:
    return {
        **DURATION_SCHEMA,
        "default": default,
        "description": (
            "How long the whole exchange may take, from connecting to the last byte: 500ms, "
            "30s, 10m, ISO 8601 (PT30S) or a number of seconds."
        ),
    }


def _object(properties: dict[str, JSON], required: list[str]) -> dict[str, JSON]:
    return {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }


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
RESPONSE_OUT: Final[dict[str, JSON]] = _object(
    {
        "status_code": STATUS_OUT,
        "headers": HEADERS_OUT,
        "body": BODY_OUT,
        "body_encoding": BODY_ENCODING_OUT,
    },
    ["status_code", "headers", "body", "body_encoding"],
)


# -- reading properties ---------------------------------------------------------------------------




def _text_map(value: JSON, what: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise TaskFailed(f"{what} must be a mapping of names to values, got {as_text(value)}")
    return {str(name): as_text(item) for name, item in value.items()}


def _query(value: JSON) -> list[tuple[str, str]]:
    if value is None:
        return []
    if not isinstance(value, Mapping):
        raise TaskFailed(f"query must be a mapping of names to values, got {as_text(value)}")
    return [
        (str(name), as_text(one))
        for name, item in value.items()
        for one in (item if isinstance(item, list) else [item])
    ]


def _choice(value: JSON, choices: tuple[str, ...], what: str) -> str:
    if value not in choices:
        raise TaskFailed(f"{what} must be one of {', '.join(choices)}; got {as_text(value)}")
    return str(value)


def _flag(properties: Mapping[str, JSON], name: str, default: bool) -> bool:
    value = properties.get(name, default)
    if not isinstance(value, bool):
        raise TaskFailed(f"{name} must be true or false, got {as_text(value)}")
    return value


def _count(properties: Mapping[str, JSON], name: str, default: int, low: int, high: int | None = None) -> int:
    value = properties.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        bounds = f"from {low} to {high}" if high is not None else f"at least {low}"
        raise TaskFailed(f"{name} must be a whole number {bounds}, got {as_text(value)}")
    return value


def _http_url(value: JSON) -> URL:
    try:
        url = URL(value) if isinstance(value, str) else None
    except (TypeError, ValueError):
        url = None
    if url is None or url.scheme not in ("http", "https") or not url.host:
        raise TaskFailed(f"url must be an absolute http:// or https:// URL, got {as_text(value)}")
    return url


def _shown(url: URL) -> str:
    """A URL for messages: without user info and query, which often carry secrets."""
    return str(url.with_user(None).with_query(None).with_fragment(None))


# -- the session and the exchange -----------------------------------------------------------------


async def _close_session(session: aiohttp.ClientSession) -> None:
    await session.close()


async def _session(ctx: TaskContext) -> aiohttp.ClientSession:
    """The execution's shared session, created on first use with the operator's address policy."""
    try:
        policy = AddressPolicy.from_settings(ctx.settings.http_allow, ctx.settings.http_deny)
    except ValueError as exc:
        raise TaskFailed(str(exc)) from None

    async def create() -> aiohttp.ClientSession:
        return aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(socket_factory=policy.open_socket, resolver=GuardedResolver(policy)),
            timeout=aiohttp.ClientTimeout(),  # each task bounds its own exchange
            cookie_jar=aiohttp.DummyCookieJar(),
            trust_env=False,  # a proxy from the environment would hide the real target from the guard
        )

    session: aiohttp.ClientSession = await ctx.resources.get(SESSION_KEY, create, _close_session)
    return session


class _Refused(TaskFailed):
    """The address guard refused a connection: a policy verdict, never a health-check result."""


def _os_reason(error: OSError) -> str:
    if error.errno is not None and error.errno > 0:
        return os.strerror(error.errno)
    return error.strerror or str(error)


def _client_failure(exc: aiohttp.ClientError, method: str, url: URL, max_redirects: int) -> TaskFailed:
    """An operator-facing verdict for what went wrong between us and the server."""
    call = f"{method} {_shown(url)}"
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return TaskFailed(
            f"{call}: the TLS certificate of {exc.host} could not be verified "
            f"({exc.certificate_error}); set verify_tls: false only for a host you trust"
        )
    if isinstance(exc, aiohttp.ClientConnectorError):
        if isinstance(exc.os_error, BlockedAddress):
            address = exc.os_error.address
            target = exc.host if exc.host == address else f"{exc.host} ({address})"
            return _Refused(f"{call}: refused to connect to {target}: {exc.os_error.reason}")
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


async def _exchange(
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
    session = await _session(ctx)
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
        raise TaskFailed(f"{method} {_shown(url)} timed out after {timeout.text}") from None
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
class _Reply:
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
        message = f"{method} {_shown(self.url)} answered HTTP {self.status} {self.reason}".rstrip()
        snippet = self.snippet()
        return TaskFailed(f"{message}: {snippet}" if snippet else message)


def _too_large(limit: int, setting: str) -> TaskFailed:
    return TaskFailed(f"the response body is larger than {limit} bytes, the limit set by {setting}")


async def _read_capped(response: aiohttp.ClientResponse, limit: int, setting: str) -> bytes:
    """The whole body, read in chunks and abandoned as soon as it passes `limit`."""
    if response.content_length is not None and response.content_length > limit:
        raise _too_large(limit, setting)
    buffer = bytearray()
    async for chunk in response.content.iter_chunked(64 * 1024):
        buffer += chunk
        if len(buffer) > limit:
            raise _too_large(limit, setting)
    return bytes(buffer)


async def _fetch(ctx: TaskContext, method: str, url: URL, *, timeout: TaskTimeout, **request: Any) -> _Reply:
    """One exchange whose body is read into memory under `http_max_response_bytes`."""
    limit = ctx.settings.http_max_response_bytes
    loop = asyncio.get_running_loop()
    started = loop.time()

    async def read(response: aiohttp.ClientResponse) -> _Reply:
        raw = await _read_capped(response, limit, "http_max_response_bytes")
        return _Reply(response.status, response.reason or "", response.url, response.headers, raw)

    reply = await _exchange(ctx, method, url, read, timeout=timeout, **request)
    elapsed = round((loop.time() - started) * 1000)
    ctx.log.info(f"{method} {_shown(url)} -> {reply.status} ({len(reply.raw)} bytes, {elapsed} ms)")
    return reply


# -- http.request ---------------------------------------------------------------------------------


def _request_headers(ctx: TaskContext, properties: Mapping[str, JSON]) -> CIMultiDict[str]:
    headers = CIMultiDict(_text_map(properties.get("headers"), "headers"))
    if _flag(properties, "send_idempotency_key", False):
        headers.setdefault("Idempotency-Key", ctx.idempotency_key)
    return headers


def _payload(properties: Mapping[str, JSON], headers: CIMultiDict[str]) -> dict[str, Any]:
    """The request body from `body`, `form` or `data`, and a Content-Type unless one is given."""
    given = [name for name in ("body", "form", "data") if name in properties]
    if len(given) > 1:
        raise TaskFailed(f"give at most one of body, form and data; this task gives {' and '.join(given)}")
    if "body" in properties:
        headers.setdefault("Content-Type", "application/json")
        return {"data": json.dumps(properties["body"], ensure_ascii=False).encode()}
    if "form" in properties:
        form = aiohttp.FormData()
        for name, value in _query(properties["form"]):
            form.add_field(name, value)
        return {"data": form}
    if "data" in properties:
        headers.setdefault("Content-Type", "text/plain; charset=utf-8")
        return {"data": as_text(properties["data"]).encode()}
    return {}


class Request(Plugin):
    """Call an HTTP endpoint and return its status, headers and body."""

    manifest: ClassVar[Manifest] = Manifest(
        id="http.request",
        name="HTTP request",
        category="http",
        description=(
            "Sends one HTTP request and returns the response's status, headers and body (JSON "
            "decoded when the response says it is JSON). Give at most one body: `body` (sent as "
            "JSON), `form` (URL-encoded) or `data` (raw text). By default a status of 400 or more "
            "fails the task. The body read is capped by the server's http_max_response_bytes; "
            "link-local and cloud-metadata addresses are refused unless the operator allows them."
        ),
        input_schema=_object(
            {
                "url": URL_SCHEMA,
                "method": {
                    "type": "string",
                    "enum": list(METHODS),
                    "default": "GET",
                    "description": "The HTTP method.",
                },
                "headers": HEADERS_SCHEMA,
                "send_idempotency_key": IDEMPOTENCY_SCHEMA,
                "query": QUERY_SCHEMA,
                "body": {
                    "description": (
                        "Any JSON value, sent as the JSON body (Content-Type application/json "
                        "unless `headers` says otherwise)."
                    ),
                },
                "form": {
                    "type": "object",
                    "additionalProperties": {"anyOf": [_SCALAR, {"type": "array", "items": _SCALAR}]},
                    "description": "Fields sent URL-encoded (application/x-www-form-urlencoded).",
                },
                "data": {
                    "type": "string",
                    "description": "Raw text sent as it is (text/plain unless `headers` says otherwise).",
                },
                "timeout": _timeout_schema(DEFAULT_TIMEOUT),
                "follow_redirects": FOLLOW_REDIRECTS_SCHEMA,
                "max_redirects": MAX_REDIRECTS_SCHEMA,
                "verify_tls": VERIFY_TLS_SCHEMA,
                "fail_on_status": FAIL_ON_STATUS_SCHEMA,
            },
            ["url"],
        ),
        output_schema=RESPONSE_OUT,
        examples=(
            "- name: fetch_status\n"
            "  type: http.request\n"
            "  properties:\n"
            "    url: http://example.test/json\n"
            "    headers:\n"
            "      Accept: application/json\n"
            "    query:\n"
            "      verbose: true\n",
            "- name: greeting\n"
            "  type: http.request\n"
            "  properties:\n"
            "    url: http://example.test/text\n"
            "    timeout: 5s\n"
            "    fail_on_status: false\n",
        ),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        method = _choice(properties.get("method", "GET"), METHODS, "method")
        url = _http_url(properties["url"])
        headers = _request_headers(ctx, properties)
        payload = _payload(properties, headers)
        reply = await _fetch(
            ctx,
            method,
            url,
            timeout=parse_timeout(properties.get("timeout", DEFAULT_TIMEOUT)),
            verify_tls=_flag(properties, "verify_tls", True),
            follow_redirects=_flag(properties, "follow_redirects", True),
            max_redirects=_count(properties, "max_redirects", DEFAULT_MAX_REDIRECTS, 1, MAX_REDIRECTS_LIMIT),
            headers=headers,
            params=_query(properties.get("query")),
            **payload,
        )
        if reply.status >= 400 and _flag(properties, "fail_on_status", True):
            raise reply.status_failure(method)
        return reply.outputs(ctx.log)


# -- http.download --------------------------------------------------------------------------------


def _create_exclusively(path: Path) -> IO[bytes]:
    """A new file that cannot be a symlink planted in advance (O_EXCL, O_NOFOLLOW)."""
    return os.fdopen(os.open(path, open_flags(os.O_WRONLY | os.O_CREAT | os.O_EXCL), 0o666), "wb")


def _open_for_reading(path: Path) -> IO[bytes]:
    """Open a confined file, refusing a symlink swapped in since the path was checked."""
    try:
        return os.fdopen(os.open(path, open_flags(os.O_RDONLY)), "rb")
    except OSError as exc:
        raise TaskFailed(f"could not read {path.name}: {exc.strerror or exc}") from None


class _PartFile:
    """A download in progress: written beside its target and moved into place only when complete.

    A failed or cancelled download therefore never leaves a truncated file under the real name.
    Disk work runs in worker threads so a slow disk does not stall the event loop.
    """

    def __init__(self, target: Path, shown: str) -> None:
        self.target = target
        self.part = target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}.part")
        self.shown = shown
        self.handle: IO[bytes] | None = None

    async def _disk(self, call: Callable[..., T], *args: Any) -> T:
        try:
            return await asyncio.to_thread(call, *args)
        except OSError as exc:
            raise TaskFailed(f"could not write {self.shown}: {exc.strerror or exc}") from None

    async def open(self) -> None:
        await self._disk(lambda: self.target.parent.mkdir(parents=True, exist_ok=True))
        self.handle = await self._disk(_create_exclusively, self.part)

    async def write(self, data: bytes) -> None:
        assert self.handle is not None
        await self._disk(self.handle.write, data)

    async def commit(self) -> None:
        assert self.handle is not None
        await self._disk(self.handle.close)
        await self._disk(os.replace, self.part, self.target)

    def discard(self) -> None:
        if self.handle is not None:
            self.handle.close()
        self.part.unlink(missing_ok=True)


async def _stream_to(part: _PartFile, response: aiohttp.ClientResponse, max_bytes: int) -> int:
    size = 0
    pending = bytearray()
    async for chunk in response.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > max_bytes:
            raise _too_large(max_bytes, "max_bytes")
        pending += chunk
        if len(pending) >= WRITE_BUFFER_BYTES:
            await part.write(bytes(pending))
            pending.clear()
    if pending:
        await part.write(bytes(pending))
    return size


@dataclass(frozen=True)
class _Saved:
    size: int
    status: int
    content_type: str | None


class Download(Plugin):
    """Save a URL's body to a file, streaming: the body never sits in memory whole."""

    manifest: ClassVar[Manifest] = Manifest(
        id="http.download",
        name="Download a file",
        category="http",
        description=(
            "GETs `url` and streams the body to `path`, relative to the execution's working "
            "directory (or the server's files_root); absolute paths, `..` and symbolic links "
            "leading out are refused. Parent directories are created, an existing file is "
            "replaced, and the file appears only once the download is complete. Any status "
            "other than 2xx fails the task. Downloads are limited by `max_bytes`, not by "
            "http_max_response_bytes, since they do not fill memory."
        ),
        input_schema=_object(
            {
                "url": URL_SCHEMA,
                "path": {
                    "type": "string",
                    "minLength": 1,
                    "description": "Where to save the body, relative to the working directory.",
                },
                "headers": HEADERS_SCHEMA,
                "timeout": _timeout_schema(DEFAULT_TRANSFER_TIMEOUT),
                "max_bytes": {
                    "type": "integer",
                    "minimum": 1,
                    "default": DEFAULT_DOWNLOAD_MAX_BYTES,
                    "description": "The task fails (and saves nothing) when the body is larger.",
                },
                "follow_redirects": FOLLOW_REDIRECTS_SCHEMA,
                "verify_tls": VERIFY_TLS_SCHEMA,
            },
            ["url", "path"],
        ),
        output_schema=_object(
            {
                "path": {
                    "type": "string",
                    "description": "Where the file was saved, relative to the working directory.",
                },
                "size": {"type": "integer", "minimum": 0, "description": "Bytes written."},
                "status_code": STATUS_OUT,
                "content_type": {
                    "type": ["string", "null"],
                    "description": "The response's Content-Type header; null when it sent none.",
                },
            },
            ["path", "size", "status_code", "content_type"],
        ),
        examples=(
            "- name: fetch_greeting\n"
            "  type: http.download\n"
            "  properties:\n"
            "    url: http://example.test/text\n"
            "    path: downloads/greeting.txt\n"
            "    max_bytes: 1048576\n",
        ),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        url = _http_url(properties["url"])
        where = confinement(ctx)
        target = where.resolve(properties["path"])
        shown = where.relative(target)
        if target.is_dir():
            raise TaskFailed(f"path {shown} is a directory")
        max_bytes = _count(properties, "max_bytes", DEFAULT_DOWNLOAD_MAX_BYTES, 1)

        async def save(response: aiohttp.ClientResponse) -> _Saved:
            if not 200 <= response.status < 300:
                head = await response.content.read(SNIPPET_BYTES)
                reply = _Reply(response.status, response.reason or "", response.url, response.headers, head)
                raise TaskFailed(f"{reply.status_failure('GET')}; nothing was saved")
            if response.content_length is not None and response.content_length > max_bytes:
                raise _too_large(max_bytes, "max_bytes")
            part = _PartFile(target, shown)
            try:
                await part.open()
                size = await _stream_to(part, response, max_bytes)
                await part.commit()
            except BaseException:
                part.discard()
                raise
            return _Saved(size, response.status, response.headers.get("Content-Type"))

        saved = await _exchange(
            ctx,
            "GET",
            url,
            save,
            timeout=parse_timeout(properties.get("timeout", DEFAULT_TRANSFER_TIMEOUT)),
            verify_tls=_flag(properties, "verify_tls", True),
            follow_redirects=_flag(properties, "follow_redirects", True),
            headers=_text_map(properties.get("headers"), "headers"),
        )
        ctx.log.info(f"saved {saved.size} bytes from {_shown(url)} to {shown}")
        return {"path": shown, "size": saved.size, "status_code": saved.status, "content_type": saved.content_type}


# -- http.upload ----------------------------------------------------------------------------------


class Upload(Plugin):
    """Send a file (or text) as a multipart/form-data upload."""

    manifest: ClassVar[Manifest] = Manifest(
        id="http.upload",
        name="Upload a file",
        category="http",
        description=(
            "Sends a multipart/form-data request with one file part, read from `path` (relative "
            "to the working directory, confined like http.download) or taken from `content`, "
            "plus any extra text `fields`. The file is streamed from disk. Redirects are not "
            "followed, since an upload cannot be replayed safely: a 3xx is the result. Returns "
            "the response like http.request."
        ),
        input_schema=_object(
            {
                "url": URL_SCHEMA,
                "path": {
                    "type": "string",
                    "minLength": 1,
                    "description": "The file to send, relative to the working directory. Give `path` or `content`.",
                },
                "content": {
                    "type": "string",
                    "description": "Text to send as the file instead of a file on disk.",
                },
                "field": {
                    "type": "string",
                    "minLength": 1,
                    "default": "file",
                    "description": "The form field name of the file part.",
                },
                "filename": {
                    "type": "string",
                    "minLength": 1,
                    "description": ("The file name sent; default: the file's own name, or upload.txt for `content`."),
                },
                "content_type": {
                    "type": "string",
                    "minLength": 1,
                    "description": (
                        "The file part's type; default: guessed from the file name, else application/octet-stream."
                    ),
                },
                "fields": {
                    "type": "object",
                    "additionalProperties": _SCALAR,
                    "description": "Extra text fields of the form, name to value.",
                },
                "method": {
                    "type": "string",
                    "enum": ["POST", "PUT"],
                    "default": "POST",
                    "description": "The HTTP method.",
                },
                "headers": HEADERS_SCHEMA,
                "timeout": _timeout_schema(DEFAULT_TRANSFER_TIMEOUT),
                "verify_tls": VERIFY_TLS_SCHEMA,
                "fail_on_status": FAIL_ON_STATUS_SCHEMA,
            },
            ["url"],
        ),
        output_schema=RESPONSE_OUT,
        examples=(
            "- name: send_report\n"
            "  type: http.upload\n"
            "  properties:\n"
            "    url: http://example.test/upload\n"
            '    content: "id,total\\n1,9.50\\n"\n'
            "    filename: report.csv\n"
            "    fields:\n"
            "      month: 2024-05\n",
        ),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        method = _choice(properties.get("method", "POST"), ("POST", "PUT"), "method")
        url = _http_url(properties["url"])
        if ("path" in properties) == ("content" in properties):
            raise TaskFailed("give exactly one of path (a file to send) and content (text to send)")
        form = aiohttp.FormData()
        for name, value in _text_map(properties.get("fields"), "fields").items():
            form.add_field(name, value)
        handle: IO[bytes] | None = None
        if "path" in properties:
            source = confinement(ctx).resolve(properties["path"])
            if not source.is_file():
                raise TaskFailed(f"there is no file at path {as_text(properties['path'])}")
            filename = as_text(properties.get("filename", source.name))
            handle = await asyncio.to_thread(_open_for_reading, source)
            file_part: IO[bytes] | bytes = handle
        else:
            filename = as_text(properties.get("filename", "upload.txt"))
            file_part = as_text(properties["content"]).encode()
        content_type = as_text(
            properties.get("content_type") or mimetypes.guess_type(filename)[0] or "application/octet-stream"
        )
        field_name = as_text(properties.get("field", "file"))
        form.add_field(field_name, file_part, filename=filename, content_type=content_type)
        try:
            reply = await _fetch(
                ctx,
                method,
                url,
                timeout=parse_timeout(properties.get("timeout", DEFAULT_TRANSFER_TIMEOUT)),
                verify_tls=_flag(properties, "verify_tls", True),
                follow_redirects=False,
                headers=_text_map(properties.get("headers"), "headers"),
                data=form,
            )
        finally:
            if handle is not None:
                handle.close()
        if reply.status >= 400 and _flag(properties, "fail_on_status", True):
            raise reply.status_failure(method)
        return reply.outputs(ctx.log)


# -- http.graphql ---------------------------------------------------------------------------------


def _graphql_errors(errors: list[JSON]) -> str:
    messages = [
        as_text(error.get("message", error)) if isinstance(error, Mapping) else as_text(error) for error in errors[:3]
    ]
    more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
    return "; ".join(messages) + more


class GraphQL(Plugin):
    """Run a GraphQL query or mutation over HTTP POST."""

    manifest: ClassVar[Manifest] = Manifest(
        id="http.graphql",
        name="GraphQL query",
        category="http",
        description=(
            "POSTs `query` (with `variables` and `operation_name`) as JSON to a GraphQL endpoint "
            "and returns the response's `data` and `errors`. The task fails when the response "
            "has errors or an HTTP status of 400 or more, unless `fail_on_errors` is false; a "
            "response that is not a JSON object always fails it."
        ),
        input_schema=_object(
            {
                "url": URL_SCHEMA,
                "query": {"type": "string", "minLength": 1, "description": "The GraphQL document."},
                "variables": {
                    "type": "object",
                    "description": "Values of the document's variables, name to value.",
                },
                "operation_name": {
                    "type": "string",
                    "minLength": 1,
                    "description": "Which operation to run when the document has several.",
                },
                "headers": HEADERS_SCHEMA,
                "send_idempotency_key": IDEMPOTENCY_SCHEMA,
                "timeout": _timeout_schema(DEFAULT_TIMEOUT),
                "verify_tls": VERIFY_TLS_SCHEMA,
                "fail_on_errors": {
                    "type": "boolean",
                    "default": True,
                    "description": "Fail the task when the response has errors or a status of 400 or more.",
                },
            },
            ["url", "query"],
        ),
        output_schema=_object(
            {
                "data": {"description": "The response's `data`; null when it has none."},
                "errors": {
                    "type": "array",
                    "description": "The response's `errors` as sent; empty when there are none.",
                },
                "status_code": STATUS_OUT,
            },
            ["data", "errors", "status_code"],
        ),
        examples=(
            "- name: order_status\n"
            "  type: http.graphql\n"
            "  properties:\n"
            "    url: http://example.test/graphql\n"
            "    query: 'query Order($id: ID!) { order(id: $id) { status } }'\n"
            '    variables: {id: "42"}\n'
            "    operation_name: Order\n",
        ),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        url = _http_url(properties["url"])
        document: dict[str, JSON] = {"query": as_text(properties["query"])}
        if "variables" in properties:
            document["variables"] = properties["variables"]
        if "operation_name" in properties:
            document["operationName"] = as_text(properties["operation_name"])
        headers = _request_headers(ctx, properties)
        headers.setdefault("Content-Type", "application/json")
        headers.setdefault("Accept", "application/graphql-response+json, application/json")
        reply = await _fetch(
            ctx,
            "POST",
            url,
            timeout=parse_timeout(properties.get("timeout", DEFAULT_TIMEOUT)),
            verify_tls=_flag(properties, "verify_tls", True),
            headers=headers,
            data=json.dumps(document, ensure_ascii=False).encode(),
        )
        try:
            answer = json.loads(reply.raw)
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise TaskFailed(
                f"POST {_shown(reply.url)} answered HTTP {reply.status} without a GraphQL JSON "
                f"object: {reply.snippet() or '(empty body)'}"
            )
        errors = answer.get("errors") or []
        if not isinstance(errors, list):
            errors = [errors]
        if _flag(properties, "fail_on_errors", True):
            if errors:
                raise TaskFailed(f"GraphQL errors from {_shown(reply.url)}: {_graphql_errors(errors)}")
            if reply.status >= 400:
                raise reply.status_failure("POST")
        return {"data": answer.get("data"), "errors": errors, "status_code": reply.status}


# -- http.check -----------------------------------------------------------------------------------

_STATUS: Final[dict[str, JSON]] = {"type": "integer", "minimum": 100, "maximum": 599}


def _expected_statuses(value: JSON) -> list[int]:
    statuses = value if isinstance(value, list) else [value]
    if not statuses or not all(isinstance(s, int) and not isinstance(s, bool) and 100 <= s <= 599 for s in statuses):
        raise TaskFailed(f"expected_status must be a status code or a list of them, got {as_text(value)}")
    return statuses


def _check_failure(reply: _Reply, expected: list[int], contains: JSON) -> str | None:
    """Why a response fails the check, or None when it passes."""
    if reply.status not in expected:
        wanted = " or ".join(str(s) for s in expected)
        snippet = reply.snippet()
        return f"status {reply.status}, expected {wanted}" + (f": {snippet}" if snippet else "")
    if contains is not None and as_text(contains) not in reply.text():
        return f"the body does not contain {as_text(contains)!r}"
    return None


class Check(Plugin):
    """Check that an endpoint answers as expected: the building block of health checks."""

    manifest: ClassVar[Manifest] = Manifest(
        id="http.check",
        name="Check an endpoint",
        category="http",
        description=(
            "Requests `url` and checks the status (one of `expected_status`) and, when "
            "`contains` is given, that the body contains that text. A failed check fails the "
            "task unless `fail` is false; then the outputs say `ok: false` and why, including "
            "when the server could not be reached or timed out. Addresses refused by the "
            "server's address guard always fail the task. `latency_ms` covers the whole "
            "exchange, body included."
        ),
        input_schema=_object(
            {
                "url": URL_SCHEMA,
                "method": {
                    "type": "string",
                    "enum": ["GET", "HEAD"],
                    "default": "GET",
                    "description": "GET, or HEAD to skip the body (then `contains` cannot match).",
                },
                "expected_status": {
                    "anyOf": [_STATUS, {"type": "array", "items": _STATUS, "minItems": 1}],
                    "default": 200,
                    "description": "The status code, or a list of codes, that counts as healthy.",
                },
                "contains": {
                    "type": "string",
                    "minLength": 1,
                    "description": "Text the body must contain (matched case-sensitively).",
                },
                "headers": HEADERS_SCHEMA,
                "timeout": _timeout_schema(DEFAULT_CHECK_TIMEOUT),
                "follow_redirects": FOLLOW_REDIRECTS_SCHEMA,
                "verify_tls": VERIFY_TLS_SCHEMA,
                "fail": {
                    "type": "boolean",
                    "default": True,
                    "description": "Fail the task when the check fails; when false, report it in `ok`.",
                },
            },
            ["url"],
        ),
        output_schema=_object(
            {
                "ok": {"type": "boolean", "description": "Whether the check passed."},
                "status_code": {
                    "type": ["integer", "null"],
                    "description": "The response's status; null when no response came.",
                },
                "latency_ms": {
                    "type": "integer",
                    "minimum": 0,
                    "description": "Milliseconds from sending the request to the end of the body (or the failure).",
                },
                "reason": {
                    "type": ["string", "null"],
                    "description": "Why the check failed; null when it passed.",
                },
            },
            ["ok", "status_code", "latency_ms", "reason"],
        ),
        examples=(
            "- name: api_is_up\n"
            "  type: http.check\n"
            "  properties:\n"
            "    url: http://example.test/status/200\n"
            "    expected_status: [200, 204]\n"
            "    timeout: 5s\n",
            "- name: greeting_served\n"
            "  type: http.check\n"
            "  properties:\n"
            "    url: http://example.test/text\n"
            "    contains: hello\n"
            "    fail: false\n",
        ),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        method = _choice(properties.get("method", "GET"), ("GET", "HEAD"), "method")
        url = _http_url(properties["url"])
        expected = _expected_statuses(properties.get("expected_status", 200))
        contains = properties.get("contains")
        fail = _flag(properties, "fail", True)
        loop = asyncio.get_running_loop()
        started = loop.time()
        status: int | None = None
        try:
            reply = await _fetch(
                ctx,
                method,
                url,
                timeout=parse_timeout(properties.get("timeout", DEFAULT_CHECK_TIMEOUT)),
                verify_tls=_flag(properties, "verify_tls", True),
                follow_redirects=_flag(properties, "follow_redirects", True),
                headers=_text_map(properties.get("headers"), "headers"),
            )
        except _Refused:
            raise
        except TaskFailed as exc:
            if fail:
                raise
            reason: str | None = str(exc)
        else:
            status = reply.status
            reason = _check_failure(reply, expected, contains)
        latency_ms = round((loop.time() - started) * 1000)
        if reason is not None:
            ctx.log.warning(f"check of {method} {_shown(url)} failed: {reason}")
            if fail:
                raise TaskFailed(f"check of {method} {_shown(url)} failed: {reason}")
        return {"ok": reason is None, "status_code": status, "latency_ms": latency_ms, "reason": reason}


PLUGINS: Final[list[type[Plugin]]] = [Request, Download, Upload, GraphQL, Check]
"""http.*: requests, transfers, GraphQL and checks through one guarded session per execution."""
