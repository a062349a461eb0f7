"""A node that loses its database: not ready while it is away, back to work when it returns.

The database is taken away from this one node only, by cutting a TCP proxy between them: the
machine's PostgreSQL stays up for every other test. (The real restart is in test_three_nodes.)
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy.engine import make_url

from tests.conftest import Api
from tests.engine.flows_helpers import eventually
from tests.engine.flows_helpers import save_flow
from tests.engine.flows_helpers import start
from tests.engine.flows_helpers import wait_status
from tests.support_plugins import registry_with_test_plugins
from workflowdev.config import Settings
from workflowdev.runtime import Runtime

pytestmark = pytest.mark.postgres


class CuttableLink:
    """A TCP proxy to PostgreSQL that can be cut (every connection dropped, new ones refused)."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def open(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._writers.update((writer, up_writer))
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        self._writers.difference_update((writer, up_writer))

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.transport.abort()


@pytest.fixture
async def link(cluster_db: str) -> AsyncIterator[tuple[CuttableLink, str]]:
    url = make_url(cluster_db)
    proxy = CuttableLink(url.host or "127.0.0.1", url.port or 5432)
    await proxy.open()
    yield proxy, url.set(port=proxy.port).render_as_string(hide_password=False)
    with contextlib.suppress(Exception):
        await proxy.cut()


async def test_a_node_without_its_database_is_not_ready_then_recovers(
    link: tuple[CuttableLink, str], tmp_path: Path
) -> None:
    proxy, url = link
    settings = Settings(host="127.0.0.1", port=0, data_dir=tmp_path / "node", database_url=url, lease_seconds=3)
    runtime = Runtime(settings, registry=registry_with_test_plugins())
    await runtime.start()
    try:
        async with aiohttp.ClientSession() as session:
            api = Api(runtime.base_url, session, runtime)
            assert (await api.get("/readyz")).status == 200
            flow_id = await save_flow(
                api, "name: hi\ntasks:\n  - {name: hi, type: util.log, properties: {message: hi}}\n"
            )

            await proxy.cut()
            reply = await api.get("/readyz")
            assert reply.status == 503 and reply.error["code"] == "unavailable"
            assert (await api.post(f"/api/v1/flows/{flow_id}/execute")).status == 503
            assert (await api.get("/healthz")).status == 200  # alive, only not ready

            async def listener_lost() -> bool:
                return runtime.engine is not None and not runtime.engine.cluster.listening

            await eventually(listener_lost, what="the node to notice the LISTEN connection is gone")

            await proxy.open()

            async def ready() -> bool:
                return (await api.get("/readyz")).status == 200

            await eventually(ready, what="readiness once the database is back")
            body = await wait_status(api, await start(api, flow_id))
            assert body["execution"]["status"] == "SUCCESS"

            async def listening() -> bool:
                return runtime.engine is not None and runtime.engine.cluster.listening

            await eventually(listening, what="LISTEN to be up again")
    finally:
        await runtime.stop()
