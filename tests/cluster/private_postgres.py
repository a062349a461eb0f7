"""A PostgreSQL server of a test's own: a fresh data directory on a free port.

A test that restarts its database must not restart the machine's: the rest of the suite runs
beside it (pytest-xdist) and would see its connections drop. This one is initialised from the
machine's PostgreSQL binaries in a temporary directory, trusts local connections, and is
stopped and removed at the end. As root, the server runs as the `postgres` system user, since
PostgreSQL refuses to run as root.
"""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from tests.ports import free_port

START_TIMEOUT = 60
"""Seconds `pg_ctl` waits for the server to accept connections (a busy machine is slow)."""


def _binaries() -> Path:
    (version,) = [p.name for p in Path("/usr/lib/postgresql").iterdir() if (p / "bin" / "pg_ctl").exists()]
    return Path("/usr/lib/postgresql") / version / "bin"


class PrivatePostgres:
    """Its directory is made under the system's temporary directory rather than pytest's, whose
    per-user base (mode 0700) the `postgres` user could not enter."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="workflowdev-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.bin = _binaries()
        self._user = "postgres" if os.geteuid() == 0 else None

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    async def _run(self, *argv: str) -> None:
        command: Sequence[str] = argv if self._user is None else ("runuser", "-u", self._user, "--", *argv)
        proc = await asyncio.create_subprocess_exec(
            *command, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
        )
        _, err = await proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(f"{argv[0]} failed ({proc.returncode}): {err.decode(errors='replace')}")

    def _pg_ctl(self, action: str) -> tuple[str, ...]:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        return (str(self.bin / "pg_ctl"), action, "-D", str(self.data), "-w", "-t", str(START_TIMEOUT),
                "-m", "fast", "-o", options, "-l", str(self.root / "server.log"))  # fmt: skip

    async def start(self) -> None:
        if self._user is not None:
            entry = pwd.getpwnam(self._user)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        await self._run(str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")
        await self._run(*self._pg_ctl("start"))

    async def restart(self) -> None:
        await self._run(*self._pg_ctl("restart"))

    async def stop(self) -> None:
        await self._run(str(self.bin / "pg_ctl"), "stop", "-D", str(self.data), "-w", "-m", "immediate")
        shutil.rmtree(self.root, ignore_errors=True)
