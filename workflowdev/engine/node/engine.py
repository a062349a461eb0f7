"""The engine of one node, assembled: bus, journal, dispatcher and the services the API calls.

A node's roles say which loops it runs: `worker` claims and runs executions (the dispatcher),
`scheduler` fires schedules; `api` is the HTTP layer's business and changes nothing here. Every
node registers in the node registry and, on PostgreSQL, joins the NOTIFY channels of
`cluster.py`, whatever its roles: a node serving only the API still announces the work it
queues and streams events from the nodes that run it.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field
from datetime import timedelta
from pathlib import Path

from workflowdev.engine.clock import Clock
from workflowdev.engine.clock import utcnow
from workflowdev.engine.events import EventBus
from workflowdev.engine.language.expressions import Renderer
from workflowdev.engine.node.cluster import Cluster
from workflowdev.engine.node.dispatcher import Dispatcher
from workflowdev.engine.node.dispatcher import DispatcherSettings
from workflowdev.engine.node.metrics import EngineMetrics
from workflowdev.engine.node.nodes import NodeRegistry
from workflowdev.engine.node.retention import RetentionLoop
from workflowdev.engine.node.roles import ROLES
from workflowdev.engine.node.scheduler import Scheduler
from workflowdev.engine.plugin import PluginRegistry
from workflowdev.engine.plugin import PluginSettings
from workflowdev.engine.run.deps import EngineDeps
from workflowdev.engine.run.deps import no_credentials
from workflowdev.engine.run.limits import RunLimits
from workflowdev.engine.run.tracing import NO_TRACER
from workflowdev.engine.run.tracing import Tracer
from workflowdev.engine.services.approvals import ApprovalService
from workflowdev.engine.services.credentials import CredentialService
from workflowdev.engine.services.credentials import MasterKey
from workflowdev.engine.services.executions import CompiledFlows
from workflowdev.engine.services.executions import ExecutionService
from workflowdev.engine.services.flows import FlowService
from workflowdev.engine.services.kv import KVService
from workflowdev.engine.services.retention import BACKGROUND_PACE
from workflowdev.engine.services.retention import Retention
from workflowdev.engine.services.retention_policy import RetentionPolicy
from workflowdev.engine.services.schedules import Schedules
from workflowdev.engine.services.triggers import TriggerService
from workflowdev.engine.services.users import UserService
from workflowdev.store.database import Database
from workflowdev.store.journal import Journal


@dataclass(frozen=True)
class EngineSettings:
    node_id: str
    workdir_root: Path
    plugins: PluginSettings = field(default_factory=PluginSettings)
    limits: RunLimits = field(default_factory=RunLimits)
    max_running: int = 200
    lease_seconds: float = 30.0
    poll_interval: float = 1.0
    roles: frozenset[str] = frozenset(ROLES)
    schedule_late_after: float = 60.0
    retention: RetentionPolicy = field(default_factory=RetentionPolicy)
    retention_interval: float = 300.0
    retention_batch: int = 2000

    @property
    def worker(self) -> bool:
        return "worker" in self.roles


class Engine:
    def __init__(
        self,
        db: Database,
        registry: PluginRegistry,
        settings: EngineSettings,
        *,
        clock: Clock = utcnow,
        master_key: MasterKey | None = None,
        jwt_secret: bytes = b"",
        token_ttl: float = 12 * 3600,
        tracer: Tracer = NO_TRACER,
    ) -> None:
        """`master_key`: without one (tools, tests) no credential can be stored or resolved.
        `tracer`: where spans go (`run.tracing`); the engine shuts it down when it stops."""
        self.db = db
        self.registry = registry
        self.settings = settings
        self.bus = EventBus()
        self.credentials = CredentialService(db, clock, master_key) if master_key is not None else None
        self.users = UserService(db, clock, jwt_secret, token_ttl)
        self.journal = Journal(db)
        self.flows = CompiledFlows(registry)
        self.kv = KVService(db, clock)
        self.approvals = ApprovalService(db, self.bus, clock, on_queued=self._wake)
        self.deps = EngineDeps(
            journal=self.journal,
            bus=self.bus,
            registry=registry,
            renderer=Renderer(clock=clock),
            kv=self.kv,
            approvals=self.approvals,
            clock=clock,
            workdir_root=settings.workdir_root,
            plugin_settings=settings.plugins,
            limits=settings.limits,
            credentials=self.credentials.resolve if self.credentials is not None else no_credentials,
            sealer=self.credentials,
            tracer=tracer,
        )
        self.dispatcher = Dispatcher(
            db,
            self.deps,
            self.flows,
            settings.node_id,
            DispatcherSettings(settings.max_running, settings.lease_seconds, settings.poll_interval),
        )
        self.executions = ExecutionService(
            db,
            self.journal,
            self.bus,
            self.flows,
            clock,
            wake=self._wake,
            cancel_local=self._cancel,
            local=self.dispatcher if settings.worker else None,
            sealer=self.credentials,
        )
        self.deps.subflows = self.executions
        self.metrics = EngineMetrics(db, self.bus, lambda: self.dispatcher.running)
        self.triggers = TriggerService(db, self.executions, self.flows, self.bus, clock)
        self.schedules = Schedules(db, self.executions, clock, timedelta(seconds=settings.schedule_late_after))
        self.scheduler = Scheduler(self.schedules, self.triggers, clock, settings.poll_interval)
        self.retention = Retention(db, clock, settings.retention_batch, pace=BACKGROUND_PACE)
        self.retention_loop = RetentionLoop(
            self.retention, settings.retention, settings.retention_interval, self.metrics.count_purged
        )
        self.flow_service = FlowService(
            db, registry, clock, triggers=self.triggers, on_triggers_changed=self._schedules_changed
        )
        self.nodes = NodeRegistry(db, clock, settings.node_id, sorted(settings.roles))
        self.cluster = Cluster(
            db,
            self.bus,
            settings.node_id,
            on_queued=self._wake_here,
            on_cancel=self._cancel_here,
            on_schedules=self._triggers_changed,
            on_listening=self._listening,
        )

    def _wake(self) -> None:
        """Work was queued that this node did not start itself: whichever worker is free takes it."""
        self._wake_here()
        self.cluster.queued()

    def _wake_here(self) -> None:
        if self.settings.worker:
            self.dispatcher.wake()

    def _cancel(self, execution_id: str) -> bool:
        """Stop a running execution here, or tell the node that runs it."""
        if self._cancel_here(execution_id):
            return True
        self.cluster.cancel(execution_id)
        return False

    def _cancel_here(self, execution_id: str) -> bool:
        return self.settings.worker and self.dispatcher.cancel_local(execution_id)

    def _schedules_changed(self) -> None:
        self._triggers_changed()
        self.cluster.schedules_changed()

    def _triggers_changed(self) -> None:
        """Here or, told through the cluster, on another node."""
        self.triggers.changed()
        self.scheduler.wake()

    def _listening(self, up: bool) -> None:
        self.dispatcher.set_listening(up)
        if up:
            self.scheduler.wake()

    async def start(self) -> None:
        if self.credentials is not None:
            await self.credentials.check_key()  # MasterKeyError: refuse to start
        await self.journal.start()
        await self.nodes.start()
        self.cluster.start()
        if self.settings.worker:
            await self.dispatcher.start()
        if "scheduler" in self.settings.roles:
            self.scheduler.start()
            self.retention_loop.start()

    async def stop(self) -> None:
        await self.retention_loop.stop()
        await self.scheduler.stop()
        await self.dispatcher.stop()
        await self.triggers.stop()
        await self.cluster.stop()
        await self.nodes.stop()
        await self.journal.stop()
        await self.deps.tracer.shutdown()  # after the runners: their last spans go out too
