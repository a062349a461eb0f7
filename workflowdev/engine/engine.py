"""The engine of one node, assembled: bus, journal, dispatcher and the services the API calls."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from workflowdev.engine.approvals import ApprovalService
from workflowdev.engine.clock import Clock, utcnow
from workflowdev.engine.credentials import CredentialService, MasterKey
from workflowdev.engine.deps import EngineDeps, no_credentials
from workflowdev.engine.dispatcher import Dispatcher, DispatcherSettings
from workflowdev.engine.events import EventBus
from workflowdev.engine.executions import CompiledFlows, ExecutionService
from workflowdev.engine.expressions import Renderer
from workflowdev.engine.flow_service import FlowService
from workflowdev.engine.kv import KVService
from workflowdev.engine.metrics import EngineMetrics
from workflowdev.engine.plugin import PluginRegistry, PluginSettings
from workflowdev.engine.scheduler import Scheduler
from workflowdev.engine.triggers import TriggerService
from workflowdev.engine.users import UserService
from workflowdev.store.database import Database
from workflowdev.store.journal import Journal


@dataclass(frozen=True)
class EngineSettings:
    node_id: str
    workdir_root: Path
    plugins: PluginSettings = field(default_factory=PluginSettings)
    max_running: int = 200
    lease_seconds: float = 30.0
    poll_interval: float = 1.0


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
    ) -> None:
        """`master_key`: without one (tools, tests) no credential can be stored or resolved."""
        self.db = db
        self.registry = registry
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
            credentials=self.credentials.resolve if self.credentials is not None else no_credentials,
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
            wake=self.dispatcher.wake,
            cancel_local=self.dispatcher.cancel_local,
            local=self.dispatcher,
        )
        self.deps.subflows = self.executions
        self.metrics = EngineMetrics(db, self.bus, lambda: self.dispatcher.running)
        self.triggers = TriggerService(db, self.executions, self.flows, self.bus, clock)
        self.scheduler = Scheduler(self.triggers, clock, settings.poll_interval)
        self.flow_service = FlowService(
            db, registry, clock, triggers=self.triggers, on_triggers_changed=self.scheduler.wake
        )

    def _wake(self) -> None:
        self.dispatcher.wake()

    async def start(self) -> None:
        if self.credentials is not None:
            await self.credentials.check_key()  # MasterKeyError: refuse to start
        await self.journal.start()
        await self.dispatcher.start()
        self.scheduler.start()

    async def stop(self) -> None:
        await self.scheduler.stop()
        await self.dispatcher.stop()
        await self.triggers.stop()
        await self.journal.stop()
