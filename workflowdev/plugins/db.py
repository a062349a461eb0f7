"""db: SQL against PostgreSQL, MySQL/MariaDB and SQLite — queries, statements, bulk inserts, transactions.

Every task opens its own engine (no pool: one connection), runs inside one transaction that
commits only when everything succeeded, and disposes of the engine on the way out, whatever
happened. Four rules run through the module:
- values only ever travel as bound parameters (`sqlalchemy.text` with `:name`, or a Core insert
  for `db.insert_rows`); nothing a flow supplies is spliced into SQL text;
- the `url` usually comes from a credential, so no message is ever built from it: errors name
  the host, port, database and user, never the password;
- `timeout` bounds the whole task. When it runs out (or the execution is cancelled) the running
  statement is stopped on the server before the connection is dropped: asyncpg sends
  PostgreSQL a cancel request itself, MySQL gets `KILL QUERY` from a second connection, SQLite
  is interrupted. Dropping the socket alone would leave MySQL computing and would make SQLite's
  worker thread, and so the task, wait for the statement to finish;
- SQLite files are confined like file.* paths (relative, inside the working directory or
  files_root), and ATTACH / VACUUM INTO, which could write anywhere, are refused.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import itertools
import json
import math
import os
import re
import sqlite3
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar, Final, TypeVar

from sqlalchemy import ARRAY, column, event, insert, inspect, table, text
from sqlalchemy import JSON as SA_JSON
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import ArgumentError, NoSuchTableError, SQLAlchemyError, StatementError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool
from sqlalchemy.types import TypeEngine

from workflowdev.engine.plugin import (
    DURATION_SCHEMA,
    JSON,
    Manifest,
    Plugin,
    TaskContext,
    TaskFailed,
    TaskTimeout,
    as_text,
    parse_duration,
    parse_timeout,
)
from workflowdev.plugins._paths import confinement

__all__ = ["PLUGINS", "Execute", "InsertRows", "Query", "Transaction"]

DEFAULT_TIMEOUT: Final = "30s"
DEFAULT_MAX_ROWS: Final = 1000
MAX_ROWS_LIMIT: Final = 100_000
MAX_STATEMENTS: Final = 1000
MAX_INSERT_ROWS: Final = 100_000
KILL_TIMEOUT_SECONDS: Final = 5.0
"""How long stopping a statement on a MySQL server may take before the task gives up on it."""
CONNECTORS_HINT: Final = "this task needs the `connectors` extra: pip install 'workflowdev[connectors]'"

_IDENTIFIER: Final = r"[A-Za-z_][A-Za-z0-9_$]{0,62}"
TABLE_PATTERN: Final = f"^{_IDENTIFIER}(\\.{_IDENTIFIER})?$"
COLUMN_PATTERN: Final = f"^{_IDENTIFIER}$"
_QUERY_ARGUMENT: Final = re.compile(r"query argument \$(\d+)")

T = TypeVar("T")


# -- where the database is ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Family:
    label: str
    dialect: str
    driver: str
    default_port: int | None


_POSTGRESQL: Final = _Family("PostgreSQL", "postgresql", "asyncpg", 5432)
_MYSQL: Final = _Family("MySQL", "mysql", "aiomysql", 3306)
_SQLITE: Final = _Family("SQLite", "sqlite", "aiosqlite", None)
_FAMILIES: Final = {
    "postgresql": _POSTGRESQL,
    "postgres": _POSTGRESQL,
    "mysql": _MYSQL,
    "mariadb": _MYSQL,
    "sqlite": _SQLITE,
}


@dataclass(frozen=True, slots=True)
class _Target:
    """A database to connect to, and how messages may name it (never with the password)."""

    url: URL
    family: _Family
    where: str
    """"127.0.0.1:5432", "SQLite file data/app.db", "in-memory SQLite"."""
    user: str | None

    @property
    def is_sqlite(self) -> bool:
        return self.family is _SQLITE


def _target(ctx: TaskContext, value: JSON) -> _Target:
    """The async-driver URL for `value`, or TaskFailed saying what a usable one looks like."""
    example = "postgresql://user:password@host:5432/name, mysql://… or sqlite:///file.db"
    if not isinstance(value, str) or not value.strip():
        raise TaskFailed(f"url must be a database URL such as {example}")
    try:
        url = make_url(value.strip())
    except (ArgumentError, ValueError):
        # The text is probably a credential: say what is wrong with it, never what it is.
        raise TaskFailed(f"url is not a database URL; expected something like {example}") from None
    backend, _, driver = url.drivername.partition("+")
    family = _FAMILIES.get(backend.lower())
    if family is None:
        raise TaskFailed(
            f"url names the database {backend!r}; db.* works with postgresql://, mysql://, "
            "mariadb:// and sqlite:/// URLs"
        )
    if driver and driver.lower() != family.driver:
        raise TaskFailed(
            f"db.* reaches {family.label} through {family.driver}; write {backend}:// (or "
            f"{backend}+{family.driver}://) instead of {url.drivername}://"
        )
    url = url.set(drivername=f"{family.dialect}+{family.driver}")
    if family is _SQLITE:
        return _sqlite_target(ctx, url)
    if family is _POSTGRESQL and "sslmode" in url.query and "ssl" not in url.query:
        # libpq's spelling, which most hosted PostgreSQL URLs carry; asyncpg takes the same values as `ssl`.
        url = url.difference_update_query(["sslmode"]).update_query_dict({"ssl": url.query["sslmode"]})
    where = f"{url.host or 'localhost'}:{url.port or family.default_port}"
    return _Target(url, family, where, url.username)


def _sqlite_target(ctx: TaskContext, url: URL) -> _Target:
    if url.query:
        raise TaskFailed("sqlite URLs take no options after '?'; write sqlite:///relative/file.db")
    database = url.database or ":memory:"
    if database == ":memory:":
        return _Target(url.set(database=":memory:"), _SQLITE, "in-memory SQLite", None)
    if database.startswith("/"):
        raise TaskFailed(
            "a SQLite file must be a relative path (sqlite:///data/app.db, three slashes), inside "
            "the execution's working directory or files_root; absolute paths are refused"
        )
    confined = confinement(ctx)
    real = confined.resolve(database, what="SQLite database")
    return _Target(url.set(database=str(real)), _SQLITE, f"SQLite file {confined.relative(real)}", None)


# -- reading properties ---------------------------------------------------------------------------




def _max_rows(properties: Mapping[str, JSON]) -> int:
    value = properties.get("max_rows", DEFAULT_MAX_ROWS)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_ROWS_LIMIT:
        raise TaskFailed(f"max_rows must be a whole number from 1 to {MAX_ROWS_LIMIT}, got {as_text(value)}")
    return value


def _sql(value: JSON, what: str = "sql") -> str:
    if not isinstance(value, str) or not value.strip():
        raise TaskFailed(f"{what} must be a non-empty SQL statement")
    return value


def _bound(value: JSON) -> Any:
    """A JSON value as a driver takes it: objects as JSON text, lists as arrays, the rest as is."""
    if isinstance(value, Mapping):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    if isinstance(value, list):
        return [_bound(item) for item in value]
    return value


@dataclass(frozen=True, slots=True)
class _Statement:
    """One SQL statement with its parameters, checked against each other before anything runs."""

    sql: str
    params: dict[str, Any]
    names: tuple[str, ...]
    """The statement's parameters in order of first use: asyncpg's $1, $2, … in its messages."""

    def clause(self) -> Any:
        return text(self.sql)

    def explain(self, message: str) -> str:
        """asyncpg numbers parameters ($1); the flow named them (:day)."""

        def name(match: re.Match[str]) -> str:
            index = int(match.group(1)) - 1
            return f"parameter :{self.names[index]}" if 0 <= index < len(self.names) else match.group(0)

        return _QUERY_ARGUMENT.sub(name, message)


def _statement(sql_value: JSON, params_value: JSON, where: str = "") -> _Statement:
    sql = _sql(sql_value, f"{where}sql")
    if params_value is None:
        params_value = {}
    if not isinstance(params_value, Mapping):
        raise TaskFailed(f"{where}params must be an object of parameter names to values, got {as_text(params_value)}")
    try:
        names = tuple(text(sql).compile().params)
    except SQLAlchemyError as exc:
        raise TaskFailed(f"{where}sql cannot be read: {exc}") from None
    missing = [name for name in names if name not in params_value]
    if missing:
        raise TaskFailed(
            f"{where}sql uses {', '.join(':' + n for n in missing)} but params has no value for "
            f"{'it' if len(missing) == 1 else 'them'} (a colon that is not a parameter is written \\:, "
            "and a cast as CAST(:x AS type) rather than :x::type)"
        )
    unused = [str(name) for name in params_value if name not in names]
    if unused:
        raise TaskFailed(f"{where}params has {', '.join(unused)}, which sql does not use as :name")
    return _Statement(sql, {name: _bound(value) for name, value in params_value.items()}, names)


# -- values coming back ---------------------------------------------------------------------------


@dataclass
class _Converter:
    """Turns driver values into JSON, remembering whether a number had to lose precision."""

    lossy_columns: set[str] = field(default_factory=set)

    def value(self, value: Any, column_name: str) -> JSON:
        if value is None or isinstance(value, (bool, int, str)):
            return value
        if isinstance(value, float):
            return value if math.isfinite(value) else str(value)
        if isinstance(value, Decimal):
            return self._decimal(value, column_name)
        if isinstance(value, (datetime, date, time)):
            return value.isoformat()
        if isinstance(value, timedelta):
            return value.total_seconds()
        if isinstance(value, (bytes, bytearray, memoryview)):
            return base64.b64encode(bytes(value)).decode("ascii")
        if isinstance(value, Mapping):
            return {str(key): self.value(item, column_name) for key, item in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.value(item, column_name) for item in value]
        return str(value)  # UUIDs, network addresses, ranges, enums: their text form

    def _decimal(self, value: Decimal, column_name: str) -> JSON:
        if not value.is_finite():
            return str(value)
        if value == value.to_integral_value():
            return int(value)
        number = float(value)
        if Decimal(repr(number)) != value:
            self.lossy_columns.add(column_name)
        return number

    def rows(self, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[dict[str, JSON]]:
        return [{name: self.value(item, name) for name, item in zip(columns, row, strict=True)} for row in rows]


def _columns(keys: Sequence[Any]) -> list[str]:
    columns = [str(key) for key in keys]
    seen: set[str] = set()
    for name in columns:
        if name in seen:
            raise TaskFailed(f"the result has two columns named {name!r}; give them distinct names with AS")
        seen.add(name)
    return columns


def _rows_output(
    ctx: TaskContext, keys: Sequence[Any], fetched: Sequence[Sequence[Any]], max_rows: int
) -> dict[str, JSON]:
    columns = _columns(keys)
    truncated = len(fetched) > max_rows
    converter = _Converter()
    rows = converter.rows(columns, fetched[:max_rows])
    if truncated:
        ctx.log.warning(f"the result has more than {max_rows} rows; only the first {max_rows} are returned")
    if converter.lossy_columns:
        ctx.log.warning(
            f"decimal values in {', '.join(sorted(converter.lossy_columns))} have more digits than a JSON "
            "number keeps; cast them to text in SQL to get them exactly"
        )
    return {"rows": rows, "count": len(rows), "columns": columns, "truncated": truncated}


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


def _failure(exc: BaseException, target: _Target, statement: _Statement | None = None) -> TaskFailed:
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


def _engine(target: _Target, *, write: bool) -> AsyncEngine:
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

    target: _Target
    ctx: TaskContext
    stop: Callable[[], Awaitable[None]] | None = None

    async def arm(self, conn: AsyncConnection) -> None:
        raw = await conn.get_raw_connection()
        driver = raw.driver_connection
        if self.target.is_sqlite:
            self.stop = driver.interrupt
        elif self.target.family is _MYSQL:
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
class _Phase:
    """What the task is doing, for failures that say where the time or the error came from."""

    text: str
    statement: _Statement | None = None
    """The statement running, whose parameter names explain asyncpg's $1, $2."""
    label: str = ""
    """Put before a failure's message: "statement 2 of 3 failed, nothing was committed: "."""

    def now(self, text_: str, statement: _Statement | None = None, label: str = "") -> None:
        self.text, self.statement, self.label = text_, statement, label


