"""One subprocess per task: its own process group, output line by line, and a kill that sticks.

The child starts a new session (`start_new_session=True`), so it leads a process group of its
own and everything it spawns stays in that group unless it deliberately leaves. Ending the task
— normally, on its timeout, or because the runner cancelled it — always ends the whole group:
SIGTERM, a short grace period, then SIGKILL. Background processes a script leaves behind are
therefore stopped when it ends, as CI runners do; a task cannot leak daemons into the server.

The low-level `SubprocessProtocol` is used rather than `create_subprocess_exec` because the
task must learn that the *process* exited even while a background child still holds its pipes
open (`Process.wait()` on Python 3.11 waits for the pipes too, which would hang such a task).
Output arrives through callbacks as the child writes it, so neither pipe can fill up and stall
the child, and each line is handed over as soon as it is complete. A line longer than
`MAX_LINE_BYTES` is handed over in pieces of that size, so one endless line cannot fill memory.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from collections.abc import Callable
from collections.abc import Sequence
from pathlib import Path

__all__ = ["KILL_GRACE_SECONDS", "MAX_LINE_BYTES", "LineHandler", "run_in_own_group"]

MAX_LINE_BYTES = 64 * 1024
"""Matches the longest log message the recorder keeps."""
KILL_GRACE_SECONDS = 2.0
"""Time between SIGTERM and SIGKILL: enough to flush and clean up, short enough to feel prompt."""
_DRAIN_SECONDS = 2.0
"""After SIGKILL, how long to wait for the pipes to close before giving up on them."""

LineHandler = Callable[[bytes], None]
"""Receives each line as bytes, with its trailing newline when it had one."""


class _Lines:
    """Cuts one pipe's byte stream into lines for a handler."""

    def __init__(self, on_line: LineHandler) -> None:
        self._on_line = on_line
        self._pending = bytearray()

    def feed(self, data: bytes) -> None:
        self._pending += data
        start = 0
        while (end := self._pending.find(b"\n", start)) != -1:
            self._on_line(bytes(self._pending[start : end + 1]))
            start = end + 1
        del self._pending[:start]
        while len(self._pending) >= MAX_LINE_BYTES:
            self._on_line(bytes(self._pending[:MAX_LINE_BYTES]))
            del self._pending[:MAX_LINE_BYTES]

    def flush(self) -> None:
        if self._pending:
            self._on_line(bytes(self._pending))
            self._pending.clear()


class _Protocol(asyncio.SubprocessProtocol):
    """Lines to the handlers, and two facts to wait on: the process exited, the pipes closed."""

    def __init__(self, on_stdout: LineHandler, on_stderr: LineHandler) -> None:
        self._lines = {1: _Lines(on_stdout), 2: _Lines(on_stderr)}
        self._open = {1, 2}
        self.exited = asyncio.Event()
        self.drained = asyncio.Event()
        self.error: BaseException | None = None
        """The first exception a line handler raised: a bug, re-raised once the group is gone."""

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        self._guarded(self._lines[fd].feed, data)

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        self._guarded(lambda _: self._lines[fd].flush(), b"")
        self._open.discard(fd)
        if not self._open:
            self.drained.set()

    def process_exited(self) -> None:
        self.exited.set()

    def _guarded(self, call: Callable[[bytes], None], data: bytes) -> None:
        if self.error is not None:
            return
        try:
            call(data)
        except Exception as exc:  # noqa: BLE001 - kept and re-raised in the task, not lost in the loop
            self.error = exc

    async def settled(self, seconds: float) -> bool:
        """Wait until the process exited and both pipes closed; False when `seconds` ran out."""
        try:
            async with asyncio.timeout(seconds):
                await self.exited.wait()
                await self.drained.wait()
        except TimeoutError:
            return False
        return True


async def run_in_own_group(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: dict[str, str],
    timeout: float | None,
    on_stdout: LineHandler,
    on_stderr: LineHandler,
    warn: Callable[[str], None],
) -> int:
    """Run `argv` to the end and return its exit status (negative: killed by that signal).

    Raises TimeoutError when `timeout` seconds pass, and lets cancellation through; in both
    cases only after the process group is gone and the output read so far was handed over.
    """
    loop = asyncio.get_running_loop()
    spawn = asyncio.ensure_future(
        loop.subprocess_exec(
            lambda: _Protocol(on_stdout, on_stderr),
            *argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
    )
    try:
        transport, protocol = await asyncio.shield(spawn)
    except asyncio.CancelledError:
        spawn.add_done_callback(_kill_abandoned)
        raise
    try:
        try:
            async with asyncio.timeout(timeout):
                await protocol.exited.wait()
        finally:
            await _end_group(transport.get_pid(), protocol, warn)
    finally:
        transport.close()
    if protocol.error is not None:
        raise protocol.error
    returncode = transport.get_returncode()
    assert returncode is not None, "the process exited, so it has a status"
    return returncode


def _signal_group(pgid: int, signum: signal.Signals) -> None:
    try:
        os.killpg(pgid, signum)
    except (ProcessLookupError, PermissionError):
        pass  # the group is already empty


def _kill_abandoned(spawn: asyncio.Future[tuple[asyncio.SubprocessTransport, _Protocol]]) -> None:
    """Cancelled while the process was starting: once it exists, kill its group outright.

    Left to asyncio, the half-started process would be killed but not its children, and
    closing would wait for pipes those children still hold.
    """
    if spawn.cancelled() or spawn.exception() is not None:
        return
    transport, _ = spawn.result()
    _signal_group(transport.get_pid(), signal.SIGKILL)
    transport.close()


async def _end_group(pgid: int, protocol: _Protocol, warn: Callable[[str], None]) -> None:
    """Stop every process of the group (the leader's pid is the group id) and finish reading.

    SIGKILL is sent in a `finally`, so even a second cancellation during the grace period
    leaves nothing running.
    """
    try:
        _signal_group(pgid, signal.SIGTERM)
        await protocol.settled(KILL_GRACE_SECONDS)
    finally:
        _signal_group(pgid, signal.SIGKILL)
    if not await protocol.settled(_DRAIN_SECONDS):
        warn(
            "stopped reading the output: a process that left the task's process group "
            "still holds its stdout or stderr open"
        )
