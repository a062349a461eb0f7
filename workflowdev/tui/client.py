"""The console's only way into workflowdev: its HTTP API and its two WebSocket streams.

The console talks to an embedded server exactly as it talks to a remote one over an SSH tunnel,
so everything it shows must be reachable through this client. Replies are the API's own JSON
(camelCase dicts), so what the console shows is what API.md documents; only failures get types,
because the console reacts to them differently (a login screen, a "disconnected" banner, a
message).

The streams stay connected on their own: when the server goes away they report it through
`on_state`, reconnect with capped, jittered exponential backoff, and tell the caller what it may
have missed (`{"type": "resync"}` for events; log lines are resumed from the last `seq` seen).
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator
from collections.abc import Callable
from collections.abc import Mapping
from types import TracebackType
from typing import Any
from typing import TypedDict
from typing import Unpack
from urllib.parse import quote

import aiohttp

Json = dict[str, Any]
StateCallback = Callable[[bool], None]

RESYNC: Json = {"type": "resync"}
"""Yielded by `ApiClient.events` when events may have been missed: re-read the state you show."""

REQUEST_TIMEOUT = aiohttp.ClientTimeout(total=30, connect=5)
STREAM_TIMEOUT = aiohttp.ClientTimeout(total=None, connect=5)
"""Streams live for hours, so no total; a server that does not answer still fails fast."""
HEARTBEAT_SECONDS = 30.0
"""Pings on the streams, so a silently dead network is noticed rather than waited on forever."""


class Outgoing(TypedDict, total=False):
    """What a call sends besides its method and path; `_request` and `_exchange` take the same."""

    params: Mapping[str, str] | None
    json: Any
    send_json: bool
    """Send `json` even when it is None: a JSON null body."""


class ApiError(Exception):
    """A request the server refused, with the server's own error code, message and details."""

    def __init__(self, status: int, code: str, message: str, details: list[Any] | None = None) -> None:
        super().__init__(f"{message} (HTTP {status}, {code})" if status else message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details or []


class Unauthorized(ApiError):
    """No token, or one the server no longer accepts: the console should ask the user to log in."""


class Disconnected(ApiError):
    """The server could not be reached at all; nothing was changed by this request."""

    def __init__(self, base_url: str, reason: BaseException) -> None:
        detail = str(reason) or type(reason).__name__
        super().__init__(0, "disconnected", f"cannot reach workflowdev at {base_url}: {detail}")


_TRANSIENT = (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, asyncio.TimeoutError, OSError)
"""Failures that say nothing about the request itself: the server or the network is away."""


class Backoff:
    """Delays between reconnection attempts: doubling from `first` up to `cap`, each jittered.

    Jitter keeps a room full of consoles from hammering a restarted server in lockstep.
    """

    def __init__(self, first: float = 0.2, cap: float = 5.0) -> None:
        self.first = first
        self.cap = cap
        self._next = first

    def delay(self) -> float:
        current = self._next
        self._next = min(self._next * 2, self.cap)
        return random.uniform(current / 2, current)

    def reset(self) -> None:
        self._next = self.first


class ApiClient:
    """One session against one workflowdev server; `async with ApiClient(url) as client` closes it."""

    def __init__(self, base_url: str, token: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> ApiClient:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def session(self) -> aiohttp.ClientSession:
        """Opened on first use, inside whichever loop uses it first (the console's, in the app)."""
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=STREAM_TIMEOUT)
        return self._session

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    async def _request(self, method: str, path: str, **outgoing: Unpack[Outgoing]) -> Any:
        """One call; the decoded JSON reply (None for 204), or the server's error as ApiError."""
        body, _ = await self._exchange(method, path, **outgoing)
        return body

    async def _exchange(self, method: str, path: str, **outgoing: Unpack[Outgoing]) -> tuple[Any, Mapping[str, str]]:
        """The decoded reply and its headers (lists carry their total in `X-Total-Count`)."""
        kwargs: dict[str, Any] = {
            "params": outgoing.get("params"),
            "headers": self._headers(),
            "timeout": REQUEST_TIMEOUT,
        }
        json = outgoing.get("json")
        if json is not None or outgoing.get("send_json", False):
            kwargs["json"] = json
        try:
            async with self.session.request(method, self.base_url + path, **kwargs) as resp:
                raw = await resp.read()
                body = _decode(raw, resp.content_type)
                if resp.status >= 400:
                    raise _error_from(resp.status, body)
                return body, resp.headers
        except _TRANSIENT as exc:
            raise Disconnected(self.base_url, exc) from exc

    # --- authentication -------------------------------------------------------------------

    async def login(self, username: str, password: str) -> Json:
        """Log in and keep the token for every later call; returns `{token, expiresAt, user}`."""
        reply = await self._request("POST", "/auth/login", json={"username": username, "password": password})
        self.token = reply["token"]
        return reply

    async def me(self) -> Json:
        """Who the server thinks we are: `{id, username, role, auth}` (anonymous admin without --auth)."""
        return await self._request("GET", "/api/v1/auth/me")

    # --- flows ------------------------------------------------------------------------------

    async def flows(self, q: str | None = None, namespace: str | None = None, limit: int = 1000) -> list[Json]:
        return await self._request("GET", "/api/v1/flows", params=_params(q=q, namespace=namespace, limit=str(limit)))

    async def flow(self, flow_id: str) -> Json:
        return await self._request("GET", f"/api/v1/flows/{_segment(flow_id)}")

    async def create_flow(self, yaml: str, namespace: str | None = None) -> Json:
        body: Json = {"yamlContent": yaml}
        if namespace is not None:
            body["namespace"] = namespace
        return await self._request("POST", "/api/v1/flows", json=body)

    async def update_flow(self, flow_id: str, *, yaml: str | None = None, description: str | None = None) -> Json:
        """A changed YAML is saved by the server as a new revision."""
        body = {
            name: value for name, value in (("yamlContent", yaml), ("description", description)) if value is not None
        }
        return await self._request("PUT", f"/api/v1/flows/{_segment(flow_id)}", json=body)

    async def delete_flow(self, flow_id: str) -> None:
        await self._request("DELETE", f"/api/v1/flows/{_segment(flow_id)}")

    async def revisions(self, flow_id: str) -> list[Json]:
        """`[{revision, yamlContent, createdAt, createdBy}]`, newest first."""
        return await self._request("GET", f"/api/v1/flows/{_segment(flow_id)}/revisions")

    async def restore(self, flow_id: str, revision: int) -> Json:
        """Save revision `revision`'s YAML as a new revision; returns the flow."""
        return await self._request("POST", f"/api/v1/flows/{_segment(flow_id)}/revisions/{int(revision)}/restore")

    async def validate(self, yaml: str) -> Json:
        """`{valid, errors: [{line, column, path, message}], tasksTotal}`; invalid YAML is not an error."""
        return await self._request("POST", "/api/v1/flows/validate", json={"yamlContent": yaml})

    async def execute(self, flow_id: str, inputs: Mapping[str, Any] | None = None) -> Json:
        """Queue an execution; returns `{executionId, status, tasksTotal}`."""
        return await self._request(
            "POST", f"/api/v1/flows/{_segment(flow_id)}/execute", json={"inputs": dict(inputs or {})}
        )

    # --- executions -------------------------------------------------------------------------

    async def executions(
        self, status: str | None = None, flow_id: str | None = None, limit: int = 100, offset: int = 0
    ) -> list[Json]:
        """Newest first; `status` may list several, comma-separated (`FAILED,TIMED_OUT`)."""
        params = _params(status=status, flowId=flow_id, limit=str(limit), offset=str(offset) if offset else None)
        return await self._request("GET", "/api/v1/executions", params=params)

    async def count_executions(self, status: str | None = None, since: str | None = None) -> int:
        """How many executions have `status` (comma-separated allowed), created at or after `since`."""
        return await self._count("/api/v1/executions", status=status, since=since)

    async def _count(self, path: str, **filters: str | None) -> int:
        """A list's size from its `X-Total-Count` header, reading a single row."""
        _, headers = await self._exchange("GET", path, params=_params(**filters, limit="1"))
        return int(headers.get("X-Total-Count", "0"))

    async def execution(self, execution_id: str) -> tuple[Json, list[Json]]:
        """The execution and its task runs."""
        body = await self._request("GET", f"/api/v1/executions/{_segment(execution_id)}")
        return body["execution"], body["tasks"]

    async def cancel(self, execution_id: str) -> Json:
        return await self._request("POST", f"/api/v1/executions/{_segment(execution_id)}/cancel")

    async def retry(self, execution_id: str) -> Json:
        return await self._request("POST", f"/api/v1/executions/{_segment(execution_id)}/retry")

    async def replay(self, execution_id: str, from_task: str, *, dry_run: bool = False) -> Json:
        """A new execution from `from_task`; with `dry_run`, only what it would keep."""
        body = {"fromTask": from_task, **({"dryRun": True} if dry_run else {})}
        return await self._request("POST", f"/api/v1/executions/{_segment(execution_id)}/replay", json=body)

    async def logs(self, execution_id: str) -> list[Json]:
        """Every log line so far, at once; `follow_logs` is the live form."""
        return await self._request("GET", f"/api/v1/executions/{_segment(execution_id)}/logs")

    # --- approvals --------------------------------------------------------------------------

    async def approvals(self, status: str | None = "PENDING") -> list[Json]:
        return await self._request("GET", "/api/v1/approvals", params=_params(status=status))

    async def count_approvals(self, status: str = "PENDING") -> int:
        return await self._count("/api/v1/approvals", status=status)

    async def approval(self, approval_id: str) -> Json:
        return await self._request("GET", f"/api/v1/approvals/{_segment(approval_id)}")

    async def approve(self, approval_id: str, comment: str | None = None) -> Json:
        return await self._decide(approval_id, "approve", comment)

    async def reject(self, approval_id: str, comment: str | None = None) -> Json:
        return await self._decide(approval_id, "reject", comment)

    async def _decide(self, approval_id: str, verb: str, comment: str | None) -> Json:
        body = {"comment": comment} if comment is not None else {}
        return await self._request("POST", f"/api/v1/approvals/{_segment(approval_id)}/{verb}", json=body)

    # --- key-value store --------------------------------------------------------------------

    async def kv_namespaces(self, limit: int = 1000) -> list[Json]:
        """`[{namespace, keys}]`: every namespace holding at least one live key."""
        return await self._request("GET", "/api/v1/kv", params={"limit": str(limit)})

    async def kv_list(self, namespace: str, limit: int = 1000) -> list[Json]:
        """`[{key, updatedAt, expiresAt}]`, without values, in key order."""
        return await self._request("GET", f"/api/v1/kv/{_segment(namespace)}", params={"limit": str(limit)})

    async def kv_get(self, namespace: str, key: str) -> Json:
        """`{namespace, key, value, updatedAt, expiresAt}`; a missing or expired key is a 404 ApiError."""
        return await self._request("GET", _kv_path(namespace, key))

    async def kv_set(self, namespace: str, key: str, value: Any, ttl: float | None = None) -> Json:
        params = _params(ttl=None if ttl is None else repr(float(ttl)))
        return await self._request("PUT", _kv_path(namespace, key), params=params, json=value, send_json=True)

    async def kv_delete(self, namespace: str, key: str) -> None:
        await self._request("DELETE", _kv_path(namespace, key))

    # --- triggers, credentials, plugins, audit, nodes -----------------------------------------

    async def triggers(self, flow_id: str | None = None) -> list[Json]:
        return await self._request("GET", "/api/v1/triggers", params=_params(flowId=flow_id, limit="1000"))

    async def set_trigger_enabled(self, trigger_id: str, enabled: bool) -> Json:
        return await self._request("PUT", f"/api/v1/triggers/{_segment(trigger_id)}", json={"enabled": enabled})

    async def slots(self, trigger_id: str) -> list[Json]:
        """The schedule's slot ledger of the last day, oldest first."""
        return await self._request("GET", f"/api/v1/triggers/{_segment(trigger_id)}/slots")

    async def backfill(self, trigger_id: str, since: str, until: str, *, dry_run: bool = False) -> Json:
        """Run the instants of [since, until) that never ran; with `dry_run`, only name them."""
        body = {"from": since, "to": until, **({"dryRun": True} if dry_run else {})}
        return await self._request("POST", f"/api/v1/triggers/{_segment(trigger_id)}/backfill", json=body)

    async def credentials(self) -> list[Json]:
        """Names and descriptions only: no endpoint ever returns a plaintext value."""
        return await self._request("GET", "/api/v1/credentials", params={"limit": "1000"})

    async def create_credential(self, name: str, value: str, description: str | None = None) -> Json:
        body = {"name": name, "value": value, **({"description": description} if description is not None else {})}
        return await self._request("POST", "/api/v1/credentials", json=body)

    async def set_credential_value(self, credential_id: str, value: str) -> Json:
        return await self._request("PUT", f"/api/v1/credentials/{_segment(credential_id)}", json={"value": value})

    async def delete_credential(self, credential_id: str) -> None:
        await self._request("DELETE", f"/api/v1/credentials/{_segment(credential_id)}")

    async def plugins(self) -> list[Json]:
        """Every task type's manifest `{id, name, category, description, inputSchema, ...}`."""
        return await self._request("GET", "/api/v1/plugins")

    async def plugin(self, plugin_id: str) -> Json:
        return await self._request("GET", f"/api/v1/plugins/{_segment(plugin_id)}")

    async def audit(self, limit: int = 200, actor: str | None = None, action: str | None = None) -> list[Json]:
        """Newest first: `{id, at, actor, action, resourceType, resourceId, details, remoteAddr}`."""
        return await self._request("GET", "/api/v1/audit", params=_params(limit=str(limit), actor=actor, action=action))

    async def nodes(self) -> list[Json]:
        """The nodes sharing this server's database, with their heartbeats and running executions."""
        return await self._request("GET", "/api/v1/nodes")

    # --- live streams -----------------------------------------------------------------------

    async def events(
        self, execution_id: str | None = None, *, on_state: StateCallback | None = None
    ) -> AsyncIterator[Json]:
        """Every `{type, executionId, data}` event, for as long as the caller iterates.

        After a reconnection, or when the server says we lagged behind, yields RESYNC once the new
        subscription is live: state re-read from then on misses nothing.
        """
        link = _Link(self, "/api/v1/events", _params(executionId=execution_id), on_state)
        first = True
        while True:
            ws = await link.connect()
            try:
                if not first:
                    yield dict(RESYNC)
                first = False
                async for message in _messages(ws):
                    link.alive()
                    if message.get("type") == "lagged":
                        break  # the server closes this subscription; the next one starts with RESYNC
                    yield message
            finally:
                await ws.close()
            link.lost()

    async def follow_logs(self, execution_id: str, *, on_state: StateCallback | None = None) -> AsyncIterator[Json]:
        """History, then live `{type: "log", seq, ...}` lines, then `{type: "end", status}`.

        Each line is yielded once even across reconnections: the server replays history on every
        connection, and lines at or below the last `seq` seen are skipped.
        """
        link = _Link(self, f"/api/v1/executions/{_segment(execution_id)}/logs", None, on_state)
        last_seq = 0
        while True:
            ws = await link.connect()
            try:
                async for message in _messages(ws):
                    link.alive()
                    kind = message.get("type")
                    if kind == "log":
                        if message["seq"] > last_seq:
                            last_seq = message["seq"]
                            yield message
                    elif kind == "end":
                        yield message
                        return
                    elif kind == "lagged":
                        break
            finally:
                await ws.close()
            link.lost()


class _Link:
    """Opens one stream's WebSocket again and again, and tells the caller when it is up or down."""

    def __init__(
        self, client: ApiClient, path: str, params: Mapping[str, str] | None, on_state: StateCallback | None
    ) -> None:
        self.client = client
        self.path = path
        self.params = params
        self.on_state = on_state
        self.backoff = Backoff()
        self.connected: bool | None = None
        self._first_attempt = True

    def _report(self, connected: bool) -> None:
        if self.connected is not connected:
            self.connected = connected
            if self.on_state is not None:
                self.on_state(connected)

    def alive(self) -> None:
        """A message came through: the connection truly works, so the next loss starts backoff afresh."""
        self.backoff.reset()

    def lost(self) -> None:
        self._report(False)

    async def connect(self) -> aiohttp.ClientWebSocketResponse:
        """Connected WebSocket; retries transient failures forever, raises ApiError for refusals.

        Even after a loss with no failed attempt the link waits one backoff delay, so a server that
        accepts and drops at once is not hammered in a tight loop.
        """
        client = self.client
        while True:
            if not self._first_attempt:
                await asyncio.sleep(self.backoff.delay())
            self._first_attempt = False
            try:
                ws = await client.session.ws_connect(
                    client.base_url + self.path,
                    params=self.params,
                    headers=client._headers(),
                    heartbeat=HEARTBEAT_SECONDS,
                )
            except aiohttp.WSServerHandshakeError as exc:
                if exc.status < 500:  # refused for good; a 503 (database away) is worth retrying
                    raise _error_from(exc.status, None, f"{self.path}: {exc.message}") from exc
            except _TRANSIENT:
                pass
            else:
                self._report(True)
                return ws
            self._report(False)


async def _messages(ws: aiohttp.ClientWebSocketResponse) -> AsyncIterator[Json]:
    """The JSON messages of one connection, until it closes or breaks."""
    try:
        async for msg in ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                yield msg.json()
            elif msg.type == aiohttp.WSMsgType.ERROR:
                return
    except _TRANSIENT:
        return


def _decode(raw: bytes, content_type: str) -> Any:
    if not raw:
        return None
    if "json" in content_type:
        return json.loads(raw)
    return raw.decode(errors="replace")


def _error_from(status: int, body: Any, fallback: str | None = None) -> ApiError:
    """The server's `{"error": {code, message, details}}` as an exception (Unauthorized for 401)."""
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        code, message, details = str(error.get("code", "error")), str(error.get("message", "")), error.get("details")
    else:
        code = "unauthorized" if status == 401 else "error"
        message = fallback or (body if isinstance(body, str) and body else f"HTTP {status}")
        details = []
    kind = Unauthorized if status == 401 else ApiError
    return kind(status, code, message, details if isinstance(details, list) else [])


def _params(**values: str | None) -> dict[str, str]:
    return {name: value for name, value in values.items() if value is not None}


def _segment(value: str) -> str:
    """One path segment, escaped so an id or name can never reach a different route."""
    return quote(value, safe="")


def _kv_path(namespace: str, key: str) -> str:
    return f"/api/v1/kv/{_segment(namespace)}/{_segment(key)}"
