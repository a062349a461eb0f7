"""db.query, db.execute and db.transaction: SQL statements with bound parameters, in one transaction each."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from typing import ClassVar

from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from workflowdev.engine.plugin import JSON
from workflowdev.engine.plugin import Manifest
from workflowdev.engine.plugin import Plugin
from workflowdev.engine.plugin import TaskContext
from workflowdev.engine.plugin import TaskFailed
from workflowdev.plugins._toolkit import object_schema
from workflowdev.plugins._toolkit import read_duration
from workflowdev.plugins._toolkit import read_whole_number
from workflowdev.plugins._toolkit import single_value
from workflowdev.plugins._toolkit import task_example
from workflowdev.plugins.db._connection import Phase
from workflowdev.plugins.db._connection import in_transaction
from workflowdev.plugins.db._schemas import MAX_ROWS_SCHEMA
from workflowdev.plugins.db._schemas import PARAMS_SCHEMA
from workflowdev.plugins.db._schemas import ROWCOUNT_OUT
from workflowdev.plugins.db._schemas import ROWS_OUT
from workflowdev.plugins.db._schemas import SQL_SCHEMA
from workflowdev.plugins.db._schemas import TIMEOUT_SCHEMA
from workflowdev.plugins.db._schemas import URL_SCHEMA
from workflowdev.plugins.db._target import DEFAULT_MAX_ROWS
from workflowdev.plugins.db._target import DEFAULT_TIMEOUT
from workflowdev.plugins.db._target import MAX_ROWS_LIMIT
from workflowdev.plugins.db._target import MAX_STATEMENTS
from workflowdev.plugins.db._target import find_target
from workflowdev.plugins.db._target import parse_statement
from workflowdev.plugins.db._target import rows_output

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
        input_schema=object_schema(
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
            task_example(
                "greet",
                "db.query",
                """
                url: 'sqlite:///:memory:'
                sql: SELECT :name AS greeting, 6 * 7 AS answer
                params: {name: hello}
                """,
            ),
            task_example(
                "big_orders",
                "db.query",
                """
                url: ${PG_URL}
                sql: >-
                  SELECT id, customer, amount FROM workflowdev_example_orders
                  WHERE amount >= :minimum ORDER BY id
                params: {minimum: 100}
                max_rows: 50
                """,
            ),
            task_example(
                "server_version",
                "db.query",
                """
                url: ${MYSQL_URL}
                sql: SELECT VERSION() AS version
                timeout: 10s
                """,
            ),
        ),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        target = find_target(ctx, properties["url"])
        statement = parse_statement(properties["sql"], properties.get("params"))
        max_rows = read_whole_number(properties, "max_rows", DEFAULT_MAX_ROWS, 1, MAX_ROWS_LIMIT)
        timeout = read_duration(properties, "timeout", DEFAULT_TIMEOUT)

        def read(sync: Connection) -> tuple[list[Any], list[Any]] | None:
            result = sync.execute(statement.clause(), statement.params, execution_options={"stream_results": True})
            try:
                return (list(result.keys()), result.fetchmany(max_rows + 1)) if result.returns_rows else None
            finally:
                result.close()

        async def work(conn: AsyncConnection, phase: Phase) -> dict[str, JSON]:
            phase.now(f"running the query on {target.where}", statement)
            read_back = await conn.run_sync(read)
            if read_back is None:
                raise TaskFailed(
                    "the statement returned no rows and was rolled back; use db.execute for statements without a result"
                )
            return rows_output(ctx, *read_back, max_rows)

        outputs = await in_transaction(ctx, target, timeout, work, write=False)
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
        input_schema=object_schema(
            {"url": URL_SCHEMA, "sql": SQL_SCHEMA, "params": PARAMS_SCHEMA, "timeout": TIMEOUT_SCHEMA},
            ["url", "sql"],
        ),
        output_schema=single_value("rowcount", ROWCOUNT_OUT),
        examples=(
            task_example(
                "reprice",
                "db.execute",
                """
                url: ${PG_URL}
                sql: UPDATE workflowdev_example_orders SET amount = amount * :factor WHERE customer = :customer
                params: {factor: 1.1, customer: acme}
                """,
            ),
            task_example(
                "make_table",
                "db.execute",
                """
                url: sqlite:///inventory.db
                sql: CREATE TABLE IF NOT EXISTS items (sku TEXT PRIMARY KEY, quantity INTEGER NOT NULL)
                """,
            ),
        ),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        target = find_target(ctx, properties["url"])
        statement = parse_statement(properties["sql"], properties.get("params"))
        timeout = read_duration(properties, "timeout", DEFAULT_TIMEOUT)

        async def work(conn: AsyncConnection, phase: Phase) -> dict[str, JSON]:
            phase.now(f"running the statement on {target.where}", statement)
            result = await conn.execute(statement.clause(), statement.params)
            return {"rowcount": _rowcount(result)}

        outputs = await in_transaction(ctx, target, timeout, work, write=True)
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
        input_schema=object_schema(
            {
                "url": URL_SCHEMA,
                "statements": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": MAX_STATEMENTS,
                    "items": object_schema({"sql": SQL_SCHEMA, "params": PARAMS_SCHEMA}, ["sql"]),
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
        output_schema=single_value(
            "results",
            {
                "type": "array",
                "items": {"anyOf": [ROWS_OUT, single_value("rowcount", ROWCOUNT_OUT)]},
                "description": ("One result per statement, in order: {rows, count, columns, truncated} or {rowcount}."),
            },
        ),
        examples=(
            task_example(
                "move_stock",
                "db.transaction",
                """
                url: 'sqlite:///:memory:'
                statements:
                  - sql: CREATE TABLE stock (sku TEXT PRIMARY KEY, quantity INTEGER NOT NULL)
                  - sql: INSERT INTO stock VALUES (:sku, :quantity)
                    params: {sku: A-1, quantity: 10}
                  - sql: UPDATE stock SET quantity = quantity - :taken WHERE sku = :sku
                    params: {sku: A-1, taken: 3}
                  - sql: SELECT sku, quantity FROM stock
                """,
            ),
        ),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        target = find_target(ctx, properties["url"])
        raw = properties["statements"]
        if not isinstance(raw, list) or not raw:
            raise TaskFailed("statements must be a non-empty list of {sql, params}")
        if len(raw) > MAX_STATEMENTS:
            raise TaskFailed(f"statements holds {len(raw)} statements; at most {MAX_STATEMENTS} run in one task")
        statements = []
        for number, item in enumerate(raw, 1):
            if not isinstance(item, Mapping):
                raise TaskFailed(f"statement {number} must be an object with sql and params")
            statements.append(parse_statement(item.get("sql"), item.get("params"), f"statement {number}: "))
        max_rows = read_whole_number(properties, "max_rows", DEFAULT_MAX_ROWS, 1, MAX_ROWS_LIMIT)
        timeout = read_duration(properties, "timeout", DEFAULT_TIMEOUT)
        total = len(statements)

        async def work(conn: AsyncConnection, phase: Phase) -> dict[str, JSON]:
            results: list[dict[str, JSON]] = []
            for number, statement in enumerate(statements, 1):
                label = f"statement {number} of {total} failed, nothing was committed: "
                phase.now(f"running statement {number} of {total} on {target.where}", statement, label)
                result = await conn.execute(statement.clause(), statement.params)
                if not result.returns_rows:
                    results.append({"rowcount": _rowcount(result)})
                    continue
                try:
                    results.append(rows_output(ctx, list(result.keys()), result.fetchmany(max_rows + 1), max_rows))
                except TaskFailed as failure:
                    raise TaskFailed(f"{label}{failure}") from None
                finally:
                    result.close()
            return {"results": results}

        outputs = await in_transaction(ctx, target, timeout, work, write=True)
        ctx.log.info(f"{total} statement(s) committed on {target.where}")
        return outputs