async def _in_transaction(
    ctx: TaskContext,
    target: _Target,
    timeout: TaskTimeout,
    work: Callable[[AsyncConnection, _Phase], Awaitable[T]],
    *,
    write: bool,
) -> T:
    """Connect, BEGIN, `work`, COMMIT (ROLLBACK on any failure), all within `timeout`.

    The work runs as its own task behind a shield so that, on timeout or cancellation, this
    coroutine can stop the statement on the server *before* the work unwinds: unwinding first
    would close the connection under a running statement (MySQL goes on computing) or, with
    SQLite, wait for the statement to finish.
    """
    phase = _Phase(f"connecting to {target.where}")
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


# -- schemas --------------------------------------------------------------------------------------


def _object(properties: dict[str, JSON], required: list[str]) -> dict[str, JSON]:
    return {"type": "object", "properties": properties, "required": required, "additionalProperties": False}


URL_SCHEMA: Final[dict[str, JSON]] = {
    "type": "string",
    "minLength": 1,
    "description": (
        "The database, as a URL that usually comes from a credential (`${PG_URL}`): "
        "postgresql://user:password@host:5432/name, mysql://… or mariadb://… (MySQL and MariaDB), "
        "sqlite:///relative/file.db or sqlite:///:memory:. The async drivers (asyncpg, aiomysql, "
        "aiosqlite) are chosen for you. A SQLite file is a relative path inside the execution's "
        "working directory, or files_root when the operator set one; absolute paths are refused, "
        "and an in-memory database lives for one task."
    ),
}
SQL_SCHEMA: Final[dict[str, JSON]] = {
    "type": "string",
    "minLength": 1,
    "description": (
        "One SQL statement. Values go in `params` and appear in the SQL as `:name`; they are sent "
        "to the database separately, never spliced into the text. Write CAST(:x AS type) rather "
        "than :x::type, and `\\:` for a colon that is not a parameter (inside quotes too)."
    ),
}
PARAMS_SCHEMA: Final[dict[str, JSON]] = {
    "type": "object",
    "default": {},
    "description": (
        "Values of the statement's `:name` parameters: every parameter needs one and every value "
        "must be used. Objects are sent as JSON text, lists as arrays (PostgreSQL). PostgreSQL "
        "checks types strictly: pass numbers for numeric parameters, and pass a date or time as "
        "text with CAST(CAST(:day AS TEXT) AS date)."
    ),
}
MAX_ROWS_SCHEMA: Final[dict[str, JSON]] = {
    "type": "integer",
    "minimum": 1,
    "maximum": MAX_ROWS_LIMIT,
    "default": DEFAULT_MAX_ROWS,
    "description": (
        "The most rows returned. When the result has more, the first max_rows are returned with "
        "`truncated: true` and a warning in the log; the task still succeeds."
    ),
}
TIMEOUT_SCHEMA: Final[dict[str, JSON]] = {
    **DURATION_SCHEMA,
    "default": DEFAULT_TIMEOUT,
    "description": (
        "How long the whole task may take, connecting included: 500ms, 30s, 10m, ISO 8601 or a "
        "number of seconds. When it runs out, the running statement is stopped on the server and "
        "nothing is committed."
    ),
}

