"""Real `workflowdev` node processes for cluster tests and the cluster benchmark."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from collections.abc import Mapping
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiohttp


class NodeProcess:
    """`python -m workflowdev <command>` on a free port, its own data dir, a shared database."""

    def __init__(
        self,
        data_dir: Path,
        database_url: str,
        *,
        command: str = "server",
        args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.argv = [command, "--port", "0", "--data-dir", str(data_dir), "--db", database_url, *args]
        self.env = {**os.environ, "WORKFLOWDEV_LOG_LEVEL": "warning", **(env or {})}
        self.proc: asyncio.subprocess.Process | None = None
        self.url = ""

    @property
    def node_id(self) -> str:
        return (self.data_dir / "node-id").read_text().strip()

    async def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with (self.data_dir / "node.log").open("ab") as log:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "workflowdev", *self.argv,
                stdout=asyncio.subprocess.PIPE, stderr=log, env=self.env,
            )  # fmt: skip
        assert self.proc.stdout is not None
        line = await asyncio.wait_for(self.proc.stdout.readline(), 60)
        match = re.search(rb"listening on (http://\S+)", line)
        assert match, f"{line!r}; see {self.data_dir / 'node.log'}"
        self.url = match.group(1).decode()

    def kill(self) -> None:
        """SIGKILL: no shutdown, no lease handed back, as a power cut looks to the others."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), 20)
            except TimeoutError:
                self.kill()
                await self.proc.wait()


async def call_json(session: aiohttp.ClientSession, method: str, url: str, **kwargs: Any) -> Any:
    """A node's JSON answer; a status of 300 or more fails with the node's words."""
    async with session.request(method, url, **kwargs) as resp:
        assert resp.status < 300, (method, url, resp.status, await resp.text())
        return await resp.json()
