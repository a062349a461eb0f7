"""A worker frozen past its lease (SIGSTOP) comes back (SIGCONT) after another node finished
its execution: nothing it still had in hand is recorded. The result stays the newer attempt's,
nothing is doubled, nothing finished comes back to life."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.cluster.processes import NodeProcess
from tests.cluster.processes import call_json
from tests.engine.flows_helpers import eventually

pytestmark = pytest.mark.postgres
LEASE = {"WORKFLOWDEV_LEASE_SECONDS": "2", "WORKFLOWDEV_POLL_INTERVAL": "0.5"}
FLOW = """
name: slow
tasks:
  - name: nap
    type: util.sleep
    properties: {duration: 4s}
  - name: after
    type: util.echo
    properties: {value: "{{ uuid() }}"}
"""


async def test_a_frozen_worker_cannot_overwrite_the_newer_attempt(
    cluster_db: str, tmp_path: Path, http_session: aiohttp.ClientSession
) -> None:
    first = NodeProcess(tmp_path / "first", cluster_db, env=LEASE)
    second = NodeProcess(tmp_path / "second", cluster_db, args=["--roles", "api,worker"], env=LEASE)
    await first.start()
    await second.start()
    frozen = False
    try:
        flow_id = (await call_json(http_session, "POST", f"{first.url}/api/v1/flows", json={"yamlContent": FLOW}))["id"]
        execution_id = (await call_json(http_session, "POST", f"{first.url}/api/v1/flows/{flow_id}/execute"))["executionId"]
        url = f"{second.url}/api/v1/executions/{execution_id}"

        async def napping_on_first() -> bool:
            body = await call_json(http_session, "GET", url)
            return any(t["taskName"] == "nap" and t["status"] == "RUNNING" for t in body["tasks"])

        await eventually(napping_on_first, timeout=20, what="the nap to run on the first node")
        first.proc.send_signal(signal.SIGSTOP)  # type: ignore[union-attr]
        frozen = True

        async def finished_on_second() -> dict[str, Any] | None:
            body = await call_json(http_session, "GET", url)
            return body if body["execution"]["status"] == "SUCCESS" else None

        done = await eventually(finished_on_second, timeout=60, what="the second node to finish it")
        first.proc.send_signal(signal.SIGCONT)  # type: ignore[union-attr]
        frozen = False
        log = tmp_path / "first" / "node.log"

        async def first_stopped() -> bool:  # its runner says so when its lease or write fails
            return execution_id in log.read_text()

        await eventually(first_stopped, timeout=30, what="the first node to notice it lost the lease")
        after = await call_json(http_session, "GET", url)
    finally:
        if frozen:
            first.proc.send_signal(signal.SIGCONT)  # type: ignore[union-attr]
        await first.stop()
        await second.stop()

    assert after["execution"] == done["execution"]
    assert sorted((t["taskName"], t["attempt"], t["status"]) for t in after["tasks"]) == [
        ("after", 1, "SUCCESS"),
        ("nap", 1, "CANCELLED"),  # closed as interrupted by the second node; never a late SUCCESS
        ("nap", 2, "SUCCESS"),
    ]
    assert after["tasks"] == done["tasks"]
