"""Serve the recorded demo data set read-only, over the same HTTP and WebSocket API as workflowdev.

Screenshots and the console's snapshot tests need the same picture every time: fixed ids, fixed
times, nothing moving. The console still goes through its real client and real HTTP; only the
server behind it is a recording. It runs on its own thread and loop, so an app under
`take_svg_screenshot` (which runs its own loop) can reach it.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType
from aiohttp import web

DATASET = Path(__file__).with_name("dataset.json")
TERMINAL = {"SUCCESS", "FAILED", "CANCELLED", "TIMED_OUT"}
Json = dict[str, Any]


def load_dataset(path: Path = DATASET) -> Json:
    return json.loads(path.read_text(encoding="utf-8"))


def _page(request: web.Request, items: list[Any]) -> web.Response:
    limit = int(request.query.get("limit", "100"))
    offset = int(request.query.get("offset", "0"))
    return web.json_response(items[offset : offset + limit], headers={"X-Total-Count": str(len(items))})


def _where(items: list[Json], request: web.Request, **fields: str) -> list[Json]:
    """Items whose `field` matches the query parameter `param` (comma-separated values allowed)."""
    for param, field in fields.items():
        wanted = request.query.get(param)
        if wanted:
            allowed = set(wanted.split(","))
            items = [item for item in items if str(item.get(field)) in allowed]
    return items


def _one(items: list[Json], key: str, value: str) -> Json:
    for item in items:
        if item.get(key) == value:
            return item
    raise web.HTTPNotFound(
        text=json.dumps({"error": {"code": "not_found", "message": f"{value} not found", "details": []}}),
        content_type="application/json",
    )


def build_app(data: Json, manifests: list[Json]) -> web.Application:
    routes = web.RouteTableDef()
    kv: dict[str, list[Json]] = data["kv"]

    @routes.get("/api/v1/auth/me")
    async def me(request: web.Request) -> web.Response:
        return web.json_response(data["me"])

    @routes.get("/api/v1/flows")
    async def flows(request: web.Request) -> web.Response:
        return _page(request, _where(data["flows"], request, namespace="namespace"))

    @routes.get("/api/v1/flows/{id}")
    async def flow(request: web.Request) -> web.Response:
        return web.json_response(_one(data["flows"], "id", request.match_info["id"]))

    @routes.get("/api/v1/flows/{id}/revisions")
    async def revisions(request: web.Request) -> web.Response:
        return web.json_response(data["revisions"].get(request.match_info["id"], []))

    @routes.get("/api/v1/executions")
    async def executions(request: web.Request) -> web.Response:
        return _page(request, _where(data["executions"], request, status="status", flowId="flowId"))

    @routes.get("/api/v1/executions/{id}")
    async def execution(request: web.Request) -> web.Response:
        found = _one(data["executions"], "id", request.match_info["id"])
        return web.json_response({"execution": found, "tasks": data["tasks"].get(found["id"], [])})

    @routes.get("/api/v1/executions/{id}/logs")
    async def logs(request: web.Request) -> web.StreamResponse:
        found = _one(data["executions"], "id", request.match_info["id"])
        lines = data["logs"].get(found["id"], [])
        ws = web.WebSocketResponse()
        if not ws.can_prepare(request).ok:
            return web.json_response(lines)
        await ws.prepare(request)
        for line in lines:
            await ws.send_json(line)
        if found["status"] in TERMINAL:
            await ws.send_json({"type": "end", "status": found["status"]})
            await ws.close()
            return ws
        return await _hold(ws)

    @routes.get("/api/v1/events")
    async def events(request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        return await _hold(ws)

    @routes.get("/api/v1/approvals")
    async def approvals(request: web.Request) -> web.Response:
        return _page(request, _where(data["approvals"], request, status="status"))

    @routes.get("/api/v1/approvals/{id}")
    async def approval(request: web.Request) -> web.Response:
        return web.json_response(_one(data["approvals"], "id", request.match_info["id"]))

    @routes.get("/api/v1/kv")
    async def namespaces(request: web.Request) -> web.Response:
        return _page(request, [{"namespace": ns, "keys": len(entries)} for ns, entries in sorted(kv.items())])

    @routes.get("/api/v1/kv/{ns}")
    async def keys(request: web.Request) -> web.Response:
        entries = kv.get(request.match_info["ns"], [])
        return _page(request, [{k: e[k] for k in ("key", "updatedAt", "expiresAt")} for e in entries])

    @routes.get("/api/v1/kv/{ns}/{key}")
    async def entry(request: web.Request) -> web.Response:
        return web.json_response(_one(kv.get(request.match_info["ns"], []), "key", request.match_info["key"]))

    @routes.get("/api/v1/triggers")
    async def triggers(request: web.Request) -> web.Response:
        return _page(request, _where(data["triggers"], request, flowId="flowId"))

    @routes.get("/api/v1/credentials")
    async def credentials(request: web.Request) -> web.Response:
        return _page(request, data["credentials"])

    @routes.get("/api/v1/plugins")
    async def plugins(request: web.Request) -> web.Response:
        return web.json_response(manifests)

    @routes.get("/api/v1/plugins/{id}")
    async def plugin(request: web.Request) -> web.Response:
        return web.json_response(_one(manifests, "id", request.match_info["id"]))

    @routes.get("/api/v1/audit")
    async def audit(request: web.Request) -> web.Response:
        return _page(request, _where(data["audit"], request, actor="actor", action="action"))

    @routes.get("/api/v1/nodes")
    async def nodes(request: web.Request) -> web.Response:
        return web.json_response(data["nodes"])

    @routes.route("*", "/{tail:.*}")
    async def read_only(request: web.Request) -> web.Response:
        message = "this is a recorded demo: nothing can change here"
        return web.json_response({"error": {"code": "read_only", "message": message, "details": []}}, status=403)

    app = web.Application()
    app.add_routes(routes)
    return app


async def _hold(ws: web.WebSocketResponse) -> web.WebSocketResponse:
    """Keep a stream open and quiet, as a server with nothing happening would."""
    async for message in ws:
        if message.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
            break
    return ws


class ReplayServer:
    """`with ReplayServer() as url:` — the data set served on a free loopback port."""

    def __init__(self, data: Json | None = None, manifests: Callable[[], list[Json]] | None = None) -> None:
        self.data = data if data is not None else load_dataset()
        self._manifests = manifests or _builtin_manifests
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="replay-server", daemon=True)
        self._runner: web.AppRunner | None = None
        self.url = ""

    def __enter__(self) -> str:
        self._thread.start()
        self.url = asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=30)
        return self.url

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(timeout=30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    async def _start(self) -> str:
        self._runner = web.AppRunner(build_app(self.data, self._manifests()), shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        return f"http://127.0.0.1:{port}"

    async def _stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


def _builtin_manifests() -> list[Json]:
    from workflowdev.plugins import build_registry

    registry = build_registry()
    return [manifest.to_json() for manifest in registry.manifests()]