VALUES_TEXT: Final = (
    "Values become JSON: numbers stay numbers (DECIMAL/NUMERIC too: whole ones as integers, others "
    "as floats, which keep about 15 significant digits — cast to text in SQL to keep more), "
    "timestamps, dates and times become ISO 8601 text (with the offset when the column has a time "
    "zone), intervals seconds, UUIDs text, binary data base64 text, JSON columns their value, "
    "arrays lists, NaN and infinities text, and anything else its text form."
)
ROWS_PROPERTIES: Final[dict[str, JSON]] = {
    "rows": {
        "type": "array",
        "items": {"type": "object"},
        "description": f"The rows, each an object of column name to value. {VALUES_TEXT}",
    },
    "count": {"type": "integer", "minimum": 0, "description": "How many rows `rows` holds."},
    "columns": {
        "type": "array",
        "items": {"type": "string"},
        "description": "The result's column names, in order (also when there are no rows).",
    },
    "truncated": {
        "type": "boolean",
        "description": "True when the result had more than max_rows rows and only the first are here.",
    },
}
ROWS_OUT: Final[dict[str, JSON]] = _object(ROWS_PROPERTIES, ["rows", "count", "columns", "truncated"])
ROWCOUNT_OUT: Final[dict[str, JSON]] = {
    "type": "integer",
    "minimum": -1,
    "description": (
        "Rows the statement changed or matched, as the database reports it; -1 when it reports none "
        "(CREATE, DROP and other DDL)."
    ),
}


