"""`workflowdev replay EXECUTION --from TASK`: a new execution from a chosen task, on a server.

It asks a running server (the API's `POST /executions/{id}/replay`), so the replay is recorded,
audited and run where the original was; the answer names the new execution.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from typing import Any

DEFAULT_SERVER = "http://127.0.0.1:8080"


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
    replay.add_argument("--server", default=DEFAULT_SERVER, metavar="URL", help=f"default {DEFAULT_SERVER}")
    replay.add_argument("--token", help="a login token (default: $WORKFLOWDEV_TOKEN)")
    replay.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from workflowdev.local_run import parse_inputs

    body: dict[str, Any] = {"fromTask": args.from_task}
    if args.input:
        body["inputs"] = parse_inputs(args.input)
    if args.revision is not None:
        body["revision"] = args.revision
    token = args.token or os.environ.get("WORKFLOWDEV_TOKEN")
    status, answer = asyncio.run(_post(f"{args.server.rstrip('/')}/api/v1/executions/{args.execution}/replay", body, token))
    if status != 201:
        error = answer.get("error", {}) if isinstance(answer, dict) else {}
        print(f"replay refused ({status}): {error.get('message', answer)}", file=sys.stderr)
        return 1
    print(f"{answer['executionId']} queued: replays {args.execution} from {args.from_task}, {answer['kept']} task runs kept")
    return 0


async def _post(url: str, body: dict[str, Any], token: str | None) -> tuple[int, Any]:
    import aiohttp

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        async with aiohttp.ClientSession() as session, session.post(url, json=body, headers=headers) as reply:
            return reply.status, await reply.json(content_type=None)
    except aiohttp.ClientError as exc:
        return 0, {"error": {"message": f"cannot reach {url.split('/api/', 1)[0]}: {exc}"}}
    except ValueError:  # not JSON: not a workflowdev server (a proxy's error page, say)
        return 0, {"error": {"message": f"{url.split('/api/', 1)[0]} did not answer as a workflowdev server"}}
