"""Which flows are followed by a flow trigger: asked at every end, read once per second at most,
and read again at once when this node changes a trigger."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

from tests.conftest import serving
from tests.engine.flows_helpers import eventually
from tests.engine.flows_helpers import save_flow
from workflowdev.engine.services.followed_flows import FollowedFlows
from workflowdev.store.database import Database

UPSTREAM = "name: upstream\ntasks:\n  - {name: a, type: util.noop}\n"
DOWNSTREAM = "name: downstream\ntasks:\n  - {name: b, type: util.noop}\n"


async def test_ends_arriving_together_share_one_read_until_it_is_stale_or_forgotten(db: Database) -> None:
    reads: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "FROM triggers" in statement:
            reads.append(statement)

    followed = FollowedFlows(db, ttl=3600)
    event.listen(Engine, "before_cursor_execute", seen)
    try:
        answers = await asyncio.gather(*(followed.includes(f"flow-{i}") for i in range(50)))
        assert answers == [False] * 50 and len(reads) == 1
        await followed.includes("flow-0")
        assert len(reads) == 1  # still fresh
        followed.forget()
        await followed.includes("flow-0")
        assert len(reads) == 2
    finally:
        event.remove(Engine, "before_cursor_execute", seen)


async def test_a_trigger_made_on_this_node_is_followed_from_the_next_end(make_settings: Any) -> None:
    # No scheduler role, so no sweep to make up for a stale answer; and an answer that would
    # otherwise stay fresh for an hour: only the trigger's own invalidation can fire this.
    async with serving(make_settings(roles=("api", "worker"))) as api:
        api.runtime.engine.triggers._followed.ttl = 3600  # noqa: SLF001 - see above
        upstream = await save_flow(api, UPSTREAM)
        downstream = await save_flow(api, DOWNSTREAM)
        first = await api.post(f"/api/v1/flows/{upstream}/execute")
        assert first.status == 201
        await eventually(lambda: _ended(api, first.body["executionId"]), what="the first upstream end")
        trigger = {"flowId": downstream, "type": "flow", "config": {"upstreamFlowId": upstream}}
        assert (await api.post("/api/v1/triggers", json=trigger)).status == 201
        second = await api.post(f"/api/v1/flows/{upstream}/execute")
        assert second.status == 201

        async def fired() -> bool:
            listed = await api.get(f"/api/v1/executions?flowId={downstream}")
            return len(listed.body) == 1

        await eventually(fired, what="the downstream execution")


async def _ended(api: Any, execution_id: str) -> bool:
    reply = await api.get(f"/api/v1/executions/{execution_id}")
    return reply.body["execution"]["status"] == "SUCCESS"
