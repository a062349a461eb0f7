"""`workflowdev server` and `workflowdev worker`: a node without the console, until a signal.

The flags here are shared by every command that starts a node (`up` too), and `settings_from`
turns them into one Settings object on top of the config file and the environment.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any

import workflowdev

if TYPE_CHECKING:
    from workflowdev.config import Settings
    from workflowdev.runtime import Runtime

log = logging.getLogger("workflowdev")


def server_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to listen on (default 8080)")
    parser.add_argument("--db", dest="database_url", metavar="URL", help="database URL (default: SQLite in the data dir)")
    parser.add_argument("--data-dir", type=Path, help="where the SQLite file and keys live")
    parser.add_argument("--config", type=Path, help="TOML config file")
    parser.add_argument("--auth", action="store_const", const=True, help="require JWT authentication")
    parser.add_argument("--insecure", action="store_const", const=True, help="allow a non-loopback bind without auth")
    parser.add_argument("--body-limit", type=int, metavar="BYTES", help="largest request body accepted")
    parser.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
    parser.add_argument("--max-running", type=int, metavar="N", help="executions running at once (default 200)")
    parser.add_argument("--roles", metavar="LIST", help="what this node does: api,worker,scheduler (default all)")


def add_parsers(commands: Any) -> None:
    server = commands.add_parser("server", help="run the API and engine headless")
    server_flags(server)
    server.set_defaults(handler=run)
    worker = commands.add_parser("worker", help="run executions for the nodes sharing this database; no API, only probes")
    server_flags(worker)
    worker.set_defaults(handler=run, roles="worker")


def settings_from(args: argparse.Namespace) -> Settings:
    from workflowdev.config import load_settings

    names = (
        "host",
        "port",
        "database_url",
        "data_dir",
        "auth",
        "insecure",
        "body_limit",
        "log_level",
        "max_running",
        "roles",
    )
    flags = {name: getattr(args, name, None) for name in names}
    return load_settings(flags, config_file=getattr(args, "config", None))


def run(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return asyncio.run(serve_forever(settings))


def _refuse_insecure_bind(settings: Settings) -> str | None:
    if settings.is_loopback or settings.auth or settings.insecure or "api" not in settings.roles:
        return None  # a node without the API serves only its public probes
    return (
        f"refusing to listen on {settings.host} without authentication: "
        "use --auth, or --insecure if this network is trusted"
    )


async def start_runtime(settings: Settings) -> Runtime | None:
    """The product started, or None after saying on stderr why it cannot start."""
    from workflowdev.engine.run.tracing import TracingError
    from workflowdev.engine.services.credentials import MasterKeyError
    from workflowdev.engine.services.users import SecretError
    from workflowdev.runtime import PortInUse
    from workflowdev.runtime import Runtime

    refusal = _refuse_insecure_bind(settings)
    if refusal:
        print(f"workflowdev: {refusal}", file=sys.stderr)
        return None
    runtime = Runtime(settings)
    try:
        await runtime.start()
    except (PortInUse, MasterKeyError, SecretError, TracingError) as exc:
        print(f"workflowdev: {exc}", file=sys.stderr)
        return None
    return runtime


async def serve_forever(settings: Settings) -> int:
    """Run until SIGINT or SIGTERM, then shut down cleanly."""
    runtime = await start_runtime(settings)
    if runtime is None:
        return 2
    _tune_gc()
    if not settings.is_loopback and not settings.auth:
        log.warning("listening on %s WITHOUT authentication (--insecure)", settings.host)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(f"workflowdev {workflowdev.__version__} listening on {runtime.base_url}", flush=True)
    try:
        await stop.wait()
    finally:
        log.info("shutting down")
        await runtime.stop()
    return 0


def _tune_gc() -> None:
    """Keep the garbage collector from stopping the event loop for long, while serving.

    What start-up imported and built lives as long as the process: frozen, full collections no
    longer walk it. Young collections every 10,000 allocations instead of 700 let the objects a
    task run records die before the collector looks at them, so few reach the old generation:
    in a loop of 100,000 quick tasks, full collections went from about 50 (up to 100 ms each,
    every request waiting) to 3 (bench/RESULTS.md, "Unbounded work").
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)
