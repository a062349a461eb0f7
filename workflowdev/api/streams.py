"""Helpers shared by the WebSocket streams."""

from __future__ import annotations

from aiohttp import WSMsgType, web


async def drain_client(ws: web.WebSocketResponse) -> None:
    """Read (and ignore) what the client sends, so its close is noticed."""
    async for message in ws:
        if message.type == WSMsgType.ERROR:
            return
