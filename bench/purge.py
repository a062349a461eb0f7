"""Purge benchmark (not a test): 1,000,000 old log lines purged while clients read the API.

    python bench/purge.py                 # SQLite and PostgreSQL (127.0.0.1:5432, user postgres)
    python bench/purge.py sqlite 200000   # one database, fewer lines

For each database: 1,000 ended executions with 1,000 log lines each, dated 40 days ago, are
written straight through SQL (the setup, not the measure). A real server (`workflowdev server`
in its own process) then runs with `logs_days=7`: its background purge starts with the node.
Four clients read `GET /api/v1/executions?limit=50` and `/healthz` in turn the whole time.

P1  purge wall time, from the server's first answer to the purge metric counting every line   s
P2  API latency p50 / p99 / max while the purge runs                                         ms
P3  the same API latency with no purge (the same server, retention off), for comparison      ms
P4  database size before / after (SQLite: the file, once incremental vacuum ran; PG: logs)    MB
"""

from __future__ import annotations

import asyncio
import os
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
from sqlalchemy import insert
from sqlalchemy import text

from workflowdev.store.database import Database
from workflowdev.store.models import Execution
from workflowdev.store.models import Flow
from workflowdev.store.models import LogLine

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
EXECUTIONS = 1_000
CLIENTS = 4
BASELINE_SECONDS = 10.0
DEADLINE_SECONDS = 900.0
"""The longest a purge may take before the bench gives up (bounded load, always stops)."""


async def seed(url: str, lines: int) -> None:
    db = Database(url)
    await db.migrate()
    old = datetime.now(UTC) - timedelta(days=40)
    flow_id = str(uuid.uuid4())
    per_execution = lines // EXECUTIONS
    async with db.write() as conn:
        await conn.execute(
            insert(Flow.__table__),
            {"id": flow_id, "namespace": "bench", "name": "noisy", "yaml_content": "name: noisy\ntasks: []\n",
             "revision": 1, "tasks_total": 1, "created_at": old, "updated_at": old},
        )  # fmt: skip
        ids = [str(uuid.uuid4()) for _ in range(EXECUTIONS)]
        await conn.execute(
            insert(Execution.__table__),
            [{"id": e, "flow_id": flow_id, "flow_name": "noisy", "namespace": "bench", "flow_revision": 1,
              "status": "SUCCESS", "tasks_total": 1, "tasks_executed": 1, "inputs": {}, "labels": {},
              "trigger": {"type": "manual"}, "created_at": old, "started_at": old, "finished_at": old}
             for e in ids],
        )  # fmt: skip
    if db.is_sqlite:
        for start in range(0, EXECUTIONS, 50):
            rows = [
                {"execution_id": e, "seq": s, "ts": old, "level": "info", "message": f"processed record {s} of {e[:8]}: ok"}
                for e in ids[start : start + 50]
                for s in range(1, per_execution + 1)
            ]
            async with db.write() as conn:
                await conn.execute(insert(LogLine.__table__), rows)
    else:
        async with db.write() as conn:
            await conn.execute(
                text(
                    "INSERT INTO logs (execution_id, seq, ts, level, message) "
                    "SELECT e.id, s, :old, 'info', 'processed record ' || s || ' of ' || left(e.id, 8) || ': ok' "
                    "FROM executions e CROSS JOIN generate_series(1, :n) AS s"
                ),
                {"old": old, "n": per_execution},
            )
            await conn.execute(text("ANALYZE"))
    await db.close()


async def size_mb(url: str, data_dir: Path) -> float:
    if url.startswith("sqlite"):
        path = data_dir / "bench.db"
        return sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists()) / 1e6
    conn = await asyncpg.connect(url)
    try:
        return float(await conn.fetchval("SELECT pg_total_relation_size('logs')")) / 1e6
    finally:
        await conn.close()


async def space_given_back(url: str, data_dir: Path) -> None:
    """SQLite: wait (up to a minute) for the pass's incremental vacuum to empty the free list,
    which it does after the purge metric has counted the pass, so that P4 shows it."""
    if not url.startswith("sqlite"):
        return
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with sqlite3.connect(data_dir / "bench.db") as conn:
            if conn.execute("PRAGMA freelist_count").fetchone()[0] < 1000:
                return
        await asyncio.sleep(0.5)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(url: str, data_dir: Path, port: int, retention: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "WORKFLOWDEV_RETENTION": retention, "WORKFLOWDEV_RETENTION_INTERVAL": "3600"}
    command = [sys.executable, "-m", "workflowdev.cli", "server", "--port", str(port), "--db", url]
    return subprocess.Popen([*command, "--data-dir", str(data_dir)], env=env, stdout=subprocess.DEVNULL)


