"""Helpers shared by the WebSocket streams.

Open streams are tracked so that shutdown closes them at once: otherwise the server would wait
out its shutdown timeout for every console still connected.
"""

from __future__ import annotations

import asyncio
import weakref

from aiohttp import WSCloseCode, WSMsgType, web

from workflowdev.engine.events import Subscription

OPEN_STREAMS = web.AppKey("open_streams", weakref.WeakSet)


async def open_stream(request: web.Request, ws: web.WebSocketResponse) -> None:
    """Upgrade the request and remember the socket until it closes."""
    await ws.prepare(request)
    request.app[OPEN_STREAMS].add(ws)


async def close_streams(app: web.Application) -> None:
    """on_shutdown: tell every connected client the server is going away."""
    for ws in list(app[OPEN_STREAMS]):
        await ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutting down")


def track_streams(app: web.Application) -> None:
    app[OPEN_STREAMS] = weakref.WeakSet()
    app.on_shutdown.append(close_streams)


def watch_client(ws: web.WebSocketResponse, subscription: Subscription) -> asyncio.Task[None]:
    """Read what the client sends; when it leaves, close `subscription`, so a handler waiting
    for the next event stops at once instead of at its next timeout (and shutdown with it)."""
    reader = asyncio.create_task(drain_client(ws))
    reader.add_done_callback(lambda _task: subscription.close())
    return reader


async def drain_client(ws: web.WebSocketResponse) -> None:
    """Read (and ignore) what the client sends, so its close is noticed."""
    async for message in ws:
        if message.type == WSMsgType.ERROR:
            return
