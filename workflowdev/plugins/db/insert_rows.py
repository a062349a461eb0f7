"""db.insert_rows: rows checked against the table's own columns, inserted in batches."""

from __future__ import annotations

import base64
import binascii
import itertools
import json
import re
import uuid
from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
from datetime import date
from datetime import datetime
from datetime import time
from datetime import timedelta
from decimal import Decimal
from decimal import InvalidOperation
from typing import Any
from typing import ClassVar
from typing import Final

from sqlalchemy import ARRAY
from sqlalchemy import JSON as SA_JSON
from sqlalchemy import column
from sqlalchemy import insert
from sqlalchemy import inspect
from sqlalchemy import table
from sqlalchemy.engine import Connection
from sqlalchemy.exc import NoSuchTableError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.types import TypeEngine

from workflowdev.engine.plugin import JSON
from workflowdev.engine.plugin import Manifest
from workflowdev.engine.plugin import Plugin
from workflowdev.engine.plugin import TaskContext
from workflowdev.engine.plugin import TaskFailed
from workflowdev.engine.plugin import as_text
from workflowdev.engine.plugin import parse_duration
from workflowdev.plugins._toolkit import object_schema
from workflowdev.plugins._toolkit import read_duration
from workflowdev.plugins._toolkit import single_value
from workflowdev.plugins._toolkit import task_example
from workflowdev.plugins.db._connection import Phase
from workflowdev.plugins.db._connection import in_transaction
from workflowdev.plugins.db._schemas import TIMEOUT_SCHEMA
from workflowdev.plugins.db._schemas import URL_SCHEMA
from workflowdev.plugins.db._target import COLUMN_PATTERN
from workflowdev.plugins.db._target import DEFAULT_TIMEOUT
from workflowdev.plugins.db._target import MAX_INSERT_ROWS
from workflowdev.plugins.db._target import TABLE_PATTERN
from workflowdev.plugins.db._target import find_target

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
        input_schema=object_schema(
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
        output_schema=single_value(
            "inserted", {"type": "integer", "minimum": 0, "description": "How many rows were inserted."}
        ),
        examples=(
            task_example(
                "load_orders",
                "db.insert_rows",
                """
                url: ${PG_URL}
                table: workflowdev_example_orders
                rows:
                  - {customer: acme, amount: '120.50', created_at: '2024-05-01T09:30:00Z'}
                  - {customer: globex, amount: 99}
                """,
            ),
        ),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        target = find_target(ctx, properties["url"])
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
        timeout = read_duration(properties, "timeout", DEFAULT_TIMEOUT)
        shown = properties["table"]

        async def work(conn: AsyncConnection, phase: Phase) -> dict[str, JSON]:
            phase.now(f"reading the columns of {shown} on {target.where}")
            real_name, types = await conn.run_sync(_reflect, schema, name)
            columns = _match_columns(wanted, types, shown)
            values = [_row_values(number, row, wanted, columns, types) for number, row in enumerate(rows, 1)]
            into = insert(table(real_name, *(column(c, _bind_type(types[c])) for c in columns), schema=schema))
            phase.now(f"inserting {len(values)} rows into {shown} on {target.where}")
            for batch in _same_columns(values):
                await conn.execute(into, batch)
            return {"inserted": len(values)}

        outputs = await in_transaction(ctx, target, timeout, work, write=True)
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
