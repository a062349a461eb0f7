"""Cluster benchmark (not a test): executions/s with one, two and three worker nodes.

    python bench/cluster.py                      # the machine's PostgreSQL, 600 executions
    python bench/cluster.py --pg postgresql://postgres@127.0.0.1/postgres --executions 1000

For each N in 1, 2, 3: a scratch PostgreSQL database, one `workflowdev server --roles api`
node that runs nothing, and N `workflowdev worker` nodes. This process posts M executions of a
3-task flow to the API node as fast as it answers (16 at a time), and the clock stops when the
database says all M ended. The API node queues every execution unleased and announces it with
NOTIFY, so each one goes through a claim (`FOR UPDATE SKIP LOCKED`) on some worker.

Every node is its own process on this machine: with few cores, more nodes contend for CPU
rather than add it; the figure says what the coordination costs as much as what it buys.
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
from pathlib import Path

import aiohttp
import asyncpg

THREE = "name: bench\ntasks:\n" + "".join(
    f"  - name: t{i}\n    type: util.echo\n    properties: {{value: {i}}}\n" for i in range(3)
)
CONCURRENT_POSTS = 16


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


async def one_run(admin_url: str, workers: int, count: int) -> float:
    """Executions/s of `count` executions on `workers` worker nodes and one API node."""
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
                began = time.perf_counter()
                await asyncio.gather(*(post() for _ in range(count)))
                ended = (
                    "SELECT count(*) FROM executions WHERE status IN ('SUCCESS', 'FAILED', 'CANCELLED', 'TIMED_OUT')"
                )
                while await db.fetchval(ended) < count:
                    await asyncio.sleep(0.02)
                elapsed = time.perf_counter() - began
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
    return count / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pg", metavar="URL", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--executions", type=int, default=600)
    parser.add_argument("--repeat", type=int, default=3, help="runs per node count; the median is reported")
    args = parser.parse_args()
    print(f"{args.executions} executions of a 3-task flow; one API node plus N workers; {os.cpu_count()} CPUs")
    print("| worker nodes | executions/s (median) | runs |")
    print("|---:|---:|---|")
    for workers in (1, 2, 3):
        rates = sorted(asyncio.run(one_run(args.pg, workers, args.executions)) for _ in range(args.repeat))
        runs = ", ".join(f"{rate:.0f}" for rate in rates)
        print(f"| {workers} | {rates[len(rates) // 2]:.0f} | {runs} |", flush=True)


if __name__ == "__main__":
    main()
