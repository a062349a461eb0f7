"""Connecting to SQLite or PostgreSQL, and units of work on them.

One `Database` per process. SQLite gets WAL, foreign keys, `synchronous=NORMAL` and a busy
timeout on every connection; write transactions on SQLite start with `BEGIN IMMEDIATE` so two
writers queue instead of failing when one upgrades its read lock.

SQLite has one writer at a time, and its busy handler is no queue: a waiting connection sleeps
and polls, with sleeps growing to 100 ms, while the journal on the event loop retakes the lock
the moment it is free. Under load a waiter could poll past its whole busy timeout and fail with
"database is locked". So the writers of one process take turns on one FIFO lock
(`writer_turn`), and the busy timeout is left to settle only what other processes (a CLI
command beside the server) hold.
Repository functions elsewhere in `store/` take the `AsyncConnection` of a unit of work first.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from typing import cast

from sqlalchemy import Connection
from sqlalchemy import create_engine
from sqlalchemy import event
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.ext.asyncio import create_async_engine

from workflowdev.store.migrate import upgrade_to_head

SQLITE_BUSY_TIMEOUT_MS = 10_000
FIRST_CONTACT_TIMEOUT = 30.0
"""Seconds a starting process waits for its database to answer (a PostgreSQL still starting)."""


class LoopConnection:
    """An `AsyncConnection` look-alike over a synchronous SQLite connection.

    SQLite reads in WAL mode never wait for writers, and a read by primary key takes tens of
    microseconds, while aiosqlite pays a thread hop per call (several per transaction). So
    SQLite reads run right on the event loop through this adapter; the repository functions
    that take an AsyncConnection work unchanged.
    """

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self.dialect = conn.dialect

    async def execute(self, statement: Any, parameters: Any = None) -> Any:
        return self._conn.execute(statement, parameters)

    async def exec_driver_sql(self, statement: str, parameters: Any = None) -> Any:
        return self._conn.exec_driver_sql(statement, parameters)

    async def run_sync(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        return fn(self._conn, *args, **kwargs)


class DatabaseUnavailable(Exception):
    """The database did not answer; the API turns this into 503."""


def async_url(url: str) -> str:
    """Accept the plain URLs people write and pick the asyncio driver for them."""
    parsed = make_url(url)
    driver = {
        "sqlite": "sqlite+aiosqlite",
        "postgresql": "postgresql+asyncpg",
        "postgres": "postgresql+asyncpg",
    }.get(parsed.drivername, parsed.drivername)
    if driver not in ("sqlite+aiosqlite", "postgresql+asyncpg"):
        raise ValueError(
            f"unsupported database URL scheme {parsed.drivername!r}: use sqlite:///PATH "
            "or postgresql://USER@HOST/DB"
        )
    return parsed.set(drivername=driver).render_as_string(hide_password=False)


def configure_sqlite(engine: Engine, *, busy_timeout_ms: int | None = None) -> None:
    """Connection settings for every SQLite connection, async pool or journal alike."""
    busy_timeout_ms = SQLITE_BUSY_TIMEOUT_MS if busy_timeout_ms is None else busy_timeout_ms

    @event.listens_for(engine, "connect")
    def on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below issue BEGIN, not the driver's own heuristics.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        # Before WAL and before any table: a new file frees the pages retention purges (an old
        # one keeps auto_vacuum NONE until one `workflowdev purge --vacuum`).
        cursor.execute("PRAGMA auto_vacuum=INCREMENTAL")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(conn: Any) -> None:
        mode = "IMMEDIATE" if conn.get_execution_options().get("write") else "DEFERRED"
        conn.exec_driver_sql(f"BEGIN {mode}")


class Database:
    """The process's database: its engine, its dialect, and units of work."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = async_url(url)
        self.dialect = make_url(self.url).get_backend_name()
        options: dict[str, Any] = {"echo": echo}
        if self.dialect == "postgresql":
            options.update(pool_size=10, max_overflow=10, pool_pre_ping=True)
        self.engine: AsyncEngine = create_async_engine(self.url, **options)
        self._read_engine: Engine | None = None
        self._writers: asyncio.Lock | None = None
        if self.dialect == "sqlite":
            self._writers = asyncio.Lock()
            configure_sqlite(self.engine.sync_engine)
            self._read_engine = create_engine(make_url(self.url).set(drivername="sqlite"), pool_size=4, max_overflow=16)
            configure_sqlite(self._read_engine)

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    async def migrate(self) -> None:
        """Bring the schema up to date; safe to call on every start, from any number of nodes.
        The first contact of every process with its database: one that cannot be reached is
        `DatabaseUnavailable`, naming it (without its password)."""
        await self.ping(timeout=FIRST_CONTACT_TIMEOUT)
        async with self.engine.connect() as conn:
            await conn.run_sync(upgrade_to_head)
            await conn.commit()

    @asynccontextmanager
    async def writer_turn(self) -> AsyncIterator[None]:
        """This process's turn to write, in arrival order (SQLite only; PostgreSQL writers
        queue on row locks, fairly, and need no turn). Never wait for another write inside
        one: the turn is not reentrant."""
        if self._writers is None:
            yield
            return
        async with self._writers:
            yield

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """A transaction that will write: committed on success, rolled back on any error."""
        async with self.writer_turn(), self.engine.connect() as conn:
            if self.is_sqlite:
                conn = await conn.execution_options(write=True)
            async with conn.begin():
                yield conn

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A read-only unit of work that sees one snapshot, nothing committed. A listing reads its
        page and its total in two statements, and they must agree: SQLite's deferred transaction
        holds one snapshot from its first read; PostgreSQL's READ COMMITTED would take a new one
        per statement, so its reads are REPEATABLE READ (which never fails a transaction that
        only reads)."""
        if self._read_engine is not None:
            with self._read_engine.connect() as sync_conn, sync_conn.begin():
                yield cast(AsyncConnection, LoopConnection(sync_conn))
            return
        async with self.engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="REPEATABLE READ")
            async with conn.begin():
                yield conn

    async def ping(self, timeout: float = 2.0) -> None:
        """Raise DatabaseUnavailable unless the database answers within `timeout` seconds.
        SQLite answers through a read connection on the loop (a local file answers at once),
        so a file that cannot be opened leaves no aiosqlite thread behind to fail later."""
        try:
            if self._read_engine is not None:
                with self._read_engine.connect() as sync_conn:
                    sync_conn.execute(text("SELECT 1"))
                return
            async with asyncio.timeout(timeout), self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception as exc:  # noqa: BLE001 - any driver failure means "not ready"
            reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()
            where = make_url(self.url).render_as_string(hide_password=True)
            raise DatabaseUnavailable(f"cannot reach the database {where}: {reason[0] if reason else type(exc).__name__}") from exc

    async def close(self) -> None:
        await self.engine.dispose()
        if self._read_engine is not None:
            self._read_engine.dispose()
