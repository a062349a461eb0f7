"""`workflowdev backfill TRIGGER --from T --to T`: run a schedule's instants that never ran.

It asks a running server (the API's `POST /triggers/{id}/backfill`), which runs each skipped,
missed or unrecorded instant of the range once — never one that already ran, also when
another backfill of the same range runs at the same time.
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
    backfill = commands.add_parser("backfill", help="run the instants of a schedule that never ran, each once")
    backfill.add_argument("trigger", metavar="TRIGGER", help="the schedule trigger's id")
    backfill.add_argument("--from", dest="since", required=True, metavar="TIME",
                          help="first instant considered, RFC 3339 (2026-12-01T00:00:00Z)")  # fmt: skip
    backfill.add_argument("--to", dest="until", required=True, metavar="TIME", help="end of the range, excluded")
    backfill.add_argument("--concurrency", type=int, metavar="N", help="run at most N of them at once")
    backfill.add_argument("--dry-run", action="store_true", help="list the instants it would run; start nothing")
    add_server_arguments(backfill)
    backfill.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    body: dict[str, Any] = {"from": args.since, "to": args.until, "dryRun": args.dry_run}
    if args.concurrency is not None:
        body["concurrency"] = args.concurrency
    status, answer = asyncio.run(post(args, f"/api/v1/triggers/{args.trigger}/backfill", body))
    if status not in (200, 201):
        print(f"backfill refused {refusal(status, answer)}", file=sys.stderr)
        return 1
    instants = answer["instants"]
    if not instants:
        print("nothing to backfill: every instant of the range has run")
    elif args.dry_run:
        print(f"would run {len(instants)} instants:")
        print("\n".join(f"  {i}" for i in instants))
    else:
        started = answer["executionIds"]
        print(f"{len(started)} executions queued for {len(instants)} instants that had not run"
              + ("" if len(started) == len(instants) else " (another backfill took the rest)"))  # fmt: skip
        print("\n".join(f"  {execution_id}" for execution_id in started))
    return 0
