"""Foreach benchmark (not a test): can one server run a loop of 100,000 items and stay up?

    python bench/foreach.py                          # 100,000 items, concurrency 1 and 50, SQLite
    python bench/foreach.py --items 20000 --concurrency 1 --concurrency 8

F   one execution on a `workflowdev server` process (SQLite in a fresh temp dir): a util.echo
    makes the list `range(N)`, then a flow.foreach runs a util.echo on every element.
    wall s          from sending POST /execute until the list of executions shows it ended
    tasks/s         task runs recorded (N + 2) per second of wall time
    peak RSS MB     the server's high-water mark (VmHWM in /proc/PID/status) when the run ended,
                    its resident memory before the run beside it
    /healthz ms     p50, p99 and max of GETs sent one after another (10 ms apart) during the run,
                    each with a 120 s timeout, so a stalled loop shows as latency, not as a gap
    detail          GET /executions/{id} once it ended: ms and MB of the response, and the
                    server's high-water mark after it; then the last page of 1,000 task runs
                    through GET /executions/{id}/tasks (nan where the server has no such route)

The execution is watched through `GET /executions?flowId=` (rows only, no task runs), so the
watching adds no task-sized work to the server.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
from engine import server_process  # bench/engine.py: the same server process and report
from engine import table  # bench/engine.py: the same server process and report

TERMINAL = {"SUCCESS", "FAILED", "CANCELLED", "TIMED_OUT"}


def loop_flow(items: int, concurrency: int) -> str:
    return f"""
name: wide-loop
tasks:
  - name: make
    type: util.echo
    properties: {{value: "{{{{ range({items}) | list }}}}"}}
  - name: each
    type: flow.foreach
    properties:
      items: "{{{{ outputs.make.value }}}}"
      concurrency: {concurrency}
      tasks:
        - name: echo
          type: util.echo
          properties: {{value: "{{{{ item }}}}"}}
"""


def status_kb(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))] if ordered else float("nan")


async def probe(http: aiohttp.ClientSession, url: str, latencies: list[float], stop: asyncio.Event) -> None:
    """GET /healthz one after another until `stop`; every reply's latency in ms."""
    timeout = aiohttp.ClientTimeout(total=120)
    while not stop.is_set():
        began = time.perf_counter()
        async with http.get(f"{url}/healthz", timeout=timeout) as resp:
            await resp.read()
            assert resp.status == 200, resp.status
        latencies.append((time.perf_counter() - began) * 1000)
        await asyncio.sleep(0.01)


async def ended(http: aiohttp.ClientSession, url: str, flow_id: str) -> dict:
    while True:
        async with http.get(f"{url}/api/v1/executions", params={"flowId": flow_id}) as resp:
            rows = await resp.json()
        if rows and rows[0]["status"] in TERMINAL:
            return rows[0]
        await asyncio.sleep(0.1)


async def one_loop(url: str, pid: int, items: int, concurrency: int) -> dict[str, float]:
    idle = status_kb(pid, "VmRSS")
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{url}/api/v1/flows", json={"yamlContent": loop_flow(items, concurrency)}) as resp:
            flow_id = (await resp.json())["id"]
        latencies: list[float] = []
        stop = asyncio.Event()
        prober = asyncio.create_task(probe(http, url, latencies, stop))
        began = time.perf_counter()
        async with http.post(f"{url}/api/v1/flows/{flow_id}/execute") as resp:
            execution_id = (await resp.json())["executionId"]
        row = await ended(http, url, flow_id)
        wall = time.perf_counter() - began
        stop.set()
        await prober
        assert row["status"] == "SUCCESS", row
        peak = status_kb(pid, "VmHWM")
        detail_began = time.perf_counter()
        async with http.get(f"{url}/api/v1/executions/{execution_id}") as resp:
            detail = await resp.read()
        detail_ms = (time.perf_counter() - detail_began) * 1000
        page_began = time.perf_counter()
        async with http.get(f"{url}/api/v1/executions/{execution_id}/tasks", params={"offset": items - 1000, "limit": 1000}) as resp:
            page_status = resp.status
            await resp.read()
        page_ms = (time.perf_counter() - page_began) * 1000 if page_status == 200 else float("nan")
    return {
        "wall_s": wall,
        "tasks_per_s": (items + 2) / wall,
        "idle_rss_mb": idle,
        "peak_rss_mb": peak,
        "healthz_n": len(latencies),
        "healthz_p50_ms": percentile(latencies, 0.5),
        "healthz_p99_ms": percentile(latencies, 0.99),
        "healthz_max_ms": max(latencies, default=float("nan")),
        "detail_ms": detail_ms,
        "detail_mb": len(detail) / 1024 / 1024,
        "detail_peak_rss_mb": status_kb(pid, "VmHWM"),
        "page_ms": page_ms,
    }


MEASURES = [
    ("wall_s", "wall time, s"),
    ("tasks_per_s", "task runs/s"),
    ("idle_rss_mb", "server resident before, MB"),
    ("peak_rss_mb", "server peak resident (VmHWM), MB"),
    ("healthz_n", "/healthz replies during the run"),
    ("healthz_p50_ms", "/healthz p50, ms"),
    ("healthz_p99_ms", "/healthz p99, ms"),
    ("healthz_max_ms", "/healthz max, ms"),
    ("detail_ms", "GET /executions/{id} afterwards, ms"),
    ("detail_mb", "GET /executions/{id} afterwards, MB"),
    ("detail_peak_rss_mb", "server peak resident after that GET, MB"),
    ("page_ms", "GET /executions/{id}/tasks, the last 1,000 runs, ms"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=100_000, help="elements in the loop (default 100,000)")
    parser.add_argument("--concurrency", type=int, action="append", help="iterations at once (repeatable; default 1 and 50)")
    args = parser.parse_args()
    rows: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for concurrency in args.concurrency or [1, 50]:
            data_dir = Path(tmp) / f"c{concurrency}"
            data_dir.mkdir()  # the database file lives in it, and a server makes nothing before its database
            with server_process(f"sqlite:///{data_dir / 'bench.db'}", data_dir) as (url, pid):
                rows[f"concurrency {concurrency}"] = asyncio.run(one_loop(url, pid, args.items, concurrency))
    print(f"workflowdev foreach benchmark, {args.items:,} items, {time.strftime('%Y-%m-%d')}, "
          f"{os.cpu_count()} cores, Python {sys.version.split()[0]}")  # fmt: skip
    print(table(rows, MEASURES))


if __name__ == "__main__":
    main()
