"""`workflowdev test PATH…`: flow tests, run here on a throwaway engine; `--record` writes one.

PATH is a test file or a directory searched for `*.test.yaml` and `*.test.yml`. The exit
status is 1 when any test fails or any file cannot be used, so CI can gate on it; `--junit`
writes what CI dashboards read.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

DEFAULT_SERVER = "http://127.0.0.1:8080"
PATTERNS = ("*.test.yaml", "*.test.yml")


def add_parsers(commands: Any) -> None:
    test = commands.add_parser("test", help="run flow tests (YAML), or --record one from a past execution")
    test.add_argument("paths", nargs="*", type=Path, metavar="PATH", help="test files, or directories holding *.test.yaml")
    test.add_argument("--junit", type=Path, metavar="FILE", help="also write the results as JUnit XML")
    test.add_argument("--record", metavar="EXECUTION", help="write a test that expects what this execution did")
    test.add_argument("-o", "--output", type=Path, metavar="FILE", help="where --record writes the test")
    test.add_argument("--flow", type=Path, metavar="FILE", help="with --record: the flow file the test names (default: the stored flow)")
    test.add_argument("--server", default=DEFAULT_SERVER, metavar="URL", help=f"for --record and stored flows; default {DEFAULT_SERVER}")
    test.add_argument("--token", help="a login token (default: $WORKFLOWDEV_TOKEN)")
    test.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    token = args.token or os.environ.get("WORKFLOWDEV_TOKEN")
    if args.record:
        if args.output is None or args.paths:
            print("--record takes an execution id and -o FILE, and no test paths", file=sys.stderr)
            return 2
        return asyncio.run(_record(args.record, args.output, args.flow, args.server, token))
    if not args.paths:
        print("name the test files or directories to run (workflowdev test tests/)", file=sys.stderr)
        return 2
    return asyncio.run(_run(args.paths, args.junit, args.server, token))


def test_files(paths: Sequence[Path]) -> list[Path]:
    found: list[Path] = []
    for path in paths:
        found.extend(sorted({f for pattern in PATTERNS for f in path.rglob(pattern)}) if path.is_dir() else [path])
    return found


async def _run(paths: Sequence[Path], junit_path: Path | None, server: str, token: str | None) -> int:
    from rich.console import Console

    from workflowdev.engine.errors import DomainError
    from workflowdev.flowtest import report
    from workflowdev.flowtest.record import RecordError
    from workflowdev.flowtest.record import stored_flow
    from workflowdev.flowtest.run import Outcome
    from workflowdev.flowtest.run import run_tests
    from workflowdev.flowtest.spec import SpecError
    from workflowdev.flowtest.spec import load

    console = Console(soft_wrap=True)  # a failure's line stays whole for grep and CI logs
    results: list[tuple[Path, Sequence[Outcome]]] = []
    unusable = 0
    files = test_files(paths)
    if not files:
        print(f"no test files ({', '.join(PATTERNS)}) under {', '.join(map(str, paths))}", file=sys.stderr)
        return 1
    for path in files:
        try:
            spec = load(path)
            if spec.flow_file is not None:
                source = spec.flow_file.read_text("utf-8")
            else:
                assert spec.stored_flow is not None
                source = await stored_flow(server, *spec.stored_flow, token)
        except (SpecError, RecordError, OSError) as exc:
            console.print(f"✘ {exc}", style="red")
            unusable += 1
            continue
        try:
            outcomes = await run_tests(spec, source)
        except DomainError as exc:  # the flow itself does not parse
            details = "".join(f"\n  line {d['line']}, column {d['column']}: {d['message']}" for d in exc.details if "line" in d)
            console.print(f"✘ {path}: {exc.message}{details}", style="red")
            unusable += 1
            continue
        report.show(console, path, outcomes)
        results.append((path, outcomes))
    if junit_path is not None:
        report.junit(results, junit_path)
    failed = any(not o.passed for _path, found in results for o in found)
    console.print(report.summary(results) + (f", {unusable} files unusable" if unusable else ""), style="red" if failed or unusable else "green")
    return 1 if failed or unusable else 0


async def _record(execution_id: str, output: Path, flow_file: Path | None, server: str, token: str | None) -> int:
    from workflowdev.flowtest.record import RecordError
    from workflowdev.flowtest.record import fetch
    from workflowdev.flowtest.record import recorded_test
    from workflowdev.flowtest.spec import dump

    try:
        execution, runs = await fetch(server, execution_id, token)
    except RecordError as exc:
        print(f"cannot record: {exc}", file=sys.stderr)
        return 1
    flow: str | dict[str, str]
    if flow_file is not None:
        flow = os.path.relpath(flow_file.resolve(), output.resolve().parent)
    else:
        flow = {"namespace": execution["namespace"], "name": execution["flowName"]}
    output.write_text(dump(recorded_test(execution, runs, flow)), "utf-8")
    print(f"{output}: a test of {execution['namespace']}/{execution['flowName']} as execution {execution_id} ran")
    return 0
