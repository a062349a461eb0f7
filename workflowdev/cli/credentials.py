"""`workflowdev credentials rotate-key`: the command's flags and its report.

The rotation itself is `key_rotation`, imported when the command runs.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from workflowdev.cli.failures import FAILED
from workflowdev.cli.failures import one_line

KEY_FILE = "master.key"
KEY_ENV = "WORKFLOWDEV_MASTER_KEY"
"""Named in the help; the engine's own constants (`engine/services/credentials.py`) are checked
against these by a test, so the help cannot drift from the key the engine reads."""


def add_parsers(commands: Any) -> None:
    """Add `credentials` and its actions to the subparsers of the `workflowdev` command."""
    credentials = commands.add_parser("credentials", help="manage the credential store")
    actions = credentials.add_subparsers(dest="credentials_action", metavar="ACTION", required=True)
    rotate = actions.add_parser(
        "rotate-key",
        help="re-encrypt every credential under a new master key",
        description=f"Re-encrypt every credential in one transaction under a new master key, then "
        f"replace <data dir>/{KEY_FILE} with it. The current key comes from ${KEY_ENV} or that file.",
    )
    rotate.add_argument(
        "--new-key-file",
        type=Path,
        metavar="PATH",
        help="use the key in this file (mode 0600, 64 hex digits or base64) instead of generating one",
    )
    rotate.add_argument(
        "--db", dest="database_url", metavar="URL", help="database URL (default: SQLite in the data dir)"
    )
    rotate.add_argument("--data-dir", type=Path, help="where the SQLite file and keys live")
    rotate.add_argument("--config", type=Path, help="TOML config file")
    rotate.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    from workflowdev.cli.key_rotation import rotate_key
    from workflowdev.config import load_settings

    flags = {"database_url": args.database_url, "data_dir": args.data_dir}
    settings = load_settings(flags, config_file=args.config)
    try:
        print(asyncio.run(rotate_key(settings, args.new_key_file)))
    except (SQLAlchemyError, OSError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(one_line(f"workflowdev: nothing was changed, the database failed: {reason}"), file=sys.stderr)
        return FAILED
    return 0
