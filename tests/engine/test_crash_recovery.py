"""kill -9 (or a clean stop) in the middle of an execution, restart, and the execution finishes
from stored state; the attempt cut short ends when its node stopped, not when the next one came."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC
from datetime import datetime
from pathlib import Path

import aiohttp
import pytest

from tests.cluster.processes import NodeProcess
from tests.engine.flows_helpers import TERMINAL
from tests.engine.flows_helpers import eventually

FLOW = """
name: crashy
tasks:
  - name: first
    type: util.echo
    properties: {value: "{{ uuid() }}"}
  - name: nap
    type: util.sleep
    properties: {duration: 3s}
  - name: last
    type: util.log
    properties: {message: "first was {{ outputs.first.value }}"}
"""


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


async def _get(session: aiohttp.ClientSession, url: str) -> dict:
    async with session.get(url) as resp:
        assert resp.status == 200
        return await resp.json()


DOWNTIME = 2.0
"""Seconds between the stop and the restart: none of it may count in the cut attempt's duration."""


def _moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.mark.parametrize("stop", ["kill -9", "SIGTERM"])
async def test_a_stop_mid_execution_then_restart_finishes_it(
    tmp_path: Path, database_url: str, session: aiohttp.ClientSession, stop: str
) -> None:
    first = NodeProcess(tmp_path / "data", database_url)
    await first.start()
    try:
        async with session.post(f"{first.url}/api/v1/flows", json={"yamlContent": FLOW}) as resp:
            flow_id = (await resp.json())["id"]
        async with session.post(f"{first.url}/api/v1/flows/{flow_id}/execute") as resp:
            assert resp.status == 201
            execution_id = (await resp.json())["executionId"]

        async def napping() -> bool:
            body = await _get(session, f"{first.url}/api/v1/executions/{execution_id}")
            return any(t["taskName"] == "nap" and t["status"] == "RUNNING" for t in body["tasks"])

        await eventually(napping, timeout=20, what="the nap task to be running")
        if stop == "kill -9":
            first.kill()
            await first.proc.wait()  # type: ignore[union-attr]
        else:
            await first.stop()
        stopped_at = datetime.now(UTC)
    finally:
        if first.proc and first.proc.returncode is None:
            first.kill()
    await asyncio.sleep(DOWNTIME)  # the outage itself, not a wait for something to happen

    second = NodeProcess(tmp_path / "data", database_url)
    await second.start()
    try:
        async def finished() -> dict | None:
            body = await _get(session, f"{second.url}/api/v1/executions/{execution_id}")
            return body if body["execution"]["status"] in TERMINAL else None

        body = await eventually(finished, timeout=30, what="the execution to finish after the restart")
        logs = await _get(session, f"{second.url}/api/v1/executions/{execution_id}/logs")
    finally:
        await second.stop()

    assert body["execution"]["status"] == "SUCCESS", body["execution"]
    runs: dict[str, list[dict]] = {}
    for task in body["tasks"]:
        runs.setdefault(task["taskName"], []).append(task)
    assert [r["status"] for r in runs["first"]] == ["SUCCESS"]  # finished before the crash: not run again
    nap = sorted(runs["nap"], key=lambda r: r["attempt"])
    assert [(r["attempt"], r["status"]) for r in nap] == [(1, "CANCELLED"), (2, "SUCCESS")]
    assert "interrupted" in nap[0]["error"]
    cut_short, started = _moment(nap[0]["finishedAt"]), _moment(nap[0]["startedAt"])
    assert started <= cut_short <= stopped_at, "the attempt ended when its node stopped, before the restart"
    shown = (cut_short - started).total_seconds() * 1000  # from times shown to the millisecond
    assert abs(nap[0]["durationMs"] - shown) <= 1
    if stop == "SIGTERM":
        assert (stopped_at - cut_short).total_seconds() < DOWNTIME, "a clean stop says when the work ended"
    assert [r["status"] for r in runs["last"]] == ["SUCCESS"]
    assert body["execution"]["tasksExecuted"] == 3
    # the resumed run saw the outputs recorded before the crash
    first_value = json.loads(runs["first"][0]["outputs"])["value"]
    assert any(line["message"] == f"first was {first_value}" for line in logs)