async def wait_ready(session: aiohttp.ClientSession, base: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            async with session.get(f"{base}/healthz") as reply:
                if reply.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.05)
    raise RuntimeError("the server did not start")


async def purged_lines(session: aiohttp.ClientSession, base: str) -> float:
    async with session.get(f"{base}/metrics") as reply:
        for line in (await reply.text()).splitlines():
            if line.startswith('workflowdev_purged_total{kind="logs"}'):
                return float(line.split()[-1])
    return 0.0


async def hammer(session: aiohttp.ClientSession, base: str, done: asyncio.Event, latencies: list[float]) -> None:
    paths = ("/api/v1/executions?limit=50", "/healthz")
    n = 0
    while not done.is_set():
        started = time.perf_counter()
        async with session.get(base + paths[n % 2]) as reply:
            await reply.read()
            assert reply.status == 200, reply.status
        latencies.append((time.perf_counter() - started) * 1000)
        n += 1


async def measure(url: str, data_dir: Path, lines: int, retention: str) -> dict[str, Any]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = start_server(url, data_dir, port, retention)
    latencies: list[float] = []
    try:
        async with aiohttp.ClientSession() as session:
            await wait_ready(session, base)
            started = time.monotonic()
            done = asyncio.Event()
            clients = [asyncio.create_task(hammer(session, base, done, latencies)) for _ in range(CLIENTS)]
            limit = BASELINE_SECONDS if not retention else DEADLINE_SECONDS
            while time.monotonic() - started < limit:
                if retention and await purged_lines(session, base) >= lines:
                    break
                await asyncio.sleep(0.2)
            wall = time.monotonic() - started
            done.set()
            await asyncio.gather(*clients)
            if retention:
                await space_given_back(url, data_dir)
    finally:
        server.terminate()
        server.wait(30)
    ordered = sorted(latencies)
    return {
        "wall": wall,
        "requests": len(ordered),
        "p50": statistics.median(ordered),
        "p99": ordered[int(len(ordered) * 0.99) - 1],
        "max": ordered[-1],
    }


async def bench(kind: str, lines: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        name = f"workflowdev_bench_{uuid.uuid4().hex[:8]}"
        if kind == "sqlite":
            url = f"sqlite:///{data_dir / 'bench.db'}"
        else:
            admin = await asyncpg.connect(PG_ADMIN)
            await admin.execute(f'CREATE DATABASE "{name}"')
            await admin.close()
            url = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
        try:
            seeding = time.monotonic()
            await seed(url, lines)
            before = await size_mb(url, data_dir)
            print(f"{kind}: {lines:,} lines seeded in {time.monotonic() - seeding:.0f} s, {before:,.0f} MB", flush=True)
            quiet = await measure(url, data_dir, lines, "")
            busy = await measure(url, data_dir, lines, "logs_days=7")
            after = await size_mb(url, data_dir)
        finally:
            if kind == "postgres":
                admin = await asyncpg.connect(PG_ADMIN)
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                await admin.close()
    unfinished = " - NOT FINISHED at the deadline" if busy["wall"] >= DEADLINE_SECONDS else ""
    print(f"{kind}: P1 purge {busy['wall']:.1f} s ({lines / busy['wall']:,.0f} lines/s){unfinished}")
    for label, m in (("P2 during the purge", busy), ("P3 no purge", quiet)):
        print(f"{kind}: {label}: p50 {m['p50']:.1f} ms, p99 {m['p99']:.1f} ms, max {m['max']:.0f} ms ({m['requests']:,} requests)")
    print(f"{kind}: P4 size {before:,.0f} MB -> {after:,.0f} MB", flush=True)


def main() -> None:
    kinds = [sys.argv[1]] if len(sys.argv) > 1 else ["sqlite", "postgres"]
    lines = int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000
    for kind in kinds:
        asyncio.run(bench(kind, lines))


if __name__ == "__main__":
    main()
