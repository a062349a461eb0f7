"""Fixtures for tests of several nodes on one PostgreSQL: a scratch database of their own."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from tests.conftest import PG_ADMIN_DSN


@pytest.fixture
async def cluster_db() -> AsyncIterator[str]:
    """A fresh, empty database (the nodes migrate it themselves), dropped at the end."""
    name = f"workflowdev_cluster_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    yield PG_ADMIN_DSN.rsplit("/", 1)[0] + f"/{name}"
    for _ in range(50):  # the database may be restarting when a test ends
        try:
            admin = await asyncpg.connect(PG_ADMIN_DSN)
            break
        except (OSError, asyncpg.PostgresError):
            await asyncio.sleep(0.2)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()
