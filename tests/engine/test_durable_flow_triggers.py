"""A flow trigger survives its node dying between the upstream end and the firing: kill -9 at
that exact step (a failpoint), restart, and the downstream flow starts exactly once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp

from tests.cluster.processes import NodeProcess
from tests.cluster.processes import call_json
from tests.engine.flows_helpers import eventually

UPSTREAM = "name: upstream\ntasks:\n  - {name: a, type: util.noop}\n"
DOWNSTREAM = "name: downstream\ntasks:\n  - name: b\n    type: util.echo\n    properties: {value: '{{ trigger.execution.id }}'}\n"


async def test_kill_9_between_an_end_and_its_flow_trigger_fires_once_after_restart(
    tmp_path: Path, database_url: str, http_session: aiohttp.ClientSession
) -> None:
    data = tmp_path / "data"
    dying = NodeProcess(data, database_url, env={"WORKFLOWDEV_FAILPOINTS": "flow-trigger.before-fire"})
    await dying.start()
    try:
        upstream = (await call_json(http_session, "POST", f"{dying.url}/api/v1/flows", json={"yamlContent": UPSTREAM}))["id"]
        downstream = (await call_json(http_session, "POST", f"{dying.url}/api/v1/flows", json={"yamlContent": DOWNSTREAM}))["id"]
        trigger = {"flowId": downstream, "type": "flow", "config": {"upstreamFlowId": upstream}}
        await call_json(http_session, "POST", f"{dying.url}/api/v1/triggers", json=trigger)
        started = await call_json(http_session, "POST", f"{dying.url}/api/v1/flows/{upstream}/execute")
        assert await dying.proc.wait() == -9  # type: ignore[union-attr]  # the failpoint, right after the end
    finally:
        if dying.proc and dying.proc.returncode is None:
            dying.kill()

    for restart in range(2):  # the second restart must not fire it again
        node = NodeProcess(data, database_url)
        await node.start()
        try:
            ended = await call_json(http_session, "GET", f"{node.url}/api/v1/executions/{started['executionId']}")
            assert ended["execution"]["status"] == "SUCCESS"

            async def fired(node: NodeProcess = node) -> list[dict[str, Any]] | None:
                found = await call_json(http_session, "GET", f"{node.url}/api/v1/executions?flowId={downstream}")
                return found if found and all(e["status"] == "SUCCESS" for e in found) else None

            children = await eventually(fired, timeout=30, what="the downstream execution")
            again = await call_json(http_session, "POST", f"{node.url}/api/v1/flows/{upstream}/execute")

            async def next_fired(node: NodeProcess = node, known: int = len(children)) -> list[dict[str, Any]] | None:
                found = await call_json(http_session, "GET", f"{node.url}/api/v1/executions?flowId={downstream}")
                return found if len(found) == known + 1 and all(e["status"] == "SUCCESS" for e in found) else None

            children = await eventually(next_fired, timeout=30, what="the next downstream execution")
        finally:
            await node.stop()
        by_upstream = [c["trigger"]["execution"]["id"] for c in children]
        assert by_upstream.count(started["executionId"]) == 1, (restart, by_upstream)
        assert again["executionId"] in by_upstream and len(by_upstream) == len(set(by_upstream)) == 2 + restart
