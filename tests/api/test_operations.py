"""Health, readiness and the OpenAPI document."""

from __future__ import annotations

import json
import re

import aiohttp
from aiohttp import web

from tests.conftest import Api
from workflowdev.api.app import RESOURCES
from workflowdev.api.app import create_app
from workflowdev.config import Settings
from workflowdev.engine.node.engine import Engine
from workflowdev.engine.node.engine import EngineSettings
from workflowdev.plugins import build_registry
from workflowdev.store.database import Database


async def test_healthz_and_readyz(api: Api) -> None:
    assert (await api.get("/healthz")).body == {"status": "ok"}
    assert (await api.get("/readyz")).body == {"status": "ready", "database": "ok"}


async def test_readyz_is_503_when_the_database_does_not_answer(tmp_path) -> None:
    # Nothing listens on port 1: the database "does not answer".
    db = Database("postgresql://postgres@127.0.0.1:1/nothing")
    registry = build_registry()
    engine = Engine(db, registry, EngineSettings(node_id="test", workdir_root=tmp_path))
    app = create_app(Settings(data_dir=tmp_path), db, registry, engine)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{port}/readyz") as resp:
                body = await resp.json()
                assert resp.status == 503 and body["error"]["code"] == "unavailable"
            async with session.get(f"http://127.0.0.1:{port}/api/v1/flows") as resp:
                body = await resp.json()
                assert resp.status == 503 and body["error"]["code"] == "unavailable"
            async with session.get(f"http://127.0.0.1:{port}/healthz") as resp:
                assert resp.status == 200
    finally:
        await runner.cleanup()
        await db.close()


async def test_openapi_documents_every_route(api: Api) -> None:
    reply = await api.get("/api/v1/openapi.json")
    assert reply.status == 200
    doc = reply.body
    assert doc["openapi"].startswith("3.1")
    documented = {(path, method) for path, ops in doc["paths"].items() for method in ops}
    served = {
        (route.resource.canonical, route.method.lower())
        for route in api.runtime.runner.app.router.routes()
        if route.method != "HEAD"
    }
    assert served == documented
    documented_names = {name for module in RESOURCES for name in module.OPERATIONS}
    assert documented_names == {op["operationId"] for ops in doc["paths"].values() for op in ops.values()}
    refs = set(re.findall(r'"#/components/schemas/(\w+)"', json.dumps(doc)))
    assert refs <= set(doc["components"]["schemas"]), refs - set(doc["components"]["schemas"])
    assert "/api/v1/flows/{id}/revisions/{rev}/restore" in doc["paths"]
