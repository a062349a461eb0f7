"""The `workflowdev` command: wires configuration, store, engine and API together."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import workflowdev
from workflowdev import cli_console, cli_credentials, cli_failures, cli_users
from workflowdev.config import Settings, load_settings

if TYPE_CHECKING:
    from workflowdev.runtime import Runtime

log = logging.getLogger("workflowdev")


def _server_flags(parser: argparse.ArgumentParser) -> None:
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


class _Parser(argparse.ArgumentParser):
    """Usage errors in one line, like every other failure (the usage is one --help away)."""

    def error(self, message: str) -> NoReturn:
        self.exit(cli_failures.USAGE, cli_failures.one_line(f"{self.prog}: {message} (see {self.prog} --help)") + "\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="workflowdev", description="Workflow orchestration with a terminal operations console."
    )
    parser.add_argument("--version", action="version", version=f"workflowdev {workflowdev.__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    server = commands.add_parser("server", help="run the API and engine headless")
    _server_flags(server)
    worker = commands.add_parser("worker", help="run executions for the nodes sharing this database; no API, only probes")
    _server_flags(worker)
    worker.set_defaults(roles="worker")

    run = commands.add_parser("run", help="run a flow file once, here, with a live tree of its tasks")
    run.add_argument("file", type=Path, metavar="FILE")
    run.add_argument("--input", "-i", action="append", default=[], metavar="NAME=VALUE", help="an input (repeatable)")

    validate = commands.add_parser("validate", help="check flow files; errors as FILE:LINE:COLUMN")
    validate.add_argument("files", nargs="+", type=Path, metavar="FILE")

    cli_console.add_parsers(commands, _server_flags)
    cli_credentials.add_parser(commands)
    cli_users.add_parser(commands)
    return parser


def settings_from(args: argparse.Namespace) -> Settings:
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


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command. Whatever stops it is told in one line on stderr (`cli_failures`)."""
    try:
        return _run(argv)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if cli_failures.debugging():
            raise
        line, status = cli_failures.explain(exc)
        print(cli_failures.one_line(f"workflowdev: {line}"), file=sys.stderr)
        return status


def _run(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        if not (sys.stdin.isatty() and sys.stdout.isatty()):
            parser.print_help()  # no terminal to draw the console on
            return 0
        args = parser.parse_args(["up"])
    if args.command == "validate":
        return validate_files(args.files)
    if args.command == "run":
        return run_flow_file(args.file, args.input)
    if args.command == "credentials":
        return cli_credentials.run(args)
    if args.command == "user":
        return cli_users.run(args)
    if args.command == "tui":
        return cli_console.run_remote(args)
    settings = settings_from(args)
    if args.command == "up":
        cli_console.log_to_file(settings)
        return asyncio.run(console_embedded(settings, args))
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    return asyncio.run(serve_forever(settings))


def validate_files(files: Sequence[Path]) -> int:
    from workflowdev.engine.language.flow import validate_flow
    from workflowdev.plugins import build_registry

    registry = build_registry()
    failed = False
    for path in files:
        try:
            data = path.read_bytes()
        except OSError as exc:
            print(f"{path}: error: {exc.strerror}", file=sys.stderr)
            failed = True
            continue
        report = validate_flow(data, registry)
        for error in report.errors:
            where = f" [{error.path}]" if error.path else ""
            print(f"{path}:{error.line}:{error.column}: error: {error.message}{where}")
        if report.valid:
            print(f"{path}: ok ({report.tasks_total} tasks)")
        failed = failed or not report.valid
    return 1 if failed else 0


def run_flow_file(path: Path, pairs: list[str]) -> int:
    from rich.console import Console

    from workflowdev.local_run import parse_inputs, run_file

    logging.basicConfig(level="WARNING", format="%(levelname)s %(name)s: %(message)s")
    return asyncio.run(run_file(path, parse_inputs(pairs), Console()))


def _refuse_insecure_bind(settings: Settings) -> str | None:
    if settings.is_loopback or settings.auth or settings.insecure or "api" not in settings.roles:
        return None  # a node without the API serves only its public probes
    return (
        f"refusing to listen on {settings.host} without authentication: "
        "use --auth, or --insecure if this network is trusted"
    )


async def start_runtime(settings: Settings) -> Runtime | None:
    """The product started, or None after saying on stderr why it cannot start."""
    from workflowdev.engine.services.credentials import MasterKeyError
    from workflowdev.engine.services.users import SecretError
    from workflowdev.runtime import PortInUse, Runtime

    refusal = _refuse_insecure_bind(settings)
    if refusal:
        print(f"workflowdev: {refusal}", file=sys.stderr)
        return None
    runtime = Runtime(settings)
    try:
        await runtime.start()
    except (PortInUse, MasterKeyError, SecretError) as exc:
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


async def console_embedded(settings: Settings, args: argparse.Namespace) -> int:
    """`workflowdev up`: the server and the console on one loop; quitting the console stops both."""
    runtime = await start_runtime(settings)
    if runtime is None:
        return 2
    try:
        await cli_console.run_console(runtime.base_url, settings, args, embedded=True)
    finally:
        await runtime.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
