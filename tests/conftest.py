"""Shared fixtures: real databases (SQLite files and the machine's PostgreSQL) and a real server.

Every HTTP test runs twice, once per database. PostgreSQL gets one fresh database per test
session (dropped at the end) and its tables are emptied between tests; SQLite gets a fresh file
per test, copied from one migrated template so migrations run once.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import uuid
from collections.abc import AsyncIterator
from collections.abc import Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest

from tests.support_plugins import registry_with_test_plugins
from workflowdev.config import Settings
from workflowdev.engine.run.tracing import Tracer
from workflowdev.engine.services import users
from workflowdev.runtime import Runtime
from workflowdev.store.database import Database
from workflowdev.store.models import Base

# Bytecode caches, even where the environment turns them off (PYTHONDONTWRITEBYTECODE): without
# them each of the workers rewrites every test module's asserts again, and every process a test
# starts (a node, a CLI command) compiles the whole package again, about 0.5 s of CPU each.
sys.dont_write_bytecode = False
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)

PRODUCTION_SCRYPT = dict(users._SCRYPT)
"""The password hash's cost as shipped, before the fixture below lowers it."""


@pytest.fixture(autouse=True)
def cheap_password_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process servers hash passwords at 1/16 of the shipped scrypt cost: the same algorithm
    and stored format (each hash names its own cost), without 50 ms of CPU per login in every
    test that signs four users in. Processes the tests start keep the shipped cost."""
    monkeypatch.setattr(users, "_SCRYPT", {**PRODUCTION_SCRYPT, "n": PRODUCTION_SCRYPT["n"] // 16})


PG_ADMIN_DSN = os.environ.get("WORKFLOWDEV_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"

    async def migrate() -> None:
        db = Database(f"sqlite:///{path}")
        await db.migrate()
        await db.close()

    asyncio.run(migrate())
    return path


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A database of our own on the machine's PostgreSQL, migrated once, dropped at the end."""
    name = f"workflowdev_test_{uuid.uuid4().hex[:12]}"
    admin_dsn = PG_ADMIN_DSN

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(admin_dsn)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    try:
        asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.fail(f"PostgreSQL at {admin_dsn} is needed for these tests: {exc}")
    url = admin_dsn.rsplit("/", 1)[0] + f"/{name}"

    async def migrate() -> None:
        db = Database(url)
        await db.migrate()
        await db.close()

    asyncio.run(migrate())
    yield url
    asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _empty_postgres(url: str) -> None:
    """Every table emptied and every sequence restarted, as a fresh database would be. DELETE,
    not TRUNCATE: a test leaves a few rows, and TRUNCATE makes each table and index a new file
    (120 ms a test against 8 ms), which on a thousand PostgreSQL tests was half a minute of the suite."""
    connection = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        async with connection.transaction():
            for table in reversed(Base.metadata.sorted_tables):
                await connection.execute(f'DELETE FROM "{table.name}"')
            for (sequence,) in await connection.fetch("SELECT sequencename FROM pg_sequences WHERE schemaname = 'public'"):
                await connection.execute(f'ALTER SEQUENCE "{sequence}" RESTART')
    finally:
        await connection.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> Iterator[str]:
    if request.param == "sqlite":
        path = tmp_path / "workflowdev.db"
        shutil.copy(sqlite_template, path)
        yield f"sqlite:///{path}"
    else:
        url = request.getfixturevalue("postgres_url")
        yield url
        asyncio.run(_empty_postgres(url))


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    await database.migrate()
    yield database
    await database.close()


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(host="127.0.0.1", port=0, data_dir=tmp_path / "data", database_url=database_url)


@dataclass
class Reply:
    status: int
    body: Any
    headers: Any

    @property
    def error(self) -> dict[str, Any]:
        assert isinstance(self.body, dict) and "error" in self.body, self.body
        return self.body["error"]


@dataclass
class Api:
    """A thin HTTP client for tests against the real server."""

    base_url: str
    session: aiohttp.ClientSession
    runtime: Runtime

    async def call(self, method: str, path: str, **kwargs: Any) -> Reply:
        async with self.session.request(method, self.base_url + path, **kwargs) as resp:
            raw = await resp.read()
            body: Any = None
            if raw:
                body = await resp.json(content_type=None) if "json" in resp.content_type else raw.decode()
            return Reply(resp.status, body, resp.headers)

    async def get(self, path: str, **kwargs: Any) -> Reply:
        return await self.call("GET", path, **kwargs)

    async def post(self, path: str, **kwargs: Any) -> Reply:
        return await self.call("POST", path, **kwargs)

    async def put(self, path: str, **kwargs: Any) -> Reply:
        return await self.call("PUT", path, **kwargs)

    async def delete(self, path: str, **kwargs: Any) -> Reply:
        return await self.call("DELETE", path, **kwargs)


@pytest.fixture
async def http_session() -> AsyncIterator[aiohttp.ClientSession]:
    """A client for tests that talk to node processes rather than to the `api` fixture."""
    async with aiohttp.ClientSession() as session:
        yield session


@asynccontextmanager
async def serving(settings: Settings, tracer: Tracer | None = None) -> AsyncIterator[Api]:
    """The real server with these settings and the test plugins, and a client for it;
    `tracer`: where its spans go (None: where the OTEL_* variables say)."""
    runtime = Runtime(settings, registry=registry_with_test_plugins(), tracer=tracer)
    await runtime.start()
    try:
        async with aiohttp.ClientSession() as session:
            yield Api(runtime.base_url, session, runtime)
    finally:
        await runtime.stop()


@pytest.fixture
async def api(settings: Settings) -> AsyncIterator[Api]:
    async with serving(settings) as running:
        yield running


@pytest.fixture
def make_settings(settings: Settings) -> Any:
    """Settings of this test with some fields changed, for tests of limits and switches."""
    return lambda **changes: replace(settings, **changes)
