"""The pieces the db task types' manifests share: url, sql, params, max_rows, timeout, rows."""

from __future__ import annotations

from typing import Final

from workflowdev.engine.plugin import DURATION_SCHEMA
from workflowdev.engine.plugin import JSON
from workflowdev.plugins._toolkit import object_schema
from workflowdev.plugins.db._target import DEFAULT_MAX_ROWS
from workflowdev.plugins.db._target import DEFAULT_TIMEOUT
from workflowdev.plugins.db._target import MAX_ROWS_LIMIT

# -- schemas --------------------------------------------------------------------------------------


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
ROWS_OUT: Final[dict[str, JSON]] = object_schema(ROWS_PROPERTIES, ["rows", "count", "columns", "truncated"])
ROWCOUNT_OUT: Final[dict[str, JSON]] = {
    "type": "integer",
    "minimum": -1,
    "description": (
        "Rows the statement changed or matched, as the database reports it; -1 when it reports none "
        "(CREATE, DROP and other DDL)."
    ),
}
