"""Cluster benchmark (not a test): executions/s with one, two and three worker nodes.

    python bench/cluster.py                      # the machine's PostgreSQL, 600 executions
    python bench/cluster.py --pg postgresql://postgres@127.0.0.1/postgres --executions 1000

For each N in 1, 2, 3: a scratch PostgreSQL database, one `workflowdev server --roles api`
node that runs nothing, and N `workflowdev worker` nodes. This process posts M executions of a
3-task flow to the API node as fast as it answers (16 at a time), and the clock stops when the
database says all M ended. The API node queues every execution unleased and announces it with
NOTIFY, so each one goes through a claim (`FOR UPDATE SKIP LOCKED`) on some worker.

Every node is its own process on this machine: with few cores, more nodes contend for CPU
rather than add it; the figure says what the coordination costs as much as what it buys. So
the cost is counted too: CPU milliseconds per execution (user + system, from /proc) spent by
the API node, by the workers together, and by PostgreSQL (every `postgres` process on the
machine, so run it on a quiet one). Scale-out is sound when those stay flat as workers are added.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import secrets
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import asyncpg
from engine import cpu_seconds  # bench/engine.py

THREE = "name: bench\ntasks:\n" + "".join(
    f"  - name: t{i}\n    type: util.echo\n    properties: {{value: {i}}}\n" for i in range(3)
)
CONCURRENT_POSTS = 16


def postgres_pids() -> list[int]:
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if stat.read_text().split(" (", 1)[1].startswith("postgres)"):
                pids.append(int(stat.parent.name))
        except (OSError, IndexError):
            continue
    return pids


def cpu_of(pids: list[int]) -> float:
    return sum(cpu_seconds(pid) for pid in pids)


@dataclass
class Run:
    rate: float
    """executions/s"""
    api_ms: float
    workers_ms: float
    postgres_ms: float
    """CPU milliseconds per execution"""


async def start_node(
    command: str, data_dir: Path, database_url: str, env: dict[str, str], *args: str
) -> tuple[asyncio.subprocess.Process, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "workflowdev", command, "--port", "0", "--data-dir", str(data_dir),
        "--db", database_url, *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL, env=env,
    )  # fmt: skip
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), 60)
    match = re.search(rb"listening on (http://\S+)", line)
    assert match, line
    return proc, match.group(1).decode()


async def one_run(admin_url: str, workers: int, count: int) -> Run:
    """`count` executions on `workers` worker nodes and one API node: their rate and CPU cost."""
    name = f"workflowdev_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(admin_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = admin_url.rsplit("/", 1)[0] + "/" + name
    env = {**os.environ, "WORKFLOWDEV_LOG_LEVEL": "warning", "WORKFLOWDEV_MASTER_KEY": secrets.token_hex(32)}
    procs: list[asyncio.subprocess.Process] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            api, api_url = await start_node("server", Path(tmp) / "api", url, env, "--roles", "api")
            procs.append(api)
            for i in range(workers):
                procs.append((await start_node("worker", Path(tmp) / f"w{i}", url, env))[0])
            async with aiohttp.ClientSession() as http:
                async with http.post(f"{api_url}/api/v1/flows", json={"yamlContent": THREE}) as resp:
                    flow_id = (await resp.json())["id"]
                gate = asyncio.Semaphore(CONCURRENT_POSTS)

                async def post() -> None:
                    async with gate, http.post(f"{api_url}/api/v1/flows/{flow_id}/execute") as resp:
                        assert resp.status == 201, await resp.text()

                db = await asyncpg.connect(url)
                node_pids = [proc.pid for proc in procs]
                cpu_before = [cpu_seconds(pid) for pid in node_pids]
                pg_pids = postgres_pids()
                pg_before = cpu_of(pg_pids)
                began = time.perf_counter()
                await asyncio.gather(*(post() for _ in range(count)))
                ended = (
                    "SELECT count(*) FROM executions WHERE status IN ('SUCCESS', 'FAILED', 'CANCELLED', 'TIMED_OUT')"
                )
                while await db.fetchval(ended) < count:
                    await asyncio.sleep(0.02)
                elapsed = time.perf_counter() - began
                used = [cpu_seconds(pid) - before for pid, before in zip(node_pids, cpu_before, strict=True)]
                pg_used = cpu_of(pg_pids + [pid for pid in postgres_pids() if pid not in pg_pids]) - pg_before
                failed = await db.fetchval("SELECT count(*) FROM executions WHERE status <> 'SUCCESS'")
                assert failed == 0, f"{failed} executions did not succeed"
                await db.close()
    finally:
        for proc in procs:
            if proc.returncode is None:
                proc.terminate()
        await asyncio.gather(*(proc.wait() for proc in procs))
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    per_execution = 1000 / count
    return Run(count / elapsed, used[0] * per_execution, sum(used[1:]) * per_execution, pg_used * per_execution)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pg", metavar="URL", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--executions", type=int, default=600)
    parser.add_argument("--repeat", type=int, default=3, help="runs per node count; the median is reported")
    args = parser.parse_args()
    print(f"{args.executions} executions of a 3-task flow; one API node plus N workers; {os.cpu_count()} CPUs")
    print("| worker nodes | executions/s (median) | runs | CPU ms per execution: API node | workers | PostgreSQL |")
    print("|---:|---:|---|---:|---:|---:|")
    for workers in (1, 2, 3):
        runs = sorted((asyncio.run(one_run(args.pg, workers, args.executions)) for _ in range(args.repeat)), key=lambda r: r.rate)
        median = runs[len(runs) // 2]
        rates = ", ".join(f"{run.rate:.0f}" for run in runs)
        print(
            f"| {workers} | {median.rate:.0f} | {rates} | {median.api_ms:.2f} | {median.workers_ms:.2f} | {median.postgres_ms:.2f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
