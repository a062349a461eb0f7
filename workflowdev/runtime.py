"""One running workflowdev: database, plugins and the HTTP API, started and stopped together.

A node without the `api` role still listens, for its probes only (/healthz, /readyz, /metrics):
load balancers and orchestrators need to know whether a worker is alive and has its database.

The `server` command, the embedded console and the tests all start the product through this,
so they run the same thing.
"""

from __future__ import annotations

import logging
import socket
import uuid
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

from aiohttp import web

from workflowdev.api.app import PROBES
from workflowdev.api.app import RESOURCES
from workflowdev.api.app import create_app
from workflowdev.api.protocol import JsonErrorsRunner
from workflowdev.config import Settings
from workflowdev.engine.node.engine import Engine
from workflowdev.engine.node.engine import EngineSettings
from workflowdev.engine.plugin import PluginRegistry
from workflowdev.engine.run.tracing import Tracer
from workflowdev.engine.run.tracing import from_environment
from workflowdev.engine.services.credentials import load_master_key
from workflowdev.engine.services.users import load_jwt_secret
from workflowdev.plugins import build_registry
from workflowdev.store.database import Database

log = logging.getLogger(__name__)


class PortInUse(Exception):
    pass


@dataclass
class Runtime:
    settings: Settings
    registry: PluginRegistry = field(default_factory=build_registry)
    db: Database | None = None
    engine: Engine | None = None
    tracer: Tracer | None = None
    """Where spans go; None: wherever the OTEL_* variables say (nowhere when they say nothing)."""
    runner: web.AppRunner | None = None
    port: int | None = None
    """The port actually bound (differs from settings.port when that is 0)."""

    @property
    def base_url(self) -> str:
        host = self.settings.host
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}"

    @property
    def address(self) -> str:
        """Where other machines reach this node, for the node registry."""
        host = self.settings.host
        if host in ("0.0.0.0", "::", ""):
            host = socket.gethostname()
        return f"{host}:{self.port}"

    async def start(self) -> None:
        if not self.settings.database_url:  # the embedded database lives in the data directory
            self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.db = Database(self.settings.effective_database_url)
        try:
            # The database first: a node that cannot reach it makes nothing (no master key that
            # would then not match the cluster's).
            await self.db.migrate()
            self.settings.data_dir.mkdir(parents=True, exist_ok=True)
            key = load_master_key(self.settings.data_dir)  # MasterKeyError: refuse to start
            secret = load_jwt_secret(self.settings.jwt_secret, self.settings.data_dir) if self.settings.auth else b""
            tracer = self.tracer if self.tracer is not None else from_environment(node_id(self.settings.data_dir))
            self.engine = Engine(
                self.db,
                self.registry,
                EngineSettings(
                    node_id=node_id(self.settings.data_dir),
                    workdir_root=self.settings.data_dir / "work",
                    max_running=self.settings.max_running,
                    lease_seconds=self.settings.lease_seconds,
                    poll_interval=self.settings.poll_interval,
                    roles=frozenset(self.settings.roles),
                    schedule_late_after=self.settings.schedule_late_after,
                    retention=self.settings.retention,
                    retention_interval=self.settings.retention_interval,
                    retention_batch=self.settings.retention_batch,
                    plugins=self.settings.plugin_settings,
                    limits=self.settings.run_limits,
                ),
                master_key=key,
                jwt_secret=secret,
                token_ttl=self.settings.token_ttl,
                tracer=tracer,
            )
            await self.engine.start()
            resources = RESOURCES if "api" in self.settings.roles else PROBES
            app = create_app(self.settings, self.db, self.registry, self.engine, resources)
            self.runner = JsonErrorsRunner(app, handle_signals=False, access_log=None, shutdown_timeout=10.0)
            await self.runner.setup()
            site = web.TCPSite(self.runner, self.settings.host, self.settings.port, reuse_address=True)
            try:
                await site.start()
            except OSError as exc:
                raise PortInUse(
                    f"cannot listen on {self.settings.host}:{self.settings.port}: {exc.strerror}; "
                    "pick another with --port"
                ) from None
            self.port = _bound_port(self.runner)
            await self.engine.nodes.announce(self.address)
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        """Stop accepting, let in-flight requests finish, then close the database."""
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None
        if self.engine is not None:
            await self.engine.stop()
            self.engine = None
        if self.db is not None:
            await self.db.close()
            self.db = None


def node_id(data_dir: Path) -> str:
    """This node's id, kept in the data dir so a restarted node knows its own old leases."""
    path = data_dir / "node-id"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        value = f"{socket.gethostname()[:40]}-{uuid.uuid4().hex[:8]}"
        path.write_text(value + "\n")
        return value


def _bound_port(runner: web.AppRunner) -> int:
    return int(runner.addresses[0][1])
