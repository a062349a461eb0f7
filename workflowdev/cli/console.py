"""`workflowdev up` (also plain `workflowdev`) and `workflowdev tui --server URL`.

Embedded, the API, engine and scheduler start on the console's own event loop and the console
talks to them over loopback HTTP through the same client it uses for a remote server, so both
modes show exactly the same thing. While the console owns the terminal, the server's log goes to
`<data dir>/console.log` instead of scribbling over the screen.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any
from urllib.parse import urlsplit

from workflowdev.cli.server import server_flags
from workflowdev.cli.server import settings_from
from workflowdev.cli.server import start_runtime

if TYPE_CHECKING:
    from workflowdev.config import Settings

CONSOLE_LOG = "console.log"


def add_parsers(commands: Any) -> None:
    up = commands.add_parser("up", help="start the server and open the console on it (the default command)")
    server_flags(up)
    up.add_argument("--demo", action="store_true", help="load the demo flows without asking")
    _console_flags(up)
    up.set_defaults(handler=run_embedded)

    tui = commands.add_parser("tui", help="open the console on a running server")
    tui.add_argument("--server", required=True, metavar="URL", help="e.g. http://127.0.0.1:8080")
    tui.add_argument("--token", help="a login token (default: $WORKFLOWDEV_TOKEN, else a login screen)")
    tui.add_argument("--config", type=Path, help="TOML config file (for the keymap and theme)")
    _console_flags(tui)
    tui.set_defaults(handler=run_remote)


def _console_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--theme", help="a Textual theme name (default: the terminal's own colours)")
    mouse = parser.add_mutually_exclusive_group()
    mouse.add_argument("--mouse", dest="mouse", action="store_const", const=True, help="capture the mouse")
    mouse.add_argument("--no-mouse", dest="mouse", action="store_const", const=False, help="leave the mouse alone")


def wants_mouse(flag: bool | None, setting: str = "auto", environ: Mapping[str, str] = os.environ) -> bool:
    """The flag, else the `mouse` setting; `auto` is off over SSH, where capturing the mouse takes
    the terminal's own text selection away."""
    if flag is not None:
        return flag
    if setting != "auto":
        return setting == "on"
    return not (environ.get("SSH_CONNECTION") or environ.get("SSH_TTY"))


async def run_console(server_url: str, settings: Settings, args: argparse.Namespace, *, embedded: bool) -> None:
    from workflowdev.tui.app import WorkflowdevApp

    app = WorkflowdevApp(
        server_url,
        token=getattr(args, "token", None) or os.environ.get("WORKFLOWDEV_TOKEN"),
        keymap=settings.keymap,
        confirm_decisions=settings.confirm_decisions,
        wrap_logs=settings.wrap_logs,
        gate_alert=settings.gate_alert,
        theme=args.theme or settings.theme or None,
        offer_demo=embedded,
        load_demo=getattr(args, "demo", False),
    )
    await app.run_async(mouse=wants_mouse(args.mouse, settings.mouse))


def run_embedded(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    log_to_file(settings)
    return asyncio.run(_console_embedded(settings, args))


async def _console_embedded(settings: Settings, args: argparse.Namespace) -> int:
    """The server and the console on one loop; quitting the console stops both."""
    runtime = await start_runtime(settings)
    if runtime is None:
        return 2
    try:
        await run_console(runtime.base_url, settings, args, embedded=True)
    finally:
        await runtime.stop()
    return 0


def run_remote(args: argparse.Namespace) -> int:
    from workflowdev.config import ConfigError
    from workflowdev.config import load_settings

    settings = load_settings({}, config_file=args.config)
    if not _is_http_url(args.server):
        raise ConfigError(f"--server must be an http:// or https:// URL such as http://127.0.0.1:8080, got {args.server!r}")
    asyncio.run(run_console(args.server, settings, args, embedded=False))
    return 0


def _is_http_url(text: str) -> bool:
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number in range
    except ValueError:  # that, or a broken IPv6 literal
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def log_to_file(settings: Settings) -> Path:
    """Send the server's log to a file: the console owns the terminal."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    path = settings.data_dir / CONSOLE_LOG
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        handlers=[logging.FileHandler(path, encoding="utf-8")],
    )
    return path
