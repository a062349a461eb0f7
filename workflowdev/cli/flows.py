"""`workflowdev validate FILE…` and `workflowdev run FILE`: flow files, without a server."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def add_parsers(commands: Any) -> None:
    run = commands.add_parser("run", help="run a flow file once, here, with a live tree of its tasks")
    run.add_argument("file", type=Path, metavar="FILE")
    run.add_argument("--input", "-i", action="append", default=[], metavar="NAME=VALUE", help="an input (repeatable)")
    run.set_defaults(handler=lambda args: run_flow_file(args.file, args.input))

    validate = commands.add_parser("validate", help="check flow files; errors as FILE:LINE:COLUMN")
    validate.add_argument("files", nargs="+", type=Path, metavar="FILE")
    validate.set_defaults(handler=lambda args: validate_files(args.files))


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

    from workflowdev.local_run import parse_inputs
    from workflowdev.local_run import run_file

    logging.basicConfig(level="WARNING", format="%(levelname)s %(name)s: %(message)s")
    return asyncio.run(run_file(path, parse_inputs(pairs), Console()))

