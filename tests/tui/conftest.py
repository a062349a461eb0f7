"""The console against a real embedded server: SQLite, the test plugins, a random port.

Console tests drive the real app with Textual's pilot. They run on SQLite only: what they check
is the console, and the API's behaviour on both databases is covered by tests/api.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import AsyncIterator
from collections.abc import Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from tests.conftest import Api
from tests.conftest import serving
from workflowdev.config import Settings
from workflowdev.tui.app import WorkflowdevApp

DEADLINE = 15.0


@asynccontextmanager
async def running_server(tmp_path: Path, sqlite_template: Path, **changes: Any) -> AsyncIterator[Api]:
    path = tmp_path / "workflowdev.db"
    shutil.copy(sqlite_template, path)
    settings = Settings(host="127.0.0.1", port=0, data_dir=tmp_path / "data", database_url=f"sqlite:///{path}")
    async with serving(replace(settings, **changes)) as api:
        yield api


@pytest.fixture
async def server(tmp_path: Path, sqlite_template: Path) -> AsyncIterator[Api]:
    """A real workflowdev on SQLite, with an HTTP helper to arrange data behind the console's back."""
    async with running_server(tmp_path, sqlite_template) as api:
        yield api


@pytest.fixture
def terminal_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKFLOWDEV_")}
    return {**env, "TERM": "xterm-256color", "WORKFLOWDEV_DATA_DIR": str(tmp_path), "COLORTERM": "truecolor"}


USERS_PASSWORD = "correct horse battery"


@pytest.fixture
async def secured_server(tmp_path: Path, sqlite_template: Path) -> AsyncIterator[Api]:
    """A server with --auth whose users `root` (admin), `viewer` and `executor` share one password."""
    async with running_server(tmp_path, sqlite_template, auth=True, jwt_secret="s" * 40) as api:
        first = await api.post("/auth/register", json={"username": "root", "password": USERS_PASSWORD, "role": "admin"})
        assert first.status == 201, first.body
        login = await api.post("/auth/login", json={"username": "root", "password": USERS_PASSWORD})
        admin = {"Authorization": f"Bearer {login.body['token']}"}
        for role in ("viewer", "executor"):
            made = await api.post(
                "/auth/register", json={"username": role, "password": USERS_PASSWORD, "role": role}, headers=admin
            )
            assert made.status == 201, made.body
        yield api


async def wait_for(pilot: Pilot[Any], condition: Callable[[], Any], what: str, deadline: float = DEADLINE) -> Any:
    """Let the app work until `condition()` is truthy; fail saying `what` was awaited."""
    end = time.monotonic() + deadline
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {deadline:g}s waiting for {what}")
        await pilot.pause(0.05)


@asynccontextmanager
async def open_console(
    server: Api, size: tuple[int, int] = (120, 40), **options: Any
) -> AsyncIterator[tuple[WorkflowdevApp, Pilot[None]]]:
    """The console connected to `server`, once it knows who it is and is live."""
    app = WorkflowdevApp(server.base_url, **options)
    async with app.run_test(size=size) as pilot:
        await wait_for(pilot, lambda: app.role is not None and app.connected, "the console to connect")
        yield app, pilot