# -- the task types -------------------------------------------------------------------------------


class Query(Plugin):
    """Read rows; a statement with RETURNING counts as a query too."""

    manifest: ClassVar[Manifest] = Manifest(
        id="db.query",
        name="Run a SQL query",
        category="db",
        description=(
            "Runs one statement that returns rows (SELECT, or INSERT/UPDATE … RETURNING) with bound "
            "parameters and returns the rows as objects. The statement runs in a transaction that "
            "commits when the rows have been read; a statement that returns no rows fails the task "
            "(and is rolled back): use db.execute for those. Rows are read as they come, so a huge "
            "result costs no more memory than max_rows."
        ),
        input_schema=_object(
            {
                "url": URL_SCHEMA,
                "sql": SQL_SCHEMA,
                "params": PARAMS_SCHEMA,
                "max_rows": MAX_ROWS_SCHEMA,
                "timeout": TIMEOUT_SCHEMA,
            },
            ["url", "sql"],
        ),
        output_schema=ROWS_OUT,
        examples=(
            "- name: greet\n"
            "  type: db.query\n"
            "  properties:\n"
            "    url: 'sqlite:///:memory:'\n"
            "    sql: SELECT :name AS greeting, 6 * 7 AS answer\n"
            "    params: {name: hello}\n",
            "- name: big_orders\n"
            "  type: db.query\n"
            "  properties:\n"
            "    url: ${PG_URL}\n"
            "    sql: >-\n"
            "      SELECT id, customer, amount FROM workflowdev_example_orders\n"
            "      WHERE amount >= :minimum ORDER BY id\n"
            "    params: {minimum: 100}\n"
            "    max_rows: 50\n",
            "- name: server_version\n"
            "  type: db.query\n"
            "  properties:\n"
            "    url: ${MYSQL_URL}\n"
            "    sql: SELECT VERSION() AS version\n"
            "    timeout: 10s\n",
        ),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        target = _target(ctx, properties["url"])
        statement = _statement(properties["sql"], properties.get("params"))
        max_rows = _max_rows(properties)
        timeout = parse_timeout(properties.get("timeout", DEFAULT_TIMEOUT))

        def read(sync: Connection) -> tuple[list[Any], list[Any]] | None:
            result = sync.execute(statement.clause(), statement.params, execution_options={"stream_results": True})
            try:
                return (list(result.keys()), result.fetchmany(max_rows + 1)) if result.returns_rows else None
            finally:
                result.close()

        async def work(conn: AsyncConnection, phase: _Phase) -> dict[str, JSON]:
            phase.now(f"running the query on {target.where}", statement)
            read_back = await conn.run_sync(read)
            if read_back is None:
                raise TaskFailed(
                    "the statement returned no rows and was rolled back; use db.execute for statements without a result"
                )
            return _rows_output(ctx, *read_back, max_rows)

        outputs = await _in_transaction(ctx, target, timeout, work, write=False)
        ctx.log.info(f"{outputs['count']} row(s) from {target.where}")
        return outputs


class Execute(Plugin):
    """Change data or schema with one statement and report how many rows it touched."""

    manifest: ClassVar[Manifest] = Manifest(
        id="db.execute",
        name="Run a SQL statement",
        category="db",
        description=(
            "Runs one statement that returns no rows (INSERT, UPDATE, DELETE, CREATE …) with bound "
            "parameters, in a transaction of its own that commits when it succeeds. Returns the "
            "number of rows it changed. Several statements that must succeed or fail together "
            "belong in db.transaction. MySQL and MariaDB commit DDL (CREATE, ALTER, DROP) at once, "
            "whatever the transaction."
        ),
        input_schema=_object(
            {"url": URL_SCHEMA, "sql": SQL_SCHEMA, "params": PARAMS_SCHEMA, "timeout": TIMEOUT_SCHEMA},
            ["url", "sql"],
        ),
        output_schema=_object({"rowcount": ROWCOUNT_OUT}, ["rowcount"]),
        examples=(
            "- name: reprice\n"
            "  type: db.execute\n"
            "  properties:\n"
            "    url: ${PG_URL}\n"
            "    sql: UPDATE workflowdev_example_orders SET amount = amount * :factor WHERE customer = :customer\n"
            "    params: {factor: 1.1, customer: acme}\n",
            "- name: make_table\n"
            "  type: db.execute\n"
            "  properties:\n"
            "    url: sqlite:///inventory.db\n"
            "    sql: CREATE TABLE IF NOT EXISTS items (sku TEXT PRIMARY KEY, quantity INTEGER NOT NULL)\n",
        ),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        target = _target(ctx, properties["url"])
        statement = _statement(properties["sql"], properties.get("params"))
        timeout = parse_timeout(properties.get("timeout", DEFAULT_TIMEOUT))

        async def work(conn: AsyncConnection, phase: _Phase) -> dict[str, JSON]:
            phase.now(f"running the statement on {target.where}", statement)
            result = await conn.execute(statement.clause(), statement.params)
            return {"rowcount": _rowcount(result)}

        outputs = await _in_transaction(ctx, target, timeout, work, write=True)
        ctx.log.info(f"statement done on {target.where}: rowcount {outputs['rowcount']}")
        return outputs


def _rowcount(result: Any) -> int:
    count = result.rowcount
    # MySQL reports an unsigned -1 ("not available") as 2**64 - 1.
    return count if isinstance(count, int) and 0 <= count < 2**63 else -1


class Transaction(Plugin):
    """Several statements that succeed together or leave no trace."""

    manifest: ClassVar[Manifest] = Manifest(
        id="db.transaction",
        name="Run SQL statements in one transaction",
        category="db",
        description=(
            "Runs `statements` in order inside one transaction: it commits only when every one "
            "succeeded, and any failure rolls all of them back (the error names the statement). "
            "Each result is the rows (with count, columns, truncated) for a statement that returns "
            "rows, or the rowcount for one that does not. SQLite covers DDL in the transaction too; "
            "MySQL and MariaDB commit DDL at once."
        ),
        input_schema=_object(
            {
                "url": URL_SCHEMA,
                "statements": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": MAX_STATEMENTS,
                    "items": _object({"sql": SQL_SCHEMA, "params": PARAMS_SCHEMA}, ["sql"]),
                    "description": "The statements, run in this order, each with its own params.",
                },
                "max_rows": {
                    **MAX_ROWS_SCHEMA,
                    "description": "The most rows returned per statement; see db.query.",
                },
                "timeout": TIMEOUT_SCHEMA,
            },
            ["url", "statements"],
        ),
        output_schema=_object(
            {
                "results": {
                    "type": "array",
                    "items": {"anyOf": [ROWS_OUT, _object({"rowcount": ROWCOUNT_OUT}, ["rowcount"])]},
                    "description": (
                        "One result per statement, in order: {rows, count, columns, truncated} or {rowcount}."
                    ),
                },
            },
            ["results"],
        ),
        examples=(
            "- name: move_stock\n"
            "  type: db.transaction\n"
            "  properties:\n"
            "    url: 'sqlite:///:memory:'\n"
            "    statements:\n"
            "      - sql: CREATE TABLE stock (sku TEXT PRIMARY KEY, quantity INTEGER NOT NULL)\n"
            "      - sql: INSERT INTO stock VALUES (:sku, :quantity)\n"
            "        params: {sku: A-1, quantity: 10}\n"
            "      - sql: UPDATE stock SET quantity = quantity - :taken WHERE sku = :sku\n"
            "        params: {sku: A-1, taken: 3}\n"
            "      - sql: SELECT sku, quantity FROM stock\n",
        ),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        target = _target(ctx, properties["url"])
        raw = properties["statements"]
        if not isinstance(raw, list) or not raw:
            raise TaskFailed("statements must be a non-empty list of {sql, params}")
        if len(raw) > MAX_STATEMENTS:
            raise TaskFailed(f"statements holds {len(raw)} statements; at most {MAX_STATEMENTS} run in one task")
        statements = []
        for number, item in enumerate(raw, 1):
            if not isinstance(item, Mapping):
                raise TaskFailed(f"statement {number} must be an object with sql and params")
            statements.append(_statement(item.get("sql"), item.get("params"), f"statement {number}: "))
        max_rows = _max_rows(properties)
        timeout = parse_timeout(properties.get("timeout", DEFAULT_TIMEOUT))
        total = len(statements)

        async def work(conn: AsyncConnection, phase: _Phase) -> dict[str, JSON]:
            results: list[dict[str, JSON]] = []
            for number, statement in enumerate(statements, 1):
                label = f"statement {number} of {total} failed, nothing was committed: "
                phase.now(f"running statement {number} of {total} on {target.where}", statement, label)
                result = await conn.execute(statement.clause(), statement.params)
                if not result.returns_rows:
                    results.append({"rowcount": _rowcount(result)})
                    continue
                try:
                    results.append(_rows_output(ctx, list(result.keys()), result.fetchmany(max_rows + 1), max_rows))
                except TaskFailed as failure:
                    raise TaskFailed(f"{label}{failure}") from None
                finally:
                    result.close()
            return {"results": results}

        outputs = await _in_transaction(ctx, target, timeout, work, write=True)
        ctx.log.info(f"{total} statement(s) committed on {target.where}")
        return outputs


# -- db.insert_rows -------------------------------------------------------------------------------

_TRUE: Final = frozenset({"true", "t", "yes", "y", "on", "1"})
_FALSE: Final = frozenset({"false", "f", "no", "n", "off", "0"})


def _python_type(type_: TypeEngine[Any]) -> type | None:
    try:
        return type_.python_type
    except NotImplementedError:
        return None


def _from_text(value: str, wanted: type) -> Any:
    """Text as the column's Python type: PostgreSQL's driver refuses '42' for an integer column."""
    stripped = value.strip()
    if wanted is bool:
        if stripped.lower() in _TRUE:
            return True
        if stripped.lower() in _FALSE:
            return False
        raise ValueError("expected true or false")
    if wanted is int:
        return int(stripped)
    if wanted is float:
        return float(stripped)
    if wanted is Decimal:
        return Decimal(stripped)
    if wanted is datetime:
        return datetime.fromisoformat(stripped)
    if wanted is date:
        return date.fromisoformat(stripped)
    if wanted is time:
        return time.fromisoformat(stripped)
    if wanted is timedelta:
        return timedelta(seconds=parse_duration(stripped))
    if wanted is uuid.UUID:
        return uuid.UUID(stripped)
    if wanted is bytes:
        return base64.b64decode(stripped, validate=True)
    return value


def _for_column(value: JSON, type_: TypeEngine[Any]) -> Any:
    """A JSON value as the column's type wants it (the reverse of what db.query returns)."""
    if value is None or isinstance(type_, SA_JSON):
        return value  # JSON columns serialise the value themselves (see _bind_type)
    if isinstance(value, list) and isinstance(type_, ARRAY):
        return value
    if isinstance(value, (Mapping, list)):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    wanted = _python_type(type_)
    if wanted is None:
        return value
    if isinstance(value, str):
        return _from_text(value, wanted)
    if wanted is str and not isinstance(value, bool):
        return as_text(value)
    if wanted is Decimal and isinstance(value, float):
        return Decimal(repr(value))
    return value


def _bind_type(type_: TypeEngine[Any]) -> TypeEngine[Any]:
    """The column's type for binding; a missing value in a JSON column is SQL NULL, not JSON null."""
    if isinstance(type_, SA_JSON):
        bound = type_.copy()
        bound.none_as_null = True
        return bound
    return type_


def _table_name(value: JSON) -> tuple[str | None, str]:
    if not isinstance(value, str) or not re.fullmatch(TABLE_PATTERN, value):
        raise TaskFailed(
            f"table must be a name such as orders or sales.orders (letters, digits, _ and $), got {as_text(value)}"
        )
    schema, _, name = value.rpartition(".")
    return schema or None, name


def _column_names(rows: Sequence[Mapping[str, JSON]], value: JSON) -> list[str]:
    if value is None:
        names: dict[str, None] = {}
        for row in rows:
            names.update(dict.fromkeys(row))
        columns = list(names)
    elif isinstance(value, list) and value and all(isinstance(name, str) for name in value):
        if len(set(value)) != len(value):
            raise TaskFailed("columns names a column twice")
        columns = list(value)
        for number, row in enumerate(rows, 1):
            extra = [key for key in row if key not in value]
            if extra:
                raise TaskFailed(f"row {number} has {', '.join(extra)}, which columns does not list")
    else:
        raise TaskFailed(f"columns must be a non-empty list of column names, got {as_text(value)}")
    for name in columns:
        if not re.fullmatch(COLUMN_PATTERN, name):
            raise TaskFailed(f"{name!r} is not a column name (letters, digits, _ and $, starting with a letter or _)")
    return columns


def _reflect(sync: Connection, schema: str | None, name: str) -> tuple[str, dict[str, TypeEngine[Any]]]:
    """The table's real name and its columns' types, matching names case-insensitively if need be."""
    inspector = inspect(sync)
    try:
        return name, {c["name"]: c["type"] for c in inspector.get_columns(name, schema=schema)}
    except NoSuchTableError:
        pass
    matches = [t for t in inspector.get_table_names(schema=schema) if t.lower() == name.lower()]
    if len(matches) != 1:
        where = f" in schema {schema}" if schema else ""
        raise TaskFailed(f"table {name}{where} does not exist")
    return matches[0], {c["name"]: c["type"] for c in inspector.get_columns(matches[0], schema=schema)}


def _match_columns(wanted: Sequence[str], available: Mapping[str, TypeEngine[Any]], table_name: str) -> list[str]:
    by_lower: dict[str, list[str]] = {}
    for name in available:
        by_lower.setdefault(name.lower(), []).append(name)
    real: list[str] = []
    for name in wanted:
        if name in available:
            real.append(name)
        elif len(by_lower.get(name.lower(), [])) == 1:
            real.append(by_lower[name.lower()][0])
        else:
            raise TaskFailed(f"table {table_name} has no column {name}")
    return real


class InsertRows(Plugin):
    """Bulk-insert objects (parsed CSV, API results) into a table, all or nothing."""

    manifest: ClassVar[Manifest] = Manifest(
        id="db.insert_rows",
        name="Insert rows into a table",
        category="db",
        description=(
            "Inserts `rows` (objects of column name to value) into `table` with bulk INSERTs of "
            "bound values, in one transaction: all rows or none. The table and its columns are "
            "looked up first, so a misspelt name fails clearly, and text is converted to the "
            "column's type (numbers, true/false, ISO 8601 dates and times, UUIDs, base64 for binary "
            "columns), which lets parsed CSV go straight in. A column a row leaves out gets its "
            "default (NULL when it has none); null stores NULL. Objects and lists go to JSON "
            "columns as they are, to array columns as arrays, and elsewhere as JSON text. An empty "
            "`rows` inserts nothing and does not connect."
        ),
        input_schema=_object(
            {
                "url": URL_SCHEMA,
                "table": {
                    "type": "string",
                    "pattern": TABLE_PATTERN,
                    "description": (
                        "The table, optionally with its schema (sales.orders): letters, digits, _ "
                        "and $. The name is quoted for the database, never spliced in."
                    ),
                },
                "rows": {
                    "type": "array",
                    "maxItems": MAX_INSERT_ROWS,
                    "items": {"type": "object", "description": "One row: column name to value."},
                    "description": "The rows to insert, each an object of column name to value.",
                },
                "columns": {
                    "type": "array",
                    "minItems": 1,
                    "uniqueItems": True,
                    "items": {"type": "string", "pattern": COLUMN_PATTERN},
                    "description": (
                        "The columns to fill. By default, every key that appears in any row; when "
                        "given, a row with any other key fails the task (a typo guard)."
                    ),
                },
                "timeout": TIMEOUT_SCHEMA,
            },
            ["url", "table", "rows"],
        ),
        output_schema=_object(
            {"inserted": {"type": "integer", "minimum": 0, "description": "How many rows were inserted."}},
            ["inserted"],
        ),
        examples=(
            "- name: load_orders\n"
            "  type: db.insert_rows\n"
            "  properties:\n"
            "    url: ${PG_URL}\n"
            "    table: workflowdev_example_orders\n"
            "    rows:\n"
            "      - {customer: acme, amount: '120.50', created_at: '2024-05-01T09:30:00Z'}\n"
            "      - {customer: globex, amount: 99}\n",
        ),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        target = _target(ctx, properties["url"])
        schema, name = _table_name(properties["table"])
        rows = properties["rows"]
        if not isinstance(rows, list) or not all(isinstance(row, Mapping) for row in rows):
            raise TaskFailed("rows must be a list of objects (column name to value)")
        if len(rows) > MAX_INSERT_ROWS:
            raise TaskFailed(f"rows holds {len(rows)} rows; at most {MAX_INSERT_ROWS} are inserted in one task")
        if not rows:
            ctx.log.info("no rows to insert")
            return {"inserted": 0}
        wanted = _column_names(rows, properties.get("columns"))
        timeout = parse_timeout(properties.get("timeout", DEFAULT_TIMEOUT))
        shown = properties["table"]

        async def work(conn: AsyncConnection, phase: _Phase) -> dict[str, JSON]:
            phase.now(f"reading the columns of {shown} on {target.where}")
            real_name, types = await conn.run_sync(_reflect, schema, name)
            columns = _match_columns(wanted, types, shown)
            values = [_row_values(number, row, wanted, columns, types) for number, row in enumerate(rows, 1)]
            into = insert(table(real_name, *(column(c, _bind_type(types[c])) for c in columns), schema=schema))
            phase.now(f"inserting {len(values)} rows into {shown} on {target.where}")
            for batch in _same_columns(values):
                await conn.execute(into, batch)
            return {"inserted": len(values)}

        outputs = await _in_transaction(ctx, target, timeout, work, write=True)
        ctx.log.info(f"inserted {outputs['inserted']} row(s) into {shown} on {target.where}")
        return outputs


def _row_values(
    number: int,
    row: Mapping[str, JSON],
    wanted: Sequence[str],
    columns: Sequence[str],
    types: Mapping[str, TypeEngine[Any]],
) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for key, real in zip(wanted, columns, strict=True):
        if key not in row:
            continue  # the column's default applies
        try:
            values[real] = _for_column(row[key], types[real])
        except (ValueError, InvalidOperation, binascii.Error) as exc:
            raise TaskFailed(
                f"row {number}, column {key}: {as_text(row.get(key))} does not fit the column ({exc or 'invalid value'})"
            ) from None
    return values


def _same_columns(values: Sequence[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    """Runs of consecutive rows that fill the same columns: one INSERT can only name one set of
    columns, and keeping the runs in order keeps the rows in the order the flow gave them."""
    for _, run in itertools.groupby(values, key=lambda row: tuple(row)):
        yield list(run)


PLUGINS: Final[list[type[Plugin]]] = [Query, Execute, InsertRows, Transaction]
