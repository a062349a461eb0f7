"""Two nodes on one PostgreSQL: an API node that runs nothing, and a worker that polls rarely.

Whatever reaches the worker within a few seconds can only have come through NOTIFY: its poll
is 30 s and its lease 60 s (renewals, where it would notice a cancel, every 20 s).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.conftest import Api
from tests.engine.flows_helpers import detail
from tests.engine.flows_helpers import eventually
from tests.engine.flows_helpers import save_flow
from tests.engine.flows_helpers import start
from tests.engine.flows_helpers import tasks_by_name
from tests.engine.flows_helpers import wait_status
from tests.support_plugins import registry_with_test_plugins
from workflowdev.config import Settings
from workflowdev.runtime import Runtime

pytestmark = pytest.mark.postgres
PROMPTLY = 10.0
"""Seconds within which a hint must have worked: well before the worker's 30 s poll."""


@dataclass
class Pair:
    api: Api
    """The API node (roles: api): where the tests call."""
    worker: Runtime
    """The worker node (roles: worker): where everything runs."""


async def _listening(runtime: Runtime) -> bool:
    return runtime.engine is not None and runtime.engine.cluster.listening


@pytest.fixture
async def pair(cluster_db: str, tmp_path: Path) -> AsyncIterator[Pair]:
    def node(name: str, roles: tuple[str, ...]) -> Runtime:
        settings = Settings(
            host="127.0.0.1",
            port=0,
            data_dir=tmp_path / name,
            database_url=cluster_db,
            roles=roles,
            poll_interval=30.0,
            lease_seconds=60.0,
        )
        return Runtime(settings, registry=registry_with_test_plugins())

    front, worker = node("front", ("api",)), node("worker", ("worker",))
    await front.start()
    await worker.start()
    try:
        for runtime in (front, worker):
            await eventually(lambda runtime=runtime: _listening(runtime), what="LISTEN to be up")
        async with aiohttp.ClientSession() as session:
            yield Pair(Api(front.base_url, session, front), worker)
    finally:
        await worker.stop()
        await front.stop()


async def test_work_queued_on_the_api_node_wakes_the_worker(pair: Pair) -> None:
    flow_id = await save_flow(
        pair.api, "name: hello\ntasks:\n  - {name: hi, type: util.log, properties: {message: hi}}\n"
    )
    body = await wait_status(pair.api, await start(pair.api, flow_id), timeout=PROMPTLY)
    assert body["execution"]["status"] == "SUCCESS"
    nodes = {node["id"]: node for node in (await pair.api.get("/api/v1/nodes")).body}
    worker_id = pair.worker.engine.settings.node_id  # type: ignore[union-attr]
    assert nodes[worker_id]["roles"] == ["worker"] and nodes[worker_id]["alive"]
    assert len(nodes) == 2


async def test_the_api_node_streams_events_and_logs_of_an_execution_on_the_worker(pair: Pair) -> None:
    big = "x" * 20_000  # bigger than a NOTIFY payload: travels by reference, arrives whole
    flow_id = await save_flow(
        pair.api,
        f"""
name: chatty
tasks:
  - {{name: first, type: util.log, properties: {{message: one}}}}
  - {{name: nap, type: util.sleep, properties: {{duration: 300ms}}}}
  - {{name: big, type: util.log, properties: {{message: "{big}"}}}}
""",
    )
    session = pair.api.session
    async with asyncio.timeout(2 * PROMPTLY), session.ws_connect(f"{pair.api.base_url}/api/v1/events") as events:
        execution_id = await start(pair.api, flow_id)
        async with session.ws_connect(f"{pair.api.base_url}/api/v1/executions/{execution_id}/logs") as logs:
            lines = [message async for message in _json_messages(logs)]
        seen: list[dict[str, Any]] = []
        async for event in _json_messages(events):
            seen.append(event)
            if event["type"] == "execution.updated" and event["data"]["status"] == "SUCCESS":
                break
    assert lines[-1] == {"type": "end", "status": "SUCCESS"}
    messages = [line["message"] for line in lines if line["type"] == "log"]
    assert "one" in messages and big in messages
    finished = {e["data"]["taskName"] for e in seen if e["type"] == "task.updated" and e["data"]["status"] == "SUCCESS"}
    assert finished == {"first", "nap", "big"}
    assert all(e["executionId"] == execution_id for e in seen)


async def test_approving_on_the_api_node_resumes_on_the_worker(pair: Pair) -> None:
    flow_id = await save_flow(
        pair.api,
        "name: gated\ntasks:\n  - {name: gate, type: flow.approval, properties: {message: go?}}\n"
        "  - {name: after, type: util.log, properties: {message: approved}}\n",
    )
    execution_id = await start(pair.api, flow_id)
    await wait_status(pair.api, execution_id, {"PAUSED"}, timeout=PROMPTLY)
    (approval,) = (await pair.api.get(f"/api/v1/approvals?status=PENDING&executionId={execution_id}")).body
    assert (await pair.api.post(f"/api/v1/approvals/{approval['id']}/approve", json={})).status == 200
    body = await wait_status(pair.api, execution_id, timeout=PROMPTLY)
    assert body["execution"]["status"] == "SUCCESS"
    assert [run["status"] for run in tasks_by_name(body)["after"]] == ["SUCCESS"]


async def test_cancelling_on_the_api_node_stops_the_task_on_the_worker(pair: Pair) -> None:
    flow_id = await save_flow(
        pair.api, "name: long\ntasks:\n  - {name: nap, type: util.sleep, properties: {duration: 60s}}\n"
    )
    execution_id = await start(pair.api, flow_id)

    async def napping() -> bool:
        return any(t["status"] == "RUNNING" for t in (await detail(pair.api, execution_id))["tasks"])

    await eventually(napping, timeout=PROMPTLY, what="the nap to be running on the worker")
    reply = await pair.api.post(f"/api/v1/executions/{execution_id}/cancel")
    assert reply.status == 200
    body = await wait_status(pair.api, execution_id, timeout=PROMPTLY)
    assert body["execution"]["status"] == "CANCELLED"
    assert [run["status"] for run in tasks_by_name(body)["nap"]] == ["CANCELLED"]


async def _json_messages(ws: aiohttp.ClientWebSocketResponse) -> AsyncIterator[dict[str, Any]]:
    async for message in ws:
        assert message.type == aiohttp.WSMsgType.TEXT, message
        yield message.json()
