"""Three nodes on the machine's PostgreSQL: one killed with SIGKILL, the database restarted.

The promise of issue 9: 300 executions queued across three nodes all end SUCCESS, every task has
exactly one SUCCESS run, nothing is lost, and a per-second schedule fires each instant once.

The nodes share a PostgreSQL server of this test's own (`private_postgres.py`), which it restarts
once; the machine's server, which the rest of the suite uses meanwhile, is left alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import time
from collections.abc import AsyncIterator
from collections.abc import Awaitable
from collections.abc import Callable
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest

from tests.cluster.private_postgres import PrivatePostgres
from tests.cluster.processes import NodeProcess

pytestmark = pytest.mark.postgres

EXECUTIONS = 300
STEADY = """
name: steady
tasks:
  - {name: a, type: util.sleep, properties: {duration: 100ms}}
  - {name: b, type: util.sleep, properties: {duration: 200ms}}
  - {name: c, type: util.sleep, properties: {duration: 50ms}}
"""
TICKING = "name: ticking\ntasks:\n  - {name: tick, type: util.noop}\n"
NODE_ENV = {
    "WORKFLOWDEV_LEASE_SECONDS": "3",  # a dead node's executions are taken over within seconds
    "WORKFLOWDEV_POLL_INTERVAL": "0.5",
    "WORKFLOWDEV_MAX_RUNNING": "10",  # so the run lasts long enough to kill and restart in it
    "WORKFLOWDEV_MASTER_KEY": secrets.token_hex(32),  # nodes sharing a database share the key
}


async def until(check: Callable[[], Awaitable[Any]], what: str, timeout: float = 45.0) -> Any:
    """Like `eventually`, but a database or node that is away only means "not yet"."""
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(OSError, asyncpg.PostgresError, asyncpg.InterfaceError, aiohttp.ClientError):
            result = await check()
            if result:
                return result
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


class Database:
    """Reads straight from the shared database, reconnecting across its restart."""

    def __init__(self, url: str) -> None:
        self.url = url

    async def fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(self.url, timeout=5)
        try:
            return await conn.fetch(sql, *args)
        finally:
            await conn.close()

    async def count(self, sql: str, *args: Any) -> int:
        return int((await self.fetch(sql, *args))[0][0])


@pytest.fixture
async def server() -> AsyncIterator[PrivatePostgres]:
    postgres = PrivatePostgres()
    await postgres.start()
    try:
        yield postgres
    finally:
        await postgres.stop()


@pytest.fixture
async def nodes(server: PrivatePostgres, tmp_path: Path) -> AsyncIterator[list[NodeProcess]]:
    started = [NodeProcess(tmp_path / f"node{i}", server.url(), env=NODE_ENV) for i in range(3)]
    try:
        await asyncio.gather(*(node.start() for node in started))  # they migrate at once: one does
        yield started
    finally:
        await asyncio.gather(*(node.stop() for node in started), return_exceptions=True)


async def test_three_nodes_survive_a_killed_node_and_a_database_restart(
    nodes: list[NodeProcess], server: PrivatePostgres
) -> None:
    db = Database(server.url())
    async with aiohttp.ClientSession(raise_for_status=True) as http:

        async def post(node: NodeProcess, path: str, body: dict[str, Any]) -> dict[str, Any]:
            async with http.post(node.url + path, json=body) as resp:
                return await resp.json()

        steady = (await post(nodes[0], "/api/v1/flows", {"yamlContent": STEADY}))["id"]
        ticking = (await post(nodes[1], "/api/v1/flows", {"yamlContent": TICKING}))["id"]
        trigger = await post(
            nodes[2],
            "/api/v1/triggers",
            {"flowId": ticking, "type": "schedule", "config": {"cron": "* * * * * *", "catchUp": True}},
        )
        started = await asyncio.gather(
            *(post(nodes[i % 3], f"/api/v1/flows/{steady}/execute", {}) for i in range(EXECUTIONS))
        )
        ids = [s["executionId"] for s in started]

        succeeded = "SELECT count(*) FROM executions WHERE flow_id = $1 AND status = 'SUCCESS'"
        victim = nodes[2]
        held = "SELECT id FROM executions WHERE lease_owner = $1 AND status = 'RUNNING'"
        await until(lambda: db.count(succeeded, steady), "the first executions to finish")
        victim_held = await until(lambda: db.fetch(held, victim.node_id), "the victim to be running executions")
        victim.kill()
        await victim.proc.wait()  # type: ignore[union-attr]

        await until(lambda: _at_least(db.count(succeeded, steady), EXECUTIONS // 2), "half the executions to finish")
        readiness = asyncio.create_task(_readiness_during(http, nodes[0]))
        await server.restart()
        remaining_at_restart = EXECUTIONS - await until(lambda: db.count(succeeded, steady), "the database back")
        seen_statuses = await readiness

        terminal = "SELECT count(*) FROM executions WHERE flow_id = $1 AND status NOT IN ('QUEUED', 'RUNNING')"
        await until(lambda: _at_least(db.count(terminal, steady), EXECUTIONS), "every execution to end", timeout=60)
        async with http.put(f"{nodes[0].url}/api/v1/triggers/{trigger['id']}", json={"enabled": False}):
            pass

    assert remaining_at_restart > 0, "the database restarted after the run had ended"
    assert 503 in seen_statuses and seen_statuses[-1] == 200, seen_statuses
    rows = await db.fetch("SELECT id, status FROM executions WHERE flow_id = $1", steady)
    assert sorted(r["id"] for r in rows) == sorted(ids)  # nothing lost, nothing made up
    assert {r["status"] for r in rows} == {"SUCCESS"}
    assert {r["id"] for r in victim_held} <= {r["id"] for r in rows}  # taken over, and finished

    runs = await db.fetch(
        """SELECT r.execution_id, r.key, count(*) FILTER (WHERE r.status = 'SUCCESS') AS ok
           FROM task_runs r JOIN executions e ON e.id = r.execution_id
           WHERE e.flow_id = $1 GROUP BY r.execution_id, r.key""",
        steady,
    )
    assert len(runs) == 3 * EXECUTIONS
    assert [r for r in runs if r["ok"] != 1] == []

    ticks = await db.fetch("SELECT trigger FROM executions WHERE flow_id = $1", ticking)
    instants = sorted(datetime.fromisoformat(_json(r["trigger"])["scheduledAt"]) for r in ticks)
    assert len(instants) == len(set(instants)), "an instant fired twice"
    assert len(instants) >= 5
    gaps = [b - a for a, b in zip(instants, instants[1:], strict=False) if b - a != timedelta(seconds=1)]
    assert gaps == [], "an instant was skipped"


async def _at_least(count: Awaitable[int], wanted: int) -> bool:
    return await count >= wanted


async def _readiness_during(http: aiohttp.ClientSession, node: NodeProcess) -> list[int]:
    """/readyz of a node, every 50 ms, from before the restart until it is ready again after it."""
    statuses: list[int] = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        async with http.get(node.url + "/readyz", raise_for_status=False) as resp:
            statuses.append(resp.status)
        if 503 in statuses and statuses[-1] == 200:
            break
        await asyncio.sleep(0.05)
    return statuses


def _json(value: Any) -> dict[str, Any]:
    return json.loads(value) if isinstance(value, str) else value
