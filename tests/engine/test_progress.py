"""tasksExecuted while an execution runs: written as tasks end, at most every half second."""

from __future__ import annotations

import math
import time

from tests.conftest import Api
from tests.engine.flows_helpers import detail
from tests.engine.flows_helpers import eventually
from tests.engine.flows_helpers import save_flow
from tests.engine.flows_helpers import start
from tests.engine.flows_helpers import wait_status
from workflowdev.engine.events import EXECUTION_UPDATED
from workflowdev.engine.run.runner import PROGRESS_INTERVAL

SLOW = """
name: counted
tasks:
  - {name: one, type: util.noop}
  - {name: two, type: util.noop}
  - {name: nap, type: util.sleep, properties: {duration: 30s}}
  - {name: four, type: util.noop}
"""


async def test_the_count_is_live_in_the_row_and_in_the_events(api: Api) -> None:
    execution_id = await start(api, await save_flow(api, SLOW))

    async def counted_two() -> bool:
        execution = (await detail(api, execution_id))["execution"]
        return execution["status"] == "RUNNING" and execution["tasksExecuted"] == 2

    await eventually(counted_two, what="tasksExecuted 2 while the nap runs")
    cancelled = await api.post(f"/api/v1/executions/{execution_id}/cancel")
    assert cancelled.status in (200, 202), cancelled.body
    ended = await wait_status(api, execution_id)
    assert ended["execution"]["status"] == "CANCELLED"


async def test_quick_tasks_cost_a_progress_write_per_interval_not_per_task(api: Api) -> None:
    quick = "name: quick\ntasks:\n" + "".join(f"  - {{name: t{i}, type: util.noop}}\n" for i in range(40))
    flow_id = await save_flow(api, quick)
    engine = api.runtime.engine
    assert engine is not None
    events = engine.bus.subscribe(types=[EXECUTION_UPDATED])
    began = time.monotonic()
    execution_id = await start(api, flow_id)
    ended = await wait_status(api, execution_id)
    took = time.monotonic() - began
    running = []
    while (event := await events.get(timeout=0.1)) is not None:
        if event.execution_id == execution_id and event.data["status"] == "RUNNING":
            running.append(event.data["tasksExecuted"])
    events.close()
    assert ended["execution"]["tasksExecuted"] == 40
    assert running == sorted(running) and running[0] == 0  # the start, then counts that only grow
    assert len(running) <= 1 + math.floor(took / PROGRESS_INTERVAL), (running, took)
