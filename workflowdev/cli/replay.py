"""`workflowdev replay EXECUTION --from TASK`: a new execution from a chosen task, on a server.

It asks a running server (the API's `POST /executions/{id}/replay`), so the replay is recorded,
audited and run where the original was; the answer names the new execution.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from workflowdev.cli.remote import add_server_arguments
from workflowdev.cli.remote import post
from workflowdev.cli.remote import refusal


def add_parsers(commands: Any) -> None:
    replay = commands.add_parser(
        "replay", help="run an ended execution again from a task; what ran before it is copied, not re-run"
    )
    replay.add_argument("execution", metavar="EXECUTION", help="the execution's id")
    replay.add_argument("--from", dest="from_task", required=True, metavar="TASK",
                        help="a task name, or a path into a loop: each[2].save, each[2]")  # fmt: skip
    replay.add_argument("--input", "-i", action="append", default=[], metavar="NAME=VALUE",
                        help="override one of the original's inputs (repeatable)")  # fmt: skip
    replay.add_argument("--revision", type=int, help="run this revision of the flow (default: the original's)")
    add_server_arguments(replay)
    replay.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from workflowdev.local_run import parse_inputs

    body: dict[str, Any] = {"fromTask": args.from_task}
    if args.input:
        body["inputs"] = parse_inputs(args.input)
    if args.revision is not None:
        body["revision"] = args.revision
    status, answer = asyncio.run(post(args, f"/api/v1/executions/{args.execution}/replay", body))
    if status != 201:
        print(f"replay refused {refusal(status, answer)}", file=sys.stderr)
        return 1
    print(f"{answer['executionId']} queued: replays {args.execution} from {args.from_task}, {answer['kept']} task runs kept")
    return 0
