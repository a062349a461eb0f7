"""`/metrics`: Prometheus text that moves as executions run, labelled by route patterns."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from tests.conftest import Api
from tests.engine.flows_helpers import eventually
from tests.engine.flows_helpers import save_flow
from tests.engine.flows_helpers import start
from tests.engine.flows_helpers import wait_status
from workflowdev.engine.events import EXECUTION_UPDATED
from workflowdev.engine.events import TASK_UPDATED
from workflowdev.engine.events import Event
from workflowdev.engine.events import EventBus
from workflowdev.engine.node.metrics import EngineMetrics
from workflowdev.store.database import Database

FINE = """
name: fine
tasks:
  - name: one
    type: util.echo
    properties: {value: 1}
  - name: two
    type: util.echo
    properties: {value: 2}
"""
BROKEN = """
name: broken
tasks:
  - name: boom
    type: test.raises
"""
ONE_AT_A_TIME = """
name: one-at-a-time
concurrency: {limit: 1, behavior: queue}
tasks:
  - name: wait
    type: test.hang
"""
GATED = """
name: gated
tasks:
  - name: gate
    type: flow.approval
    properties: {message: "Go?"}
"""


async def scrape(api: Api) -> list[Sample]:
    reply = await api.get("/metrics")
    assert reply.status == 200, reply.body
    assert reply.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return [sample for family in text_string_to_metric_families(reply.body) for sample in family.samples]


def value(samples: list[Sample], name: str, **labels: str) -> float:
    """The sum of the samples called `name` whose labels include `labels` (0 when none)."""
    return sum(s.value for s in samples if s.name == name and labels.items() <= s.labels.items())


def names(samples: list[Sample]) -> set[str]:
    return {s.name for s in samples}


GAUGES = {"workflowdev_queue_depth", "workflowdev_executions_running", "workflowdev_approvals_pending"}
PROCESS = {"process_cpu_seconds_total", "process_resident_memory_bytes", "python_info"}


async def test_counters_and_task_histogram_move_as_executions_run(api: Api) -> None:
    before = await scrape(api)
    assert GAUGES <= names(before) and PROCESS <= names(before)
    assert value(before, "workflowdev_executions_total", status="SUCCESS") == 0
    assert value(before, "workflowdev_executions_total", status="FAILED") == 0

    fine = await start(api, await save_flow(api, FINE))
    broken = await start(api, await save_flow(api, BROKEN))
    assert (await wait_status(api, fine))["execution"]["status"] == "SUCCESS"
    assert (await wait_status(api, broken))["execution"]["status"] == "FAILED"

    async def moved() -> list[Sample] | None:
        samples = await scrape(api)
        ended = [value(samples, "workflowdev_executions_total", status=s) for s in ("SUCCESS", "FAILED")]
        return samples if all(ended) else None

    after = await eventually(moved, what="both executions to be counted")
    assert value(after, "workflowdev_executions_total", status="SUCCESS") == 1
    assert value(after, "workflowdev_executions_total", status="FAILED") == 1
    assert value(after, "workflowdev_task_duration_seconds_count", plugin="util.echo") == 2
    assert value(after, "workflowdev_task_duration_seconds_count", plugin="test.raises") == 1
    assert value(after, "workflowdev_task_duration_seconds_bucket", plugin="util.echo", le="+Inf") == 2
    assert value(after, "workflowdev_task_duration_seconds_bucket", plugin="util.echo", le="600.0") == 2
    assert value(after, "workflowdev_task_runs_total", plugin="util.echo", status="SUCCESS") == 2
    assert value(after, "workflowdev_task_runs_total", plugin="test.raises", status="FAILED") == 1
    assert value(after, "workflowdev_queue_depth") == 0 and value(after, "workflowdev_executions_running") == 0


async def test_http_requests_are_labelled_by_route_pattern_never_by_path(api: Api) -> None:
    flow_id = await save_flow(api, FINE)
    assert (await api.get(f"/api/v1/flows/{flow_id}")).status == 200
    assert (await api.get(f"/api/v1/flows/{flow_id}")).status == 200
    assert (await api.get("/api/v1/flows/not-a-flow")).status == 404
    assert (await api.get(f"/nowhere/{flow_id}")).status == 404
    assert (await api.call("PROPFIND", "/api/v1/flows")).status == 405

    samples = await scrape(api)
    requests = [s for s in samples if s.name == "workflowdev_http_requests_total"]
    count = {(s.labels["route"], s.labels["method"], s.labels["status"]): s.value for s in requests}
    assert count[("/api/v1/flows/{id}", "GET", "200")] == 2
    assert count[("/api/v1/flows/{id}", "GET", "404")] == 1
    assert count[("/api/v1/flows", "POST", "201")] == 1
    assert count[("unmatched", "GET", "404")] == 1
    assert count[("unmatched", "other", "405")] == 1
    assert not any(flow_id in route or "not-a-flow" in route for route, _, _ in count)

    timed = value(samples, "workflowdev_http_request_duration_seconds_count", route="/api/v1/flows/{id}", method="GET")
    assert timed == 3


async def test_gauges_show_the_backlog_and_the_runners(api: Api) -> None:
    flow_id = await save_flow(api, ONE_AT_A_TIME)
    first = await start(api, flow_id)
    await wait_status(api, first, {"RUNNING"})
    second = await start(api, flow_id)
    gated = await start(api, await save_flow(api, GATED))
    await wait_status(api, gated, {"PAUSED"})

    async def settled() -> list[Sample] | None:  # the paused execution's runner ends just after PAUSED
        samples = await scrape(api)
        return samples if value(samples, "workflowdev_executions_running") == 1 else None

    busy = await eventually(settled, what="only the hanging execution to hold a runner")
    assert value(busy, "workflowdev_queue_depth") == 1
    assert value(busy, "workflowdev_approvals_pending") == 1

    for execution_id in (second, first, gated):
        assert (await api.post(f"/api/v1/executions/{execution_id}/cancel")).status == 200
    for execution_id in (second, first, gated):
        await wait_status(api, execution_id)

    async def idle() -> list[Sample] | None:
        samples = await scrape(api)
        return samples if value(samples, "workflowdev_executions_running") == 0 else None

    after = await eventually(idle, what="the runner to go")
    assert value(after, "workflowdev_queue_depth") == 0 and value(after, "workflowdev_approvals_pending") == 0
    assert value(after, "workflowdev_executions_total", status="CANCELLED") == 3


def task_event(status: str, duration_ms: int | None, plugin: str = "util.log") -> Event:
    return Event(TASK_UPDATED, "e1", {"taskType": plugin, "status": status, "durationMs": duration_ms})


async def test_each_engine_counts_its_own_events_once(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'unused.db'}")
    buses = [EventBus(), EventBus()]
    first, second = (EngineMetrics(db, bus, lambda: 0) for bus in buses)  # no clash on one process
    bus = buses[0]
    bus.publish(task_event("RUNNING", None))  # started
    bus.publish(task_event("WAITING", None))  # parked
    bus.publish(task_event("SUCCESS", 1500))
    bus.publish(task_event("SKIPPED", None))  # a skip is recorded as started, then ended
    bus.publish(task_event("SKIPPED", 0))
    bus.publish(Event(EXECUTION_UPDATED, "e1", {"status": "RUNNING"}))
    bus.publish(Event(EXECUTION_UPDATED, "e1", {"status": "SUCCESS"}))

    def sample(metrics: EngineMetrics, name: str, **labels: Any) -> float:
        return metrics.registry.get_sample_value(name, labels) or 0.0

    assert sample(first, "workflowdev_task_runs_total", plugin="util.log", status="SUCCESS") == 1
    assert sample(first, "workflowdev_task_runs_total", plugin="util.log", status="SKIPPED") == 1
    assert sample(first, "workflowdev_task_duration_seconds_count", plugin="util.log") == 1
    assert sample(first, "workflowdev_task_duration_seconds_sum", plugin="util.log") == 1.5
    assert sample(first, "workflowdev_task_duration_seconds_bucket", plugin="util.log", le="1.0") == 0
    assert sample(first, "workflowdev_task_duration_seconds_bucket", plugin="util.log", le="2.5") == 1
    assert sample(first, "workflowdev_executions_total", status="SUCCESS") == 1
    assert sample(second, "workflowdev_executions_total", status="SUCCESS") == 0
    assert sample(second, "workflowdev_task_runs_total", plugin="util.log", status="SUCCESS") == 0
    await db.close()
