"""Serving the engine's async iterators as WebSocket streams.

A stream is two named tasks: one sends what the iterator yields, one reads the client so that
its leaving is noticed at once; whichever ends first cancels the other, and the iterator is
closed either way, which ends its subscription to the bus.

What a slow client costs stays bounded. Sending waits while the connection's buffer is full, so
the server holds one message and the transport's buffer, no more; the iterator's subscription
holds at most the bus's queue (10,000 events) and then gives up (`lagged`). A client that takes
nothing for `SEND_TIMEOUT_SECONDS` is closed with 1008 "client too slow". Open streams are
tracked so that shutdown closes them at once: otherwise the server would wait out its shutdown
timeout for every console still connected.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import AsyncIterator
from collections.abc import Callable
from typing import Any
from typing import Protocol
from typing import TypeVar

from aiohttp import WSCloseCode
from aiohttp import WSMsgType
from aiohttp import web

from workflowdev.engine.events import SubscriberLagged

log = logging.getLogger(__name__)

OPEN_STREAMS = web.AppKey("open_streams", weakref.WeakSet)
HEARTBEAT_SECONDS = 30.0
"""How often the server pings a client; one that does not answer within half of it is gone."""
SEND_TIMEOUT_SECONDS = 30.0
"""How long one message may wait for a client to make room for it before the stream is closed."""
TOO_SLOW = b"client too slow; reconnect"

Json = dict[str, Any]
Item = TypeVar("Item", covariant=True)


class Followed(Protocol[Item]):
    """What a stream serves: an async iterator that can be closed before its end (async
    generators and bus subscriptions are)."""

    def __aiter__(self) -> AsyncIterator[Item]: ...
    async def aclose(self) -> None: ...


class ClientTooSlow(Exception):
    """A message waited `SEND_TIMEOUT_SECONDS` for the client to read what came before it."""


def stream_socket(request: web.Request) -> web.WebSocketResponse | None:
    """The WebSocket to answer `request` with, or None when it is a plain GET."""
    ws = web.WebSocketResponse(heartbeat=HEARTBEAT_SECONDS)
    return ws if ws.can_prepare(request).ok else None


async def serve_stream(
    request: web.Request,
    ws: web.WebSocketResponse,
    items: Followed[Item],
    encode: Callable[[Item], Json],
    *,
    lagged: str,
) -> web.WebSocketResponse:
    """Upgrade, send `encode(item)` for each item until the iterator ends or the client leaves,
    then close. A subscriber cut off by the bus gets `{type: lagged, message: lagged}` last."""
    try:
        await ws.prepare(request)
        request.app[OPEN_STREAMS].add(ws)
        await _relay(request, ws, items, encode, lagged)
    finally:
        await items.aclose()
    await close_within(ws, WSCloseCode.OK, b"")
    return ws


async def _relay(
    request: web.Request, ws: web.WebSocketResponse, items: Followed[Item], encode: Callable[[Item], Json], lagged: str
) -> None:
    sender = asyncio.create_task(_send_all(request, ws, items, encode, lagged), name=f"stream {request.path}: send")
    reader = asyncio.create_task(drain_client(ws), name=f"stream {request.path}: read")
    try:
        await asyncio.wait((sender, reader), return_when=asyncio.FIRST_COMPLETED)
    finally:
        sender.cancel()
        reader.cancel()
        sent, _read = await asyncio.gather(sender, reader, return_exceptions=True)
    if isinstance(sent, Exception):
        log.error("the stream %s failed", request.path, exc_info=sent)
        await close_within(ws, WSCloseCode.INTERNAL_ERROR, b"the stream failed; see the server log")


async def _send_all(
    request: web.Request, ws: web.WebSocketResponse, items: Followed[Item], encode: Callable[[Item], Json], lagged: str
) -> None:
    try:
        try:
            async for item in items:
                await _send(ws, encode(item))
        except SubscriberLagged:
            await _send(ws, {"type": "lagged", "message": lagged})
    except ClientTooSlow:
        unsent = request.transport.get_write_buffer_size() if request.transport is not None else 0
        log.warning(
            "closing the stream %s: its client read nothing for %ss (%d bytes unsent)",
            request.path,
            SEND_TIMEOUT_SECONDS,
            unsent,
        )
        await close_within(ws, WSCloseCode.POLICY_VIOLATION, TOO_SLOW)
    except ConnectionResetError:
        pass  # the client went away mid-send; the reader has noticed too


async def _send(ws: web.WebSocketResponse, message: Json) -> None:
    try:
        async with asyncio.timeout(SEND_TIMEOUT_SECONDS):
            await ws.send_json(message)
    except TimeoutError:
        raise ClientTooSlow() from None


async def close_within(ws: web.WebSocketResponse, code: int, message: bytes) -> None:
    """Close, but give up on a client that reads nothing: closing waits for room to send the
    close frame, which such a client never makes."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(SEND_TIMEOUT_SECONDS):
            await ws.close(code=code, message=message)


async def close_streams(app: web.Application) -> None:
    """on_shutdown: tell every connected client the server is going away."""
    await asyncio.gather(
        *(close_within(ws, WSCloseCode.GOING_AWAY, b"server shutting down") for ws in list(app[OPEN_STREAMS]))
    )


def track_streams(app: web.Application) -> None:
    app[OPEN_STREAMS] = weakref.WeakSet()
    app.on_shutdown.append(close_streams)


async def drain_client(ws: web.WebSocketResponse) -> None:
    """Read (and ignore) what the client sends, so its close is noticed."""
    async for message in ws:
        if message.type == WSMsgType.ERROR:
            return
