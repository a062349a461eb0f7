"""The console's first moments on a real pseudo-terminal at 80x24: logging in as fast as an
operator types, and a console started before its server filling its panes once the server is up."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import pytest

from tests.ports import free_port
from tests.test_cli import EXE
from tests.tui.conftest import USERS_PASSWORD
from tests.tui.conftest import running_server
from tests.tui.terminal import Terminal

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="pty handling written for Linux")


FLOW = "name: {name}\ntasks:\n  - {{name: a, type: util.noop}}\n"


@pytest.mark.parametrize("separator", [b"\t", b"\r"], ids=["tab", "enter"])
async def test_username_separator_and_password_typed_in_one_burst_log_in(
    secured_server: Any, terminal_env: dict[str, str], separator: bytes
) -> None:
    await secured_server.post(
        "/api/v1/flows",
        json={"yamlContent": FLOW.format(name="after-login")},
        headers=await _admin(secured_server),
    )
    term = Terminal([*EXE, "tui", "--server", secured_server.base_url], terminal_env, size=(80, 24))
    try:
        await asyncio.to_thread(term.wait_for, "Log in to")
        term.press(b"root" + separator + USERS_PASSWORD.encode() + b"\r")
        await asyncio.to_thread(term.wait_for, "after-login")  # the flows of a logged-in console
        assert USERS_PASSWORD not in term.text()
        term.press(b"\x11")  # ctrl+q
        assert await asyncio.to_thread(term.wait_exit) == 0
    finally:
        term.close()


async def _admin(server: Any) -> dict[str, str]:
    login = await server.post("/auth/login", json={"username": "root", "password": USERS_PASSWORD})
    return {"Authorization": f"Bearer {login.body['token']}"}


async def test_a_console_started_before_its_server_shows_the_flows_once_it_is_up(
    tmp_path: Any, sqlite_template: Any, terminal_env: dict[str, str]
) -> None:
    port = free_port()
    term = Terminal([*EXE, "tui", "--server", f"http://127.0.0.1:{port}"], terminal_env, size=(80, 24))
    try:
        await asyncio.to_thread(term.wait_for, "Flows")  # drawn, and the server not there
        async with running_server(tmp_path, sqlite_template, port=port) as server:
            made = await server.post("/api/v1/flows", json={"yamlContent": FLOW.format(name="came-up-later")})
            assert made.status == 201, made.body
            await asyncio.to_thread(term.wait_for, "came-up-later")  # without pressing r
            term.press(b"\x11")  # ctrl+q
            assert await asyncio.to_thread(term.wait_exit) == 0
    finally:
        term.close()


async def test_progress_counts_up_live_while_an_execution_runs(server: Any, terminal_env: dict[str, str]) -> None:
    """`tasks 0/3` for a whole run was all there was: the count was written only at the end."""
    slow = "name: counted\ntasks:\n  - {name: one, type: util.noop}\n  - {name: two, type: util.sleep, properties: {duration: 30s}}\n  - {name: three, type: util.noop}\n"
    flow = await server.post("/api/v1/flows", json={"yamlContent": slow})
    assert flow.status == 201, flow.body
    term = Terminal([*EXE, "tui", "--server", server.base_url], terminal_env, size=(80, 24))
    try:
        await asyncio.to_thread(term.wait_for, "counted")
        term.press(b"2")  # the executions pane
        await asyncio.to_thread(term.wait_for, "Tasks")
        started = await server.post(f"/api/v1/flows/{flow.body['id']}/execute")
        assert started.status == 201, started.body
        await asyncio.to_thread(term.wait_for, "1/3")  # `one` done while `two` sleeps
        detail = await server.get(f"/api/v1/executions/{started.body['executionId']}")
        assert (detail.body["execution"]["status"], detail.body["execution"]["tasksExecuted"]) == ("RUNNING", 1)
        await server.post(f"/api/v1/executions/{started.body['executionId']}/cancel")
        term.press(b"\x11")  # ctrl+q
        assert await asyncio.to_thread(term.wait_exit) == 0
    finally:
        term.close()
