"""What the commands that ask a running server share: where it is, how to sign in, one call.

Those commands (replay, backfill) go through the API rather than the database so the work is
recorded, audited and run where the server runs it.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

DEFAULT_SERVER = "http://127.0.0.1:8080"


def add_server_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--server", default=DEFAULT_SERVER, metavar="URL", help=f"default {DEFAULT_SERVER}")
    parser.add_argument("--token", help="a login token (default: $WORKFLOWDEV_TOKEN)")


async def post(args: argparse.Namespace, path: str, body: dict[str, Any]) -> tuple[int, Any]:
    """POST `body` to the server named by `args`; (0, an error object) when it cannot answer."""
    import aiohttp

    server = args.server.rstrip("/")
    token = args.token or os.environ.get("WORKFLOWDEV_TOKEN")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        async with aiohttp.ClientSession() as session, session.post(server + path, json=body, headers=headers) as reply:
            return reply.status, await reply.json(content_type=None)
    except aiohttp.ClientError as exc:
        return 0, {"error": {"message": f"cannot reach {server}: {exc}"}}
    except ValueError:  # not JSON: not a workflowdev server (a proxy's error page, say)
        return 0, {"error": {"message": f"{server} did not answer as a workflowdev server"}}


def refusal(status: int, answer: Any) -> str:
    """The server's reason, from its JSON error."""
    error = answer.get("error", {}) if isinstance(answer, dict) else {}
    return f"({status}): {error.get('message', answer)}"
