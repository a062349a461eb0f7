"""`GET /api/v1/nodes`: the node registry, as the console's nodes view reads it."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import insert

from tests.conftest import Api
from tests.engine.flows_helpers import eventually
from tests.engine.flows_helpers import save_flow
from tests.engine.flows_helpers import start
from tests.engine.flows_helpers import wait_status
from workflowdev.engine.clock import utcnow
from workflowdev.store.models import Node

SLEEPY = """
name: sleepy
tasks:
  - name: nap
    type: util.sleep
    properties: {duration: 30s}
"""


async def test_the_node_lists_itself_with_its_running_executions(api: Api) -> None:
    engine = api.runtime.engine
    assert engine is not None
    reply = await api.get("/api/v1/nodes")
    assert reply.status == 200, reply.body
    (node,) = reply.body
    assert node["id"] == engine.settings.node_id
    assert node["address"] == api.base_url.removeprefix("http://")
    assert node["roles"] == ["api", "scheduler", "worker"]
    assert node["alive"] is True and node["runningExecutions"] == 0
    assert node["startedAt"].endswith("Z") and node["heartbeatAt"] >= node["startedAt"]

    execution_id = await start(api, await save_flow(api, SLEEPY))
    await wait_status(api, execution_id, {"RUNNING"})

    async def running_one() -> bool:
        return (await api.get("/api/v1/nodes")).body[0]["runningExecutions"] == 1

    await eventually(running_one, what="the node to count its running execution")
    assert (await api.post(f"/api/v1/executions/{execution_id}/cancel")).status == 200
    assert (await api.get("/api/v1/nodes")).body[0]["runningExecutions"] == 0


async def test_a_node_that_stopped_beating_is_shown_not_alive(api: Api) -> None:
    assert api.runtime.db is not None
    now = utcnow()
    async with api.runtime.db.write() as conn:
        await conn.execute(
            insert(Node.__table__).values(
                id="gone-node",
                address="10.0.0.9:8080",
                roles=["worker"],
                version="0.0.1",
                started_at=now - timedelta(minutes=10),
                heartbeat_at=now - timedelta(minutes=2),
            )
        )
    nodes = {node["id"]: node for node in (await api.get("/api/v1/nodes")).body}
    assert nodes["gone-node"]["alive"] is False
    assert nodes["gone-node"]["roles"] == ["worker"]
    assert nodes[api.runtime.engine.settings.node_id]["alive"] is True  # type: ignore[union-attr]


async def test_a_node_forgets_nodes_silent_for_an_hour(api: Api) -> None:
    assert api.runtime.db is not None and api.runtime.engine is not None
    now = utcnow()
    async with api.runtime.db.write() as conn:
        await conn.execute(
            insert(Node.__table__).values(
                id="long-gone",
                address=None,
                roles=["api"],
                version="0.0.1",
                started_at=now - timedelta(days=2),
                heartbeat_at=now - timedelta(hours=2),
            )
        )
    await api.runtime.engine.nodes.beat()
    assert [node["id"] for node in (await api.get("/api/v1/nodes")).body] == [api.runtime.engine.settings.node_id]
