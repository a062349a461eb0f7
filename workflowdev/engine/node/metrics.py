"""What the engine reports to Prometheus: executions, task runs, the backlog, the process.

Each engine keeps its own `CollectorRegistry` rather than prometheus_client's global default,
so several servers in one process (the tests run many) never collide on a family name.

Counters move from the event bus, which publishes only committed changes, so a count never
runs ahead of the database. Each node counts the executions and task runs it published; sum
over nodes in Prometheus for the cluster. The backlog (queued executions, pending approvals)
lives in the database and is shared by all nodes: it is counted on each scrape instead.

The bus listener runs synchronously for every event a runner publishes, so it does a few
dictionary look-ups and nothing else.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterable

from prometheus_client import CollectorRegistry
from prometheus_client import Counter
from prometheus_client import Gauge
from prometheus_client import GCCollector
from prometheus_client import Histogram
from prometheus_client import PlatformCollector
from prometheus_client import ProcessCollector

from workflowdev.engine.events import EXECUTION_UPDATED
from workflowdev.engine.events import TASK_UPDATED
from workflowdev.engine.events import Event
from workflowdev.engine.events import EventBus
from workflowdev.engine.run.lifecycle import ENDED
from workflowdev.engine.run.lifecycle import ExecutionStatus
from workflowdev.engine.run.lifecycle import GateStatus
from workflowdev.engine.run.lifecycle import TaskStatus
from workflowdev.engine.services.retention import KINDS
from workflowdev.engine.services.retention import PurgeReport
from workflowdev.store import backlog
from workflowdev.store.database import Database

TASK_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
"""Seconds, from a 1 ms in-process step to a 10 minute job."""


class EngineMetrics:
    """The registry of one engine, with the engine's families and the process collectors.

    `running` tells how many executions have a runner on this node right now.
    """

    def __init__(self, db: Database, bus: EventBus, running: Callable[[], int]) -> None:
        self.db = db
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        self.executions = self._counter_from_zero(
            "workflowdev_executions_total", "Executions that reached a terminal status, on this node", "status", ENDED
        )
        Gauge(
            "workflowdev_executions_running", "Executions with a runner on this node", registry=self.registry
        ).set_function(running)
        self.queue_depth = Gauge(
            "workflowdev_queue_depth",
            "Executions waiting in the database for a runner (QUEUED)",
            registry=self.registry,
        )
        self.approvals_pending = Gauge(
            "workflowdev_approvals_pending", "Approval gates waiting for a decision", registry=self.registry
        )
        self.task_duration = Histogram(
            "workflowdev_task_duration_seconds",
            "How long task runs took, by task type (skipped tasks are not observed)",
            ["plugin"],
            buckets=TASK_BUCKETS,
            registry=self.registry,
        )
        self.task_runs = Counter(
            "workflowdev_task_runs_total",
            "Task runs that ended, by task type and final status",
            ["plugin", "status"],
            registry=self.registry,
        )
        self.purged = self._counter_from_zero(
            "workflowdev_purged_total",
            "Rows the retention policy purged on this node: executions (subflows too), log lines, audit entries",
            "kind",
            KINDS,
        )
        self._task_children: dict[tuple[str, str], tuple[Counter, Histogram | None]] = {}
        bus.listen(self.on_event)

    def _counter_from_zero(self, name: str, documentation: str, label: str, values: Iterable[str]) -> Counter:
        """A counter with a series for each known value of its one label, present at 0 from the
        start: a rate over it works from the first increment instead of the second."""
        counter = Counter(name, documentation, [label], registry=self.registry)
        for value in values:
            counter.labels(value)
        return counter

    def count_purged(self, report: PurgeReport) -> None:
        for kind, count in report.counts().items():
            self.purged.labels(kind).inc(count)

    def on_event(self, event: Event) -> None:
        data = event.data
        if event.type == EXECUTION_UPDATED:
            status = data.get("status")
            if status in ENDED:
                self.executions.labels(status).inc()
        elif event.type == TASK_UPDATED:
            duration_ms = data.get("durationMs")
            if duration_ms is None:  # a start or a pause: only a finished run has a duration
                return
            ended, observed = self._task_series(data["taskType"], data["status"])
            ended.inc()
            if observed is not None:
                observed.observe(duration_ms / 1000)

    def _task_series(self, plugin: str, status: str) -> tuple[Counter, Histogram | None]:
        """The labelled children, looked up once per (plugin, status) instead of per task."""
        key = (plugin, status)
        series = self._task_children.get(key)
        if series is None:
            histogram = None if status == TaskStatus.SKIPPED else self.task_duration.labels(plugin)
            series = self._task_children[key] = (self.task_runs.labels(plugin, status), histogram)
        return series

    async def refresh(self) -> None:
        """Count the backlog now; called right before each scrape is rendered."""
        async with self.db.read() as conn:
            queued, pending = await backlog.count_waiting(conn, execution_status=ExecutionStatus.QUEUED, approval_status=GateStatus.PENDING)
        self.queue_depth.set(queued)
        self.approvals_pending.set(pending)
