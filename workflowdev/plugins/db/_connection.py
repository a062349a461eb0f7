"""Connections to the database: one engine per task, transactions a cancellation can brake,
and driver errors turned into messages that never show the password.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import Awaitable
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.exc import StatementError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from workflowdev.engine.plugin import TaskContext
from workflowdev.engine.plugin import TaskFailed
from workflowdev.engine.plugin import TaskTimeout
from workflowdev.plugins._toolkit import CONNECTORS_HINT
from workflowdev.plugins.db._target import KILL_TIMEOUT_SECONDS
from workflowdev.plugins.db._target import MYSQL
from workflowdev.plugins.db._target import Statement
from workflowdev.plugins.db._target import T
from workflowdev.plugins.db._target import Target

# -- errors ---------------------------------------------------------------------------------------


def _driver_error(exc: BaseException) -> BaseException:
    """The driver's own exception under SQLAlchemy's wrappers (asyncpg's sits one level deeper)."""
    inner: BaseException = exc
    if isinstance(exc, StatementError) and exc.orig is not None:
        inner = exc.orig
    if type(inner).__module__.startswith("sqlalchemy") and inner.__cause__ is not None:
        inner = inner.__cause__
    return inner


def _os_reason(error: OSError) -> str:
    if isinstance(error, TimeoutError):
        return "timed out"
    if error.errno:
        return os.strerror(error.errno)
    return error.strerror or str(error) or type(error).__name__


def _failure(exc: BaseException, target: Target, statement: Statement | None = None) -> TaskFailed:
    """An operator-facing verdict from what the driver raised; never built from the URL."""
    error = _driver_error(exc)
    user = f"user {target.user!r}" if target.user else "the default user"
    if isinstance(error, OSError):
        return TaskFailed(f"could not connect to {target.where}: {_os_reason(error)}")
    if type(error).__module__.startswith("asyncpg"):
        message = "; ".join(line.strip() for line in str(error).splitlines() if line.strip())  # with DETAIL/HINT
        if getattr(error, "sqlstate", None) in ("28P01", "28000"):
            return TaskFailed(f"authentication failed for {user} at {target.where}: {message}")
        if message.startswith("invalid input for query argument"):
            message += (
                "; PostgreSQL wants a value of the parameter's own type: pass numbers as numbers, "
                "and dates or times as text with CAST(CAST(:name AS TEXT) AS date)"
            )
        return TaskFailed(statement.explain(message) if statement else message)
    if type(error).__module__.startswith("pymysql") and len(error.args) == 2:
        code, message = error.args
        if code == 1045:
            return TaskFailed(f"authentication failed for {user} at {target.where}: {message}")
        if code in (2003, 2006, 2013):
            cause = error.__cause__
            reason = _os_reason(cause) if isinstance(cause, OSError) else str(message)
            return TaskFailed(f"could not connect to {target.where}: {reason}")
        return TaskFailed(f"{message} (MySQL error {code})")
    if isinstance(error, sqlite3.DatabaseError) and str(error) in ("not authorized", "authorization denied"):
        return TaskFailed("ATTACH and VACUUM INTO are refused: they could write files outside the working directory")
    if isinstance(error, sqlite3.Error):
        return TaskFailed(f"{error} ({target.where})")
    return TaskFailed(str(error) or type(error).__name__)


# -- the connection -------------------------------------------------------------------------------


def _deny_attach(action: int, *_: object) -> int:
    """SQLite authorizer: ATTACH (and VACUUM INTO, which attaches its target) could open any file."""
    return sqlite3.SQLITE_DENY if action == sqlite3.SQLITE_ATTACH else sqlite3.SQLITE_OK


def _engine(target: Target, *, write: bool) -> AsyncEngine:
    try:
        engine = create_async_engine(target.url, poolclass=NullPool)
    except ModuleNotFoundError as exc:
        raise TaskFailed(
            f"{target.family.label} access is missing its driver ({exc.name}); {CONNECTORS_HINT}"
        ) from None
    if target.is_sqlite:
        _make_sqlite_transactional(engine, write=write)
    return engine


def _make_sqlite_transactional(engine: AsyncEngine, *, write: bool) -> None:
    """Let SQLite run DDL inside the transaction too, and take the write lock up front for writers.

    Python's sqlite3 opens transactions itself, lazily and only before DML, so a CREATE TABLE
    would commit on its own and survive a rollback. Taking over BEGIN (SQLAlchemy's documented
    recipe) makes the task's transaction cover every statement.
    """

    @event.listens_for(engine.sync_engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        dbapi_connection.run_async(lambda driver: driver.set_authorizer(_deny_attach))

    @event.listens_for(engine.sync_engine, "begin")
    def on_begin(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


@dataclass
class _Brake:
    """How to stop the statement running on this connection, learned once connected."""

    target: Target
    ctx: TaskContext
    stop: Callable[[], Awaitable[None]] | None = None

    async def arm(self, conn: AsyncConnection) -> None:
        raw = await conn.get_raw_connection()
        driver = raw.driver_connection
        if self.target.is_sqlite:
            self.stop = driver.interrupt
        elif self.target.family is MYSQL:
            thread_id = int(driver.thread_id())
            self.stop = lambda: self._kill_mysql_query(thread_id)
        # PostgreSQL: asyncpg sends a cancel request itself when the call is cancelled.

    async def _kill_mysql_query(self, thread_id: int) -> None:
        engine = create_async_engine(self.target.url, poolclass=NullPool)
        try:
            async with engine.connect() as conn:
                await conn.execute(text("KILL QUERY :thread_id"), {"thread_id": thread_id})
        finally:
            await engine.dispose()

    async def apply(self) -> None:
        if self.stop is None:
            return
        try:
            async with asyncio.timeout(KILL_TIMEOUT_SECONDS):
                await self.stop()
        except (TimeoutError, SQLAlchemyError, OSError, sqlite3.Error) as exc:
            self.ctx.log.warning(
                f"could not stop the running statement on {self.target.where}: {_failure(exc, self.target)}"
            )


@dataclass
class Phase:
    """What the task is doing, for failures that say where the time or the error came from."""

    text: str
    statement: Statement | None = None
    """The statement running, whose parameter names explain asyncpg's $1, $2."""
    label: str = ""
    """Put before a failure's message: "statement 2 of 3 failed, nothing was committed: "."""

    def now(self, text_: str, statement: Statement | None = None, label: str = "") -> None:
        self.text, self.statement, self.label = text_, statement, label


async def in_transaction(
    ctx: TaskContext,
    target: Target,
    timeout: TaskTimeout,
    work: Callable[[AsyncConnection, Phase], Awaitable[T]],
    *,
    write: bool,
) -> T:
    """Connect, BEGIN, `work`, COMMIT (ROLLBACK on any failure), all within `timeout`.

    The work runs as its own task behind a shield so that, on timeout or cancellation, this
    coroutine can stop the statement on the server *before* the work unwinds: unwinding first
    would close the connection under a running statement (MySQL goes on computing) or, with
    SQLite, wait for the statement to finish.
    """
    phase = Phase(f"connecting to {target.where}")
    brake = _Brake(target, ctx)

    async def run() -> T:
        engine = _engine(target, write=write)
        try:
            async with engine.connect() as conn:
                await brake.arm(conn)
                async with conn.begin():
                    return await work(conn, phase)
        finally:
            await engine.dispose()

    job = asyncio.ensure_future(run())
    deadline = asyncio.timeout(timeout.seconds)
    try:
        async with deadline:
            return await asyncio.shield(job)
    except TimeoutError as exc:
        if not deadline.expired():  # the driver's own timeout (an OS connect timeout, say)
            raise TaskFailed(f"{phase.label}{_failure(exc, target)}") from None
        await _stop(job, brake)
        if not job.cancelled() and job.exception() is None:
            return job.result()  # it committed just as time ran out: that is a success
        raise TaskFailed(f"timed out after {timeout.text} {phase.text}; nothing was committed") from None
    except asyncio.CancelledError:
        await _stop(job, brake)
        raise
    except (SQLAlchemyError, OSError, sqlite3.Error) as exc:
        raise TaskFailed(f"{phase.label}{_failure(exc, target, phase.statement)}") from None
    except TypeError as exc:
        if "unexpected keyword argument" not in str(exc):
            raise
        # An option after '?' in the URL that the driver's connect() does not take.
        raise TaskFailed(f"the url has an option {target.family.driver} does not know: {exc}") from None


async def _stop(job: asyncio.Future[Any], brake: _Brake) -> None:
    """Stop the statement on the server, then the work itself, and wait until it has let go."""
    if not job.done():
        await brake.apply()
        job.cancel()
    await asyncio.wait([job])
    if not job.cancelled():
        job.exception()  # retrieved: its failure is superseded by the timeout or cancellation
