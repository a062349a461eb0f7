"""What every runner of a node shares: the journal, the bus, plugins, expressions and services."""

from __future__ import annotations

from collections.abc import Awaitable
from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any
from typing import Protocol

from workflowdev.engine.clock import Clock
from workflowdev.engine.events import EventBus
from workflowdev.engine.language.expressions import Renderer
from workflowdev.engine.plugin import PluginRegistry
from workflowdev.engine.plugin import PluginSettings
from workflowdev.engine.run.gates import Gates
from workflowdev.engine.run.limits import RunLimits
from workflowdev.engine.run.mocks import TaskMock
from workflowdev.engine.run.task_kv import KeyValues
from workflowdev.engine.run.tracing import NO_TRACER
from workflowdev.engine.run.tracing import Tracer
from workflowdev.engine.sealed_inputs import Sealer
from workflowdev.engine.secrets import SecretMasker
from workflowdev.store.journal import Guard
from workflowdev.store.journal import Journal

CredentialLookup = Callable[[str], Awaitable[str | None]]


@dataclass(frozen=True)
class ChildExecution:
    """What a subflow task asks its launcher to start: one value the task builds and the
    service reads, so the two sides cannot drift apart field by field."""

    namespace: str
    flow: str
    inputs: Mapping[str, Any]
    labels: Mapping[str, Any]
    trigger: Mapping[str, Any]
    parent_execution_id: str
    parent_task_run_id: str
    secrets: SecretMasker
    """The parent's masker: a child started with its parent's secrets keeps them masked."""


class SubflowLauncher(Protocol):
    async def start_child(self, child: ChildExecution) -> str: ...

    async def find_child(self, parent_task_run_id: str) -> str | None: ...

    async def wait(self, execution_id: str) -> Any: ...

    async def cancel_child(self, execution_id: str) -> None: ...


async def no_credentials(_name: str) -> str | None:
    """Until a credentials store is wired in, every `${NAME}` is undefined."""
    return None


@dataclass
class EngineDeps:
    journal: Journal
    bus: EventBus
    registry: PluginRegistry
    renderer: Renderer
    kv: KeyValues
    approvals: Gates
    clock: Clock
    workdir_root: Path
    plugin_settings: PluginSettings = field(default_factory=PluginSettings)
    limits: RunLimits = field(default_factory=RunLimits)
    subflows: SubflowLauncher = field(init=False)
    credentials: CredentialLookup = no_credentials
    sealer: Sealer | None = None
    mocks: dict[str, TaskMock] = field(default_factory=dict)
    """Task name → what it answers instead of running its plugin (flow tests); empty on servers."""
    """Opens the sealed inputs of a subflow started with its parent's secrets."""
    tracer: Tracer = NO_TRACER
    """Where task attempts and executions go as spans as they end; nowhere unless OTEL_* ask."""

    def guard(self, execution_id: str, owner: str, token: str | None) -> Guard:
        return Guard(execution_id, owner, token)

    def new_masker(self) -> SecretMasker:
        return SecretMasker()
