"""`workflowdev` with no arguments, in a real pseudo-terminal: what a new user meets first.

The process owns a pty exactly as in an operator's terminal: the console must draw, offer the
demo flows on an empty server, load them when accepted, and on ctrl+q stop the embedded server
cleanly (exit 0, port released).
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import re
import select
import socket
import struct
import subprocess
import sys
import termios
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.test_cli import EXE, run

ANSI = re.compile(rb"\x1b(\[[0-9;?<>=]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[@-Z\\-_])")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Terminal:
    """A child process on a 120x40 pseudo-terminal, whose screen text we can wait on."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
        self.proc = subprocess.Popen(args, stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True)
        os.close(slave)
        self.seen = b""

    def wait_for(self, text: str, deadline: float = 30.0) -> None:
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            if text.encode() in ANSI.sub(b"", self.seen).replace(b"\r", b"").replace(b"\n", b""):
                return
            ready, _, _ = select.select([self.master], [], [], 0.2)
            if ready:
                try:
                    self.seen += os.read(self.master, 65536)
                except OSError:
                    break
        tail = ANSI.sub(b"", self.seen)[-2000:].decode(errors="replace")
        raise AssertionError(f"{text!r} never appeared on the terminal; last output:\n{tail}")

    def press(self, keys: bytes) -> None:
        os.write(self.master, keys)

    def wait_exit(self, deadline: float = 20.0) -> int:
        end = time.monotonic() + deadline
        while self.proc.poll() is None and time.monotonic() < end:
            ready, _, _ = select.select([self.master], [], [], 0.2)
            if ready:
                try:
                    os.read(self.master, 65536)  # keep draining so the child never blocks on a full pty
                except OSError:
                    pass
        return self.proc.wait(timeout=1)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        os.close(self.master)


@pytest.fixture
def terminal_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKFLOWDEV_")}
    return {**env, "TERM": "xterm-256color", "WORKFLOWDEV_DATA_DIR": str(tmp_path), "COLORTERM": "truecolor"}


def _flow_names(port: int) -> set[str]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/flows", timeout=5) as resp:
        return {flow["name"] for flow in json.load(resp)}


@pytest.mark.skipif(sys.platform != "linux", reason="pty handling written for Linux")
def test_bare_command_opens_the_console_offers_the_demo_and_quits_cleanly(terminal_env: dict[str, str]) -> None:
    port = _free_port()
    term = Terminal([*EXE], {**terminal_env, "WORKFLOWDEV_PORT": str(port)})
    try:
        term.wait_for("Load the demo flows")
        term.press(b"y")
        term.wait_for("Loaded:")
        assert {"hello", "release", "fan-out", "flaky"} <= _flow_names(port)
        term.press(b"\x11")  # ctrl+q
        assert term.wait_exit() == 0
    finally:
        term.close()
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as a server would; TIME_WAIT may linger
        s.bind(("127.0.0.1", port))  # released: the embedded server stopped with the console
        s.listen()


def test_bare_command_without_a_terminal_prints_help() -> None:
    result = run()
    assert result.returncode == 0 and "up" in result.stdout and "tui" in result.stdout


@pytest.mark.skipif(sys.platform != "linux", reason="pty handling written for Linux")
async def test_tui_opens_on_a_remote_server_and_quits(server: Any, terminal_env: dict[str, str]) -> None:
    """`workflowdev tui --server URL`: the console of a server running elsewhere (here, in the test)."""
    await server.post("/api/v1/flows", json={"yamlContent": "name: remote-one\ntasks:\n  - {name: a, type: util.noop}\n"})
    term = Terminal([*EXE, "tui", "--server", server.base_url], terminal_env)
    try:
        await asyncio.to_thread(term.wait_for, "remote-one")
        term.press(b"\x11")  # ctrl+q
        assert await asyncio.to_thread(term.wait_exit) == 0
    finally:
        term.close()
