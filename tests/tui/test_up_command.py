"""`workflowdev` with no arguments, in a real pseudo-terminal: what a new user meets first.

The process owns a pty exactly as in an operator's terminal: the console must draw, offer the
demo flows on an empty server, load them when accepted, and on ctrl+q stop the embedded server
cleanly (exit 0, port released).
"""

from __future__ import annotations

import asyncio
import json
import socket
import sys
import urllib.request
from typing import Any

import pytest

from tests.ports import free_port
from tests.test_cli import EXE
from tests.test_cli import run
from tests.tui.terminal import Terminal


def _flow_names(port: int) -> set[str]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/flows", timeout=5) as resp:
        return {flow["name"] for flow in json.load(resp)}


@pytest.mark.skipif(sys.platform != "linux", reason="pty handling written for Linux")
def test_bare_command_opens_the_console_offers_the_demo_and_quits_cleanly(terminal_env: dict[str, str]) -> None:
    port = free_port()
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


def test_flags_without_a_command_and_without_a_terminal_point_to_the_server_command() -> None:
    result = run("--port", "9999")
    assert result.returncode == 2 and "workflowdev server" in result.stderr


@pytest.mark.skipif(sys.platform != "linux", reason="pty handling written for Linux")
def test_flags_without_a_command_are_the_console_s(terminal_env: dict[str, str]) -> None:
    """`workflowdev --port N` is `workflowdev up --port N`, as the bare command is `up`."""
    port = free_port()
    term = Terminal([*EXE, "--port", str(port)], terminal_env)
    try:
        term.wait_for("Load the demo flows")
        assert _flow_names(port) == set()  # the embedded server listens where it was told
        term.press(b"\x11")  # ctrl+q
        assert term.wait_exit() == 0
    finally:
        term.close()


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
