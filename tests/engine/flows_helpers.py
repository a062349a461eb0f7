"""Helpers for engine tests: save a flow, start it, wait for a condition with a deadline."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Awaitable
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.conftest import Api
from workflowdev.engine.events import EXECUTION_UPDATED

TERMINAL = {"SUCCESS", "FAILED", "CANCELLED", "TIMED_OUT"}


async def eventually(check: Callable[[], Awaitable[Any]], *, timeout: float = 20.0, what: str = "condition") -> Any:
    """Poll `check` until it returns something truthy, or fail after `timeout` seconds. The
    pause grows from 10 ms to 100 ms: most checks are API reads, and a long wait polled every
    few milliseconds costs the server under test (and the suite) more CPU than the work awaited."""
    deadline = time.monotonic() + timeout
    pause = 0.01
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(pause)
        pause = min(pause * 1.5, 0.1)


async def save_flow(api: Api, yaml: str, namespace: str | None = None) -> str:
    body = {"yamlContent": yaml}
    if namespace:
        body["namespace"] = namespace
    reply = await api.post("/api/v1/flows", json=body)
    assert reply.status == 201, reply.body
    return reply.body["id"]


async def start(api: Api, flow_id: str, inputs: dict[str, Any] | None = None) -> str:
    reply = await api.post(f"/api/v1/flows/{flow_id}/execute", json={"inputs": inputs or {}})
    assert reply.status == 201, reply.body
    assert reply.body["status"] == "QUEUED"
    return reply.body["executionId"]


async def detail(api: Api, execution_id: str) -> dict[str, Any]:
    reply = await api.get(f"/api/v1/executions/{execution_id}")
    assert reply.status == 200, reply.body
    return reply.body


async def wait_status(api: Api, execution_id: str, statuses: set[str] = TERMINAL, timeout: float = 20.0) -> dict[str, Any]:
    """The execution's detail once its status is one of `statuses`. Woken by the server's own
    events and re-read through the API, with a slow poll for what the bus does not carry (another
    node's change); polling the whole detail every few milliseconds cost more CPU than the flows."""
    deadline = time.monotonic() + timeout
    subscription = api.runtime.engine.bus.subscribe(execution_id=execution_id, types=[EXECUTION_UPDATED])
    try:
        while True:
            body = await detail(api, execution_id)
            if body["execution"]["status"] in statuses:
                return body
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"timed out waiting for execution {execution_id} to reach {sorted(statuses)}")
            event = await subscription.get(timeout=min(left, 0.5))
            while event is not None and event.data.get("status") not in statuses:
                event = await subscription.get(timeout=max(0.0, min(deadline - time.monotonic(), 0.5)))
    finally:
        subscription.close()


async def wait_all(api: Api, execution_ids: list[str], timeout: float = 20.0) -> list[dict[str, Any]]:
    """Wait for many executions with one poll of the list, not one per execution (fifty
    pollers every 20 ms would load the server more than the flows do); returns their details."""
    wanted = set(execution_ids)

    async def check() -> bool:
        reply = await api.get(f"/api/v1/executions?status={'&status='.join(sorted(TERMINAL))}&limit=1000")
        assert reply.status == 200, reply.body
        return wanted <= {e["id"] for e in reply.body}

    await eventually(check, timeout=timeout, what=f"{len(wanted)} executions to finish")
    return [await detail(api, e) for e in execution_ids]


async def run(api: Api, yaml: str, inputs: dict[str, Any] | None = None, *, timeout: float = 20.0) -> dict[str, Any]:
    """Save, start and wait for the end; returns `{execution, tasks}`. `timeout` only guards
    against a hang: a flow of thousands of tasks wants more on a busy machine."""
    return await wait_status(api, await start(api, await save_flow(api, yaml), inputs), timeout=timeout)


def tasks_by_name(body: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for task in body["tasks"]:
        out.setdefault(task["taskName"], []).append(task)
    return out


def outputs(task: dict[str, Any]) -> Any:
    return json.loads(task["outputs"]) if task["outputs"] is not None else None


async def cli(*args: str, cwd: Path | None = None) -> tuple[int, str, str]:
    """`workflowdev ARGS` as a process, without blocking the loop an in-process server runs on."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "workflowdev.cli", *args, cwd=cwd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()
