"""Where a db task's database is, and how statements and values cross into and out of it."""

from __future__ import annotations

import base64
import json
import math
import re
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from datetime import date
from datetime import datetime
from datetime import time
from datetime import timedelta
from decimal import Decimal
from typing import Any
from typing import Final
from typing import TypeVar

from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.exc import SQLAlchemyError

from workflowdev.engine.plugin import JSON
from workflowdev.engine.plugin import TaskContext
from workflowdev.engine.plugin import TaskFailed
from workflowdev.engine.plugin import as_text
from workflowdev.plugins._paths import confinement

DEFAULT_TIMEOUT: Final = "30s"
DEFAULT_MAX_ROWS: Final = 1000
MAX_ROWS_LIMIT: Final = 100_000
MAX_STATEMENTS: Final = 1000
MAX_INSERT_ROWS: Final = 100_000
KILL_TIMEOUT_SECONDS: Final = 5.0
"""How long stopping a statement on a MySQL server may take before the task gives up on it."""

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
MYSQL: Final = _Family("MySQL", "mysql", "aiomysql", 3306)
_SQLITE: Final = _Family("SQLite", "sqlite", "aiosqlite", None)
_FAMILIES: Final = {
    "postgresql": _POSTGRESQL,
    "postgres": _POSTGRESQL,
    "mysql": MYSQL,
    "mariadb": MYSQL,
    "sqlite": _SQLITE,
}


@dataclass(frozen=True, slots=True)
class Target:
    """A database to connect to, and how messages may name it (never with the password)."""

    url: URL
    family: _Family
    where: str
    """"127.0.0.1:5432", "SQLite file data/app.db", "in-memory SQLite"."""
    user: str | None

    @property
    def is_sqlite(self) -> bool:
        return self.family is _SQLITE


def find_target(ctx: TaskContext, value: JSON) -> Target:
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
    return Target(url, family, where, url.username)


def _sqlite_target(ctx: TaskContext, url: URL) -> Target:
    if url.query:
        raise TaskFailed("sqlite URLs take no options after '?'; write sqlite:///relative/file.db")
    database = url.database or ":memory:"
    if database == ":memory:":
        return Target(url.set(database=":memory:"), _SQLITE, "in-memory SQLite", None)
    if database.startswith("/"):
        raise TaskFailed(
            "a SQLite file must be a relative path (sqlite:///data/app.db, three slashes), inside "
            "the execution's working directory or files_root; absolute paths are refused"
        )
    confined = confinement(ctx)
    real = confined.resolve(database, what="SQLite database")
    return Target(url.set(database=str(real)), _SQLITE, f"SQLite file {confined.relative(real)}", None)


# -- reading properties ---------------------------------------------------------------------------


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
class Statement:
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


def parse_statement(sql_value: JSON, params_value: JSON, where: str = "") -> Statement:
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
    return Statement(sql, {name: _bound(value) for name, value in params_value.items()}, names)


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


def rows_output(
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
