"""Engine benchmark (not a test): how fast does workflowdev run small steps?

    python bench/engine.py                      # SQLite in a fresh temp dir
    python bench/engine.py --pg postgresql://postgres@127.0.0.1/postgres   # also PostgreSQL

W1  one execution of 40 sequential util.log tasks          wall ms, tasks/s
W2  one flow.parallel of 200 util.noop children             wall ms
W3  600 executions of a 3-task flow started through HTTP by 10 clients, each waiting for its
    execution's end: executions/s; then one client alone: p50/p95 start-to-finish
W4  1,000 executions parked at approval gates               extra resident MB
D   PostgreSQL only: statements, commits and pool checkouts (each a pre-ping round trip)
    per execution of the W3 flow, counted by SQLAlchemy events over 20 executions
S   `workflowdev server`: seconds until /readyz answers, idle resident MB; `--version`

Every task transition is durably recorded before an execution counts as finished: the clock
stops when the terminal event arrives, and events are published only after their commit.
For PostgreSQL a scratch database is created and dropped.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import asyncpg
from sqlalchemy import event

from workflowdev.config import Settings
from workflowdev.engine.events import EXECUTION_UPDATED
from workflowdev.engine.run.lifecycle import ENDED as TERMINAL
from workflowdev.engine.services.actor import Actor
from workflowdev.engine.services.flows import FlowService
from workflowdev.runtime import Runtime

BENCH = Actor("bench")


def rss_mb(pid: int | str = "self") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def sequential_flow(n: int) -> str:
    tasks = "".join(f"  - name: t{i}\n    type: util.log\n    properties: {{message: step {i}}}\n" for i in range(n))
    return f"name: w1\ntasks:\n{tasks}"


def parallel_flow(n: int) -> str:
    children = "".join(f"        - name: c{i}\n          type: util.noop\n" for i in range(n))
    return f"name: w2\ntasks:\n  - name: fan\n    type: flow.parallel\n    properties:\n      tasks:\n{children}"


THREE = "name: w3\ntasks:\n" + "".join(
    f"  - name: t{i}\n    type: util.echo\n    properties: {{value: {i}}}\n" for i in range(3)
)
GATE = "name: w4\ntasks:\n  - name: gate\n    type: flow.approval\n    properties: {message: ok?}\n"


async def run_once(runtime: Runtime, flow_id: str) -> float:
    """Milliseconds from start to the durable terminal event of one execution."""
    engine = runtime.engine
    assert engine is not None
    sub = engine.bus.subscribe(types=[EXECUTION_UPDATED])
    began = time.perf_counter()
    started = await engine.executions.start(flow_id, actor=BENCH)
    while True:
        event = await sub.get(timeout=60)
        assert event is not None, "no terminal event within 60 s"
        if event.execution_id == started["executionId"] and event.data.get("status") in TERMINAL:
            assert event.data["status"] == "SUCCESS", event.data
            break
    elapsed = (time.perf_counter() - began) * 1000
    sub.close()
    return elapsed


async def save(runtime: Runtime, yaml: str) -> str:
    assert runtime.db is not None
    flows = FlowService(runtime.db, runtime.registry)
    row = await flows.create(yaml_content=yaml, actor=BENCH, namespace=f"bench-{uuid.uuid4().hex[:6]}")
    return row.id


async def database_work(runtime: Runtime, count: int = 20) -> dict[str, float]:
    """What one execution asks of a shared PostgreSQL: the cost that scale-out multiplies.
    NOTIFY sends go out on the node's own LISTEN connection, batched, and are not counted."""
    assert runtime.db is not None
    flow_id = await save(runtime, THREE)
    await run_once(runtime, flow_id)
    counts = {"statements": 0, "commits": 0, "checkouts": 0}

    def counter(key: str) -> Callable[..., None]:
        def count_one(*_args: object) -> None:
            counts[key] += 1

        return count_one

    engine = runtime.db.engine.sync_engine
    listeners = [(engine, "before_cursor_execute", counter("statements")), (engine, "commit", counter("commits")),
                 (engine.pool, "checkout", counter("checkouts"))]  # fmt: skip
    for target, name, listener in listeners:
        event.listen(target, name, listener)
    try:
        for _ in range(count):
            await run_once(runtime, flow_id)
    finally:
        for target, name, listener in listeners:
            event.remove(target, name, listener)
    return {f"db_{key}": value / count for key, value in counts.items()}


