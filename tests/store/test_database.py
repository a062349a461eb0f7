"""The store on SQLite and PostgreSQL: migrations, connection settings, timestamps."""

from __future__ import annotations

import asyncio
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from datetime import timezone
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection
from sqlalchemy import insert
from sqlalchemy import inspect
from sqlalchemy import select
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from workflowdev.store import database
from workflowdev.store.database import Database
from workflowdev.store.database import async_url
from workflowdev.store.journal import Journal
from workflowdev.store.migrate import current_revision
from workflowdev.store.migrate import head_revision
from workflowdev.store.migrate import upgrade_to_head
from workflowdev.store.models import Base
from workflowdev.store.models import Flow

TABLES = {
    "flows", "flow_revisions", "executions", "task_runs", "logs", "triggers", "trigger_firings",
    "approvals", "credentials", "kv_entries", "users", "audit_entries", "nodes",
}


def _schema_diff(conn: Connection) -> list:
    context = MigrationContext.configure(conn, opts={"compare_type": True})
    return compare_metadata(context, Base.metadata)


async def test_migrated_schema_matches_the_models(db: Database) -> None:
    async with db.read() as conn:
        tables = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
        diff = await conn.run_sync(_schema_diff)
        revision = await conn.run_sync(current_revision)
    assert TABLES <= tables
    assert diff == []
    assert revision == head_revision()


async def test_migrate_is_idempotent_and_concurrent_safe(db: Database) -> None:
    await asyncio.gather(db.migrate(), db.migrate())
    async with db.read() as conn:
        assert await conn.run_sync(current_revision) == head_revision()


async def test_an_old_database_comes_up_to_date(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'old.db'}")
    async with db.engine.connect() as conn:
        await conn.run_sync(lambda c: upgrade_to_head(c, "base"))
        await conn.commit()
        assert await conn.run_sync(current_revision) is None
    await db.migrate()
    async with db.read() as conn:
        assert await conn.run_sync(current_revision) == head_revision()
    await db.close()


async def test_sqlite_connections_use_wal_foreign_keys_and_busy_timeout(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'p.db'}")
    await db.migrate()
    async with db.read() as conn:
        assert (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar() == "wal"
        assert (await conn.exec_driver_sql("PRAGMA foreign_keys")).scalar() == 1
        assert (await conn.exec_driver_sql("PRAGMA busy_timeout")).scalar() >= 5000
    await db.close()


async def test_writers_queued_past_the_busy_timeout_all_commit_in_turn(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ten write transactions of 50 ms each queue for 500 ms against a 100 ms busy timeout,
    beside a journal committing all the while: none fails "database is locked", and they
    write in the order they asked (SQLite's busy handler polls, so it neither queues in
    order nor waits past its timeout)."""
    monkeypatch.setattr(database, "SQLITE_BUSY_TIMEOUT_MS", 100)
    db = Database(f"sqlite:///{tmp_path / 'q.db'}")
    await db.migrate()
    journal = Journal(db)
    await journal.start()
    now = datetime.now(UTC)
    values = dict(namespace="n", yaml_content="y", revision=1, tasks_total=1, created_at=now, updated_at=now)
    turns: list[int] = []

    async def writer(n: int) -> None:
        async with db.write() as conn:
            turns.append(n)
            await conn.execute(insert(Flow.__table__).values(id=f"w{n}", name=f"w{n}", **values))
            await asyncio.sleep(0.05)

    async def recorder(n: int) -> None:
        for i in range(20):
            await journal.write([(insert(Flow.__table__), {"id": f"j{n}-{i}", "name": f"j{n}-{i}", **values})])

    try:
        await asyncio.gather(*(writer(n) for n in range(10)), *(recorder(n) for n in range(5)))
    finally:
        await journal.stop()
    async with db.read() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM flows"))).scalar() == 10 + 5 * 20
    assert turns == list(range(10))
    await db.close()


async def test_timestamps_come_back_aware_utc(db: Database) -> None:
    at = datetime(2026, 3, 25, 12, 0, 0, 123000, tzinfo=timezone(timedelta(hours=2)))
    async with db.write() as conn:
        await conn.execute(
            insert(Flow.__table__).values(
                id="f1", namespace="n", name="x", yaml_content="y", revision=1, tasks_total=1,
                created_at=at, updated_at=at,
            )
        )
    async with db.read() as conn:
        row = (await conn.execute(select(Flow.__table__))).one()
    assert row.created_at == at and row.created_at.tzinfo is not None
    assert row.created_at.utcoffset() == timedelta(0)


async def test_write_rolls_back_on_error(db: Database) -> None:
    now = datetime.now(UTC)
    values = dict(namespace="n", name="x", yaml_content="y", revision=1, tasks_total=1, created_at=now, updated_at=now)
    with pytest.raises(IntegrityError):
        async with db.write() as conn:
            await conn.execute(insert(Flow.__table__).values(id="a", **values))
            await conn.execute(insert(Flow.__table__).values(id="b", **values))  # same live name
    async with db.read() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM flows"))).scalar() == 0


def test_urls_pick_the_asyncio_drivers() -> None:
    assert async_url("sqlite:///x.db") == "sqlite+aiosqlite:///x.db"
    assert async_url("postgresql://u:p@h/d") == "postgresql+asyncpg://u:p@h/d"
    assert async_url("postgres://h/d") == "postgresql+asyncpg://h/d"
    with pytest.raises(ValueError, match="unsupported database URL"):
        async_url("mysql://h/d")


def test_schema_head_constant_matches_the_migrations() -> None:
    from workflowdev.store.migrate import SCHEMA_HEAD

    assert head_revision() == SCHEMA_HEAD


async def test_a_read_sees_one_snapshot_while_writes_commit_beside_it(db: Database) -> None:
    """A listing's page and its total are two statements in one read: a write committed between
    them must not show in one and not the other (3 rows of a total of 1, seen on PostgreSQL)."""
    now = datetime.now(UTC)
    values = dict(namespace="n", yaml_content="y", revision=1, tasks_total=1, created_at=now, updated_at=now)
    async with db.read() as conn:
        before = (await conn.execute(text("SELECT count(*) FROM flows"))).scalar()
        async with db.write() as other:
            await other.execute(insert(Flow.__table__).values(id="a", name="a", **values))
        during = (await conn.execute(text("SELECT count(*) FROM flows"))).scalar()
    async with db.read() as conn:
        after = (await conn.execute(text("SELECT count(*) FROM flows"))).scalar()
    assert (before, during, after) == (0, 0, 1)
