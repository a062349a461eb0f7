"""The catalogue: every example of every built-in manifest runs for real through the engine,
and every task's outputs match its manifest's outputSchema.

The examples are the documentation users copy, so they must work as written. They run against
what this machine has: the local servers (PostgreSQL, MariaDB, Redis, RabbitMQ, Mosquitto,
NATS) through credentials, a local HTTP server standing in for `example.test`, and a files root
holding the few files examples read.
"""

from __future__ import annotations

import io
import json
import shutil
import tarfile
import uuid
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import asyncpg
import pytest
import pytest_asyncio
import yaml
from aiohttp import web
from jsonschema import Draft202012Validator

from tests.conftest import Api
from tests.engine.flows_helpers import wait_status
from tests.plugins.test_notify import start_mail_server
from tests.plugins.test_ssh import start_ssh_server
from workflowdev.config import Settings
from workflowdev.plugins import builtin_plugins
from workflowdev.runtime import Runtime

EXAMPLE_TABLE = (
    "CREATE TABLE IF NOT EXISTS workflowdev_example_orders (id SERIAL PRIMARY KEY, customer TEXT NOT NULL, "
    "amount NUMERIC(10,2) NOT NULL, created_at TIMESTAMPTZ NOT NULL DEFAULT now())"
)
"""The table the db.* examples work on, in the database of PG_URL."""

EXAMPLES = [
    pytest.param(plugin.manifest.id, index, example, id=f"{plugin.manifest.id}#{index}")
    for plugin in builtin_plugins()
    for index, example in enumerate(plugin.manifest.examples)
]
CREDENTIALS = {
    "PG_URL": "postgresql://postgres@127.0.0.1:5432/postgres",
    "MYSQL_URL": "mysql://root@127.0.0.1:3306/test",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    "AMQP_URL": "amqp://guest:guest@127.0.0.1:5672/",
    "MQTT_URL": "mqtt://127.0.0.1:1883",
    "NATS_URL": "nats://127.0.0.1:4222",
}
# Flows that examples of flow.subflow call, with the inputs they pass.
SUBFLOW_TARGETS = {
    ("billing", "create-invoice"): "inputs:\n  - {name: customer_id, type: integer}\n  - {name: currency, type: string}\n",
    ("default", "nightly-report"): "",
}