async def w1_w2(runtime: Runtime, repeat: int = 7) -> dict[str, float]:
    w1 = await save(runtime, sequential_flow(40))
    w2 = await save(runtime, parallel_flow(200))
    await run_once(runtime, w1)  # warm caches: parse, templates, connections
    await run_once(runtime, w2)
    w1_ms = statistics.median([await run_once(runtime, w1) for _ in range(repeat)])
    w2_ms = statistics.median([await run_once(runtime, w2) for _ in range(repeat)])
    return {"w1_ms": w1_ms, "w1_tasks_per_s": 40 / w1_ms * 1000, "w2_ms": w2_ms}


async def w3(database_url: str, data_dir: Path, count: int = 600, clients: int = 10, alone: int = 50) -> dict[str, float]:
    """Black box: a `workflowdev server` process, this process as its HTTP clients.

    `clients` clients each start an execution and wait for its end before starting the next,
    until `count` have run: executions/s, and the server's CPU time per execution (the figure
    that does not depend on what else the machine runs). Then one client alone, `alone` times: start-to-finish
    from sending the POST to the terminal `execution.updated` on the events WebSocket, which is
    what one operator waiting on one run feels.
    """
    with server_process(database_url, data_dir) as (url, pid):
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{url}/api/v1/flows", json={"yamlContent": THREE}) as resp:
                flow_id = (await resp.json())["id"]
            execute = f"{url}/api/v1/flows/{flow_id}/execute"
            ended: dict[str, asyncio.Future[float]] = {}
            loop = asyncio.get_running_loop()

            def end_of(execution_id: str) -> asyncio.Future[float]:
                return ended.setdefault(execution_id, loop.create_future())

            async with http.ws_connect(f"{url}/api/v1/events") as ws:

                async def watch() -> None:
                    async for msg in ws:
                        event = msg.json()
                        if event["type"] == "execution.updated" and event["data"].get("status") in TERMINAL:
                            done = end_of(event["executionId"])
                            if not done.done():
                                done.set_result(time.perf_counter())

                async def one() -> float:
                    sent = time.perf_counter()
                    async with http.post(execute) as resp:
                        body = await resp.json()
                    return await asyncio.wait_for(end_of(body["executionId"]), 60) - sent

                watcher = asyncio.create_task(watch())
                try:
                    await one()  # warm-up, not counted
                    left = count

                    async def client() -> None:
                        nonlocal left
                        while left > 0:
                            left -= 1
                            await one()

                    cpu_before, began = cpu_seconds(pid), time.perf_counter()
                    await asyncio.gather(*(client() for _ in range(clients)))
                    total = time.perf_counter() - began
                    server_cpu = cpu_seconds(pid) - cpu_before
                    latencies = sorted([await one() * 1000 for _ in range(alone)])
                finally:
                    watcher.cancel()
    return {
        "w3_exec_per_s": count / total,
        "w3_server_cpu_ms": server_cpu * 1000 / count,
        "w3_p50_ms": latencies[len(latencies) // 2],
        "w3_p95_ms": latencies[int(len(latencies) * 0.95) - 1],
    }


async def w4(runtime: Runtime, count: int = 1000) -> dict[str, float]:
    flow_id = await save(runtime, GATE)
    engine = runtime.engine
    assert engine is not None
    gc.collect()
    before = rss_mb()
    sub = engine.bus.subscribe(types=[EXECUTION_UPDATED])
    for _ in range(count):
        await engine.executions.start(flow_id, actor=BENCH)
    paused = 0
    while paused < count:
        event = await sub.get(timeout=120)
        assert event is not None
        if event.data.get("status") == "PAUSED":
            paused += 1
    sub.close()
    gc.collect()
    return {"w4_extra_mb": rss_mb() - before}


TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU of one process so far (0 once it is gone), from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS


@contextlib.contextmanager
def server_process(database_url: str, data_dir: Path) -> Iterator[tuple[str, int]]:
    """A `workflowdev server` on a free port; yields its base URL and pid once /readyz answers."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "workflowdev.cli", "server", "--port", "0", "--data-dir", str(data_dir),
         "--db", database_url, "--log-level", "warning"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        # An installed package has its bytecode; this checkout gets it from the first start, even
        # where the environment says not to write it (compiling 250 modules costs every start).
        env={name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"},
    )
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        url = line.rsplit(" ", 1)[-1].strip()
        while True:
            try:
                with urllib.request.urlopen(url + "/readyz", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                time.sleep(0.01)
        yield url, proc.pid
    finally:
        proc.terminate()
        proc.wait(10)


def server_start(database_url: str, data_dir: Path, restarts: int = 5) -> dict[str, float]:
    """First start (creates the schema), then restarts on that database, as operators see them:
    the median of `restarts`, and the resident memory of the last one, idle."""
    began = time.perf_counter()
    with server_process(database_url, data_dir):
        first = time.perf_counter() - began
    readies = []
    for _ in range(restarts):
        began = time.perf_counter()
        with server_process(database_url, data_dir) as (_url, pid):
            readies.append(time.perf_counter() - began)
            time.sleep(1.0)
            idle = rss_mb(pid)
    return {"first_ready_s": first, "ready_s": statistics.median(readies), "idle_rss_mb": idle}


def version_answer(repeat: int = 5) -> dict[str, float]:
    """`workflowdev --version` from launch to exit: what every script calling the CLI pays."""
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        subprocess.run([sys.executable, "-m", "workflowdev.cli", "--version"], check=True, capture_output=True)
        times.append(time.perf_counter() - began)
    return {"version_s": statistics.median(times)}


async def bench(database_url: str, data_dir: Path) -> dict[str, float]:
    settings = Settings(host="127.0.0.1", port=0, data_dir=data_dir, database_url=database_url, log_level="warning")
    runtime = Runtime(settings)
    await runtime.start()
    try:
        results = await w1_w2(runtime)
        if not runtime.db.is_sqlite:  # SQLite's journal writes on engines of its own
            results |= await database_work(runtime)
        results |= await w4(runtime)
    finally:
        await runtime.stop()
    return results


async def scratch_postgres(admin_url: str) -> tuple[str, str]:
    name = f"workflowdev_bench_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(admin_url)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    return name, admin_url.rsplit("/", 1)[0] + "/" + name


async def drop_postgres(admin_url: str, name: str) -> None:
    conn = await asyncpg.connect(admin_url)
    await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await conn.close()


MEASURES = [
    ("w1_ms", "W1 40 sequential tasks, ms"),
    ("w1_tasks_per_s", "W1 tasks/s"),
    ("w2_ms", "W2 parallel of 200 noop, ms"),
    ("w3_exec_per_s", "W3 executions/s over HTTP, 10 clients"),
    ("w3_server_cpu_ms", "W3 server CPU per execution, ms"),
    ("w3_p50_ms", "W3 p50 start-to-finish, one client, ms"),
    ("w3_p95_ms", "W3 p95 start-to-finish, one client, ms"),
    ("w4_extra_mb", "W4 1,000 parked gates, extra MB"),
    ("db_statements", "D statements per W3 execution (PostgreSQL)"),
    ("db_commits", "D commits per W3 execution (PostgreSQL)"),
    ("db_checkouts", "D pool checkouts (pre-pings) per W3 execution"),
    ("first_ready_s", "server /readyz after first start (new schema), s"),
    ("ready_s", "server /readyz after a restart (median of 5), s"),
    ("idle_rss_mb", "server idle resident, MB"),
    ("version_s", "workflowdev --version, s"),
]


def table(rows: dict[str, dict[str, float]], measures: list[tuple[str, str]] = MEASURES) -> str:
    """A markdown table: one column per run (`rows` by name), one row per measure (key, label);
    a measure a run lacks shows as nan. bench/foreach.py prints its own measures with it."""
    names = list(rows)
    out = ["| measure | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    for key, label in measures:
        out.append(f"| {label} | " + " | ".join(f"{rows[n].get(key, float('nan')):.1f}" for n in names) + " |")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pg", metavar="URL", help="also run on PostgreSQL (an admin URL; a scratch database is used)")
    args = parser.parse_args()
    rows: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        sqlite_url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        rows["SQLite"] = asyncio.run(bench(sqlite_url, Path(tmp) / "a"))
        rows["SQLite"] |= asyncio.run(w3(f"sqlite:///{Path(tmp) / 'w3.db'}", Path(tmp) / "w3"))
        rows["SQLite"] |= server_start(f"sqlite:///{Path(tmp) / 'server.db'}", Path(tmp) / "b")
        rows["SQLite"] |= version_answer()
        if args.pg:
            name, url = asyncio.run(scratch_postgres(args.pg))
            try:
                rows["PostgreSQL"] = asyncio.run(bench(url, Path(tmp) / "c"))
                rows["PostgreSQL"] |= asyncio.run(w3(url, Path(tmp) / "w3pg"))
                rows["PostgreSQL"] |= server_start(url, Path(tmp) / "d")
            finally:
                asyncio.run(drop_postgres(args.pg, name))
    print(f"workflowdev engine benchmark, {time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    print(table(rows))


if __name__ == "__main__":
    main()