def _example_host() -> web.Application:
    """What `http://example.test` answers in examples."""
    app = web.Application()

    async def json_(_: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    async def text(_: web.Request) -> web.Response:
        return web.Response(text="hello")

    async def upload(request: web.Request) -> web.Response:
        fields = {}
        async for part in await request.multipart():
            fields[part.name] = len(await part.read())
        return web.json_response({"received": fields})

    async def graphql(request: web.Request) -> web.Response:
        await request.json()
        return web.json_response({"data": {"ok": True}})

    async def status(request: web.Request) -> web.Response:
        return web.Response(status=int(request.match_info["code"]), text="status")

    async def hook(request: web.Request) -> web.Response:
        await request.read()
        return web.json_response({"ok": True})

    app.router.add_get("/json", json_)
    app.router.add_get("/text", text)
    app.router.add_post("/upload", upload)
    app.router.add_post("/graphql", graphql)
    app.router.add_get("/status/{code}", status)
    app.router.add_route("*", "/hooks/{name:.*}", hook)
    return app


def _prepare_root(root: Path) -> None:
    """The files examples read: a fresh copy before each example."""
    if root.exists():
        shutil.rmtree(root)
    (root / "example_dir").mkdir(parents=True)
    (root / "example.txt").write_text("hello\n")
    (root / "example_dir" / "a.txt").write_text("a\n")
    with zipfile.ZipFile(root / "example.zip", "w") as archive:
        archive.writestr("a.txt", "a\n")
    with tarfile.open(root / "example.tar.gz", "w:gz") as archive:
        data = b"a\n"
        info = tarfile.TarInfo("a.txt")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def catalogue(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[tuple[Api, Path]]:
    base = tmp_path_factory.mktemp("catalogue")
    host = web.AppRunner(_example_host())
    await host.setup()
    site = web.TCPSite(host, "127.0.0.1", 0)
    await site.start()
    host_url = f"http://127.0.0.1:{host.addresses[0][1]}"
    root = base / "root"
    settings = Settings(
        host="127.0.0.1", port=0, data_dir=base / "data", database_url=f"sqlite:///{base / 'c.db'}", files_root=root
    )
    postgres = await asyncpg.connect(CREDENTIALS["PG_URL"])
    await postgres.execute(EXAMPLE_TABLE)
    runtime = Runtime(settings)
    await runtime.start()
    mail = await start_mail_server()
    ssh = await start_ssh_server()
    servers = {
        "HOOK_URL": f"{host_url}/hooks/generic",
        "SLACK_WEBHOOK_URL": f"{host_url}/hooks/slack",
        "DISCORD_WEBHOOK_URL": f"{host_url}/hooks/discord",
        "TEAMS_WEBHOOK_URL": f"{host_url}/hooks/teams",
        "TELEGRAM_API_URL": f"{host_url}/hooks/telegram",
        "TELEGRAM_BOT_TOKEN": "123456:test-token",
        "SMTP_URL": f"smtp://127.0.0.1:{mail.port}?security=none",
        "SSH_HOST": "127.0.0.1",
        "SSH_PORT": str(ssh.port),
        "SSH_PASSWORD": "s3cret-ssh-pass",
        "SSH_HOST_KEY": ssh.host_key_line,
    }
    async with aiohttp.ClientSession() as session:
        api = Api(runtime.base_url, session, runtime)
        for name, value in {**CREDENTIALS, **servers}.items():
            reply = await api.post("/api/v1/credentials", json={"name": name, "value": value})
            assert reply.status == 201, reply.body
        for (namespace, name), inputs in SUBFLOW_TARGETS.items():
            yaml_text = f"name: {name}\n{inputs}tasks:\n  - {{name: work, type: util.noop}}\n"
            reply = await api.post("/api/v1/flows", json={"yamlContent": yaml_text, "namespace": namespace})
            assert reply.status == 201, reply.body
        api.example_host = host_url  # type: ignore[attr-defined]
        yield api, root
    await runtime.stop()
    await host.cleanup()
    mail.listener.close()
    ssh.acceptor.close()
    await postgres.execute("DROP TABLE IF EXISTS workflowdev_example_orders")
    await postgres.close()


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize(("plugin_id", "index", "example"), EXAMPLES)
async def test_every_example_runs_and_matches_its_output_schema(
    catalogue: tuple[Api, Path], plugin_id: str, index: int, example: str
) -> None:
    api, root = catalogue
    _prepare_root(root)
    text = example.replace("http://example.test", api.example_host)  # type: ignore[attr-defined]
    tasks = yaml.safe_load(text)
    flow = {"name": f"example-{uuid.uuid4().hex[:8]}", "tasks": tasks}
    saved = await api.post("/api/v1/flows", json={"yamlContent": yaml.safe_dump(flow, sort_keys=False)})
    assert saved.status == 201, f"the example of {plugin_id} does not validate: {saved.body}"
    started = await api.post(f"/api/v1/flows/{saved.body['id']}/execute", json={})
    assert started.status == 201, started.body
    gate = plugin_id == "flow.approval"
    ends = {"PAUSED"} if gate else {"SUCCESS", "FAILED", "CANCELLED", "TIMED_OUT"}
    body = await wait_status(api, started.body["executionId"], ends, timeout=60)
    execution = body["execution"]
    if plugin_id == "flow.fail":  # it fails on purpose, with the example's message
        message = tasks[0]["properties"]["message"]
        assert execution["status"] == "FAILED" and message in execution["error"], execution
        return
    assert execution["status"] == ("PAUSED" if gate else "SUCCESS"), (execution["error"], body["tasks"])
    schema = (await api.get(f"/api/v1/plugins/{plugin_id}")).body["outputSchema"]
    validator = Draft202012Validator(schema)
    runs = [t for t in body["tasks"] if t["taskType"] == plugin_id and t["status"] == "SUCCESS"]
    assert runs or gate, f"no successful {plugin_id} run"
    for run in runs:
        outputs = json.loads(run["outputs"])
        problems = [f"{'/'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(outputs)]
        assert problems == [], f"{plugin_id} outputs break its outputSchema: {problems}"


def test_every_builtin_has_a_runnable_example() -> None:
    without = [p.manifest.id for p in builtin_plugins() if not p.manifest.examples]
    assert without == []

