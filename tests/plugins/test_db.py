"""db.*: real SQL against the machine's PostgreSQL and MariaDB and SQLite files in the workdir.

What flows rely on: rows as objects with JSON-friendly values, values bound and never spliced,
`max_rows`, one transaction per task that leaves no trace when it fails, text converted to
column types on insert, and failures that name the problem (syntax, password, refused
connection, silent server) without the URL. A timeout or a cancellation must stop the
statement on the server, not just drop our end of it.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
import time
import uuid
from collections.abc import AsyncIterator
from collections.abc import Awaitable
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from tests.conftest import PG_ADMIN_DSN
from tests.conftest import Api
from tests.engine.flows_helpers import eventually
from tests.engine.flows_helpers import outputs
from tests.engine.flows_helpers import run
from tests.engine.flows_helpers import tasks_by_name
from workflowdev.engine.plugin import JSON
from workflowdev.engine.plugin import Plugin
from workflowdev.engine.plugin import TaskContext
from workflowdev.engine.plugin import TaskFailed
from workflowdev.plugins.db import Execute
from workflowdev.plugins.db import InsertRows
from workflowdev.plugins.db import Query
from workflowdev.plugins.db import Transaction

from .test_util import FakeContext

MYSQL_URL = os.environ.get("WORKFLOWDEV_TEST_MYSQL", "mysql://root@127.0.0.1:3306/test")
PG_URL = PG_ADMIN_DSN
LONG_SQLITE_QUERY = (
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 100000000) SELECT count(*) FROM c"
)
"""About twenty seconds of work for SQLite: only an interrupt ends it in a moment."""


def async_url(url: str) -> str:
    drivers = {"postgresql": "postgresql+asyncpg", "mysql": "mysql+aiomysql", "sqlite": "sqlite+aiosqlite"}
    parsed = make_url(url)
    return parsed.set(drivername=drivers[parsed.get_backend_name()]).render_as_string(hide_password=False)


async def admin(url: str, sql: str, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
    """Run SQL around the plugins (setup, checks), committed at once."""
    engine = create_async_engine(async_url(url), poolclass=NullPool)
    try:
        async with engine.begin() as conn:
            result = await conn.execute(text(sql), params or {})
            return [tuple(row) for row in result] if result.returns_rows else []
    finally:
        await engine.dispose()


async def run_task(plugin: type[Plugin], ctx: TaskContext, **properties: JSON) -> dict[str, JSON]:
    out = dict(await plugin().run(ctx, properties))
    errors = list(Draft202012Validator(plugin.manifest.output_schema).iter_errors(out))
    assert errors == [], errors
    return out


@pytest.fixture
def ctx(tmp_path: Path) -> FakeContext:
    workdir = tmp_path / "work"
    workdir.mkdir()
    context = FakeContext(workdir=workdir)
    assert isinstance(context, TaskContext)
    return context


@dataclass(frozen=True)
class Backend:
    name: str
    url: str
    """What a task gets."""
    admin_url: str
    """The same database, reachable from the test itself."""


@pytest.fixture(params=[pytest.param("postgresql", marks=pytest.mark.postgres), "mysql", "sqlite"])
def backend(request: pytest.FixtureRequest, ctx: FakeContext) -> Backend:
    if request.param == "postgresql":
        return Backend("postgresql", PG_URL, PG_URL)
    if request.param == "mysql":
        return Backend("mysql", MYSQL_URL, MYSQL_URL)
    return Backend("sqlite", "sqlite:///shop.db", f"sqlite:///{ctx.workdir / 'shop.db'}")


@pytest.fixture
async def orders(backend: Backend) -> AsyncIterator[str]:
    """A throwaway orders table with three rows; dropped afterwards."""
    name = f"wf_orders_{uuid.uuid4().hex[:10]}"
    await admin(
        backend.admin_url,
        f"CREATE TABLE {name} (id INTEGER PRIMARY KEY, customer VARCHAR(50) NOT NULL, "
        "amount NUMERIC(10, 2), placed DATE)",
    )
    await admin(
        backend.admin_url,
        f"INSERT INTO {name} VALUES (1, 'acme', 120.50, '2024-05-01'), (2, 'globex', 99.00, NULL), "
        "(3, 'initech', 15.25, '2024-05-03')",
    )
    yield name
    await admin(backend.admin_url, f"DROP TABLE IF EXISTS {name}")


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class SilentServer:
    port: int
    hung_up: asyncio.Event
    """Set once a client that connected has closed its end."""


@pytest.fixture
async def silent_server() -> AsyncIterator[SilentServer]:
    """Accepts connections and never says a word: the database that hangs."""
    hung_up = asyncio.Event()
    writers: list[asyncio.StreamWriter] = []

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        await reader.read()  # until the client gives up and closes
        hung_up.set()

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    yield SilentServer(server.sockets[0].getsockname()[1], hung_up)
    for writer in writers:
        writer.close()
    server.close()
    await server.wait_closed()


# -- queries --------------------------------------------------------------------------------------


async def test_query_returns_rows_as_objects_with_bound_parameters(
    ctx: FakeContext, backend: Backend, orders: str
) -> None:
    out = await run_task(
        Query,
        ctx,
        url=backend.url,
        sql=f"SELECT id, customer FROM {orders} WHERE amount >= :minimum AND customer <> :skip ORDER BY id",
        params={"minimum": 20, "skip": "nobody"},
    )

    assert out == {
        "rows": [{"id": 1, "customer": "acme"}, {"id": 2, "customer": "globex"}],
        "count": 2,
        "columns": ["id", "customer"],
        "truncated": False,
    }


async def test_a_parameter_is_data_never_sql(ctx: FakeContext, backend: Backend, orders: str) -> None:
    hostile = f"x' OR '1'='1'; DROP TABLE {orders}; --"

    out = await run_task(
        Query, ctx, url=backend.url, sql=f"SELECT id FROM {orders} WHERE customer = :name", params={"name": hostile}
    )

    assert out["rows"] == []
    assert await admin(backend.admin_url, f"SELECT count(*) FROM {orders}") == [(3,)]


async def test_max_rows_truncates_and_says_so(ctx: FakeContext, backend: Backend, orders: str) -> None:
    out = await run_task(Query, ctx, url=backend.url, sql=f"SELECT id FROM {orders} ORDER BY id", max_rows=2)

    assert out["rows"] == [{"id": 1}, {"id": 2}]
    assert out["count"] == 2 and out["truncated"] is True
    assert ("warning", "the result has more than 2 rows; only the first 2 are returned") in ctx.log.lines


async def test_an_empty_result_still_names_its_columns(ctx: FakeContext, backend: Backend, orders: str) -> None:
    out = await run_task(Query, ctx, url=backend.url, sql=f"SELECT id, placed FROM {orders} WHERE id < 0")

    assert out == {"rows": [], "count": 0, "columns": ["id", "placed"], "truncated": False}


async def test_query_refuses_a_statement_without_rows_and_rolls_it_back(
    ctx: FakeContext, backend: Backend, orders: str
) -> None:
    with pytest.raises(TaskFailed, match="returned no rows and was rolled back; use db.execute"):
        await Query().run(ctx, {"url": backend.url, "sql": f"UPDATE {orders} SET customer = 'changed'"})

    assert await admin(backend.admin_url, f"SELECT count(*) FROM {orders} WHERE customer = 'changed'") == [(0,)]


async def test_a_huge_result_is_read_only_as_far_as_max_rows(ctx: FakeContext) -> None:
    sql = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 100000000) SELECT x FROM c"
    started = time.monotonic()

    out = await run_task(Query, ctx, url="sqlite:///big.db", sql=sql, max_rows=3)

    assert out["rows"] == [{"x": 1}, {"x": 2}, {"x": 3}] and out["truncated"] is True
    assert time.monotonic() - started < 5, "the rows were streamed, not all computed first"


@pytest.mark.postgres
async def test_postgresql_values_become_json(ctx: FakeContext) -> None:
    sql = (
        "SELECT 1.50::numeric AS price, 10::numeric AS whole, 12345678901234567.5::numeric AS big, "
        "'NaN'::numeric AS nan, 'Infinity'::float8 AS inf, "
        "TIMESTAMPTZ '2024-05-01 09:30:00+00' AS at, TIMESTAMP '2024-05-01 09:30:00' AS local_time, "
        "DATE '2024-05-01' AS day, TIME '09:30:00' AS clock, INTERVAL '1 day 2 hours' AS span, "
        "'6f1c1d5e-8a38-4b5c-9d0e-1f2a3b4c5d6e'::uuid AS id, '\\x00ff'::bytea AS blob, "
        "'{\"a\"\\: [1, 2]}'::jsonb AS doc, ARRAY[1, 2, 3] AS nums, '10.0.0.1'::inet AS ip, NULL AS nothing"
    )

    out = await run_task(Query, ctx, url=PG_URL, sql=sql)

    assert out["rows"] == [
        {
            "price": 1.5,
            "whole": 10,
            "big": 12345678901234568.0,
            "nan": "NaN",
            "inf": "inf",
            "at": "2024-05-01T09:30:00+00:00",
            "local_time": "2024-05-01T09:30:00",
            "day": "2024-05-01",
            "clock": "09:30:00",
            "span": 93600.0,
            "id": "6f1c1d5e-8a38-4b5c-9d0e-1f2a3b4c5d6e",
            "blob": "AP8=",
            "doc": {"a": [1, 2]},
            "nums": [1, 2, 3],
            "ip": "10.0.0.1",
            "nothing": None,
        }
    ]
    warnings = [message for level, message in ctx.log.lines if level == "warning"]
    assert warnings == [
        "decimal values in big have more digits than a JSON number keeps; cast them to text in SQL to get them exactly"
    ]


async def test_mysql_values_become_json(ctx: FakeContext) -> None:
    sql = (
        "SELECT CAST(12.50 AS DECIMAL(10,2)) AS price, CAST('2024-05-01 09:30:00' AS DATETIME) AS at, "
        "CAST('2024-05-01' AS DATE) AS day, X'00FF' AS bin, JSON_OBJECT('a', 1) AS doc, :flag AS flag"
    )

    out = await run_task(Query, ctx, url=MYSQL_URL, sql=sql, params={"flag": True})

    assert out["rows"] == [
        {"price": 12.5, "at": "2024-05-01T09:30:00", "day": "2024-05-01", "bin": "AP8=", "doc": '{"a": 1}', "flag": 1}
    ]


async def test_two_columns_with_one_name_fail_clearly(ctx: FakeContext, backend: Backend, orders: str) -> None:
    with pytest.raises(TaskFailed, match="two columns named 'id'; give them distinct names with AS"):
        await Query().run(ctx, {"url": backend.url, "sql": f"SELECT id, id FROM {orders}"})


# -- statements and transactions ------------------------------------------------------------------


async def test_execute_commits_and_reports_the_rowcount(ctx: FakeContext, backend: Backend, orders: str) -> None:
    out = await run_task(
        Execute,
        ctx,
        url=backend.url,
        sql=f"UPDATE {orders} SET amount = amount * :factor WHERE id <= :last",
        params={"factor": 2, "last": 2},
    )

    assert out == {"rowcount": 2}
    assert await admin(backend.admin_url, f"SELECT id FROM {orders} WHERE amount > 200") == [(1,)]


async def test_execute_reports_minus_one_for_ddl(ctx: FakeContext) -> None:
    out = await run_task(Execute, ctx, url="sqlite:///ddl.db", sql="CREATE TABLE t (x INTEGER)")

    assert out == {"rowcount": -1}


async def test_transaction_runs_every_statement_and_returns_each_result(
    ctx: FakeContext, backend: Backend, orders: str
) -> None:
    out = await run_task(
        Transaction,
        ctx,
        url=backend.url,
        statements=[
            {
                "sql": f"INSERT INTO {orders} (id, customer) VALUES (:id, :customer)",
                "params": {"id": 10, "customer": "umbrella"},
            },
            {"sql": f"UPDATE {orders} SET amount = :amount WHERE id = :id", "params": {"id": 10, "amount": 5}},
            {"sql": f"SELECT id, amount FROM {orders} WHERE id = :id", "params": {"id": 10}},
        ],
    )

    assert out == {
        "results": [
            {"rowcount": 1},
            {"rowcount": 1},
            {"rows": [{"id": 10, "amount": 5}], "count": 1, "columns": ["id", "amount"], "truncated": False},
        ]
    }
    assert await admin(backend.admin_url, f"SELECT customer FROM {orders} WHERE id = 10") == [("umbrella",)]


async def test_a_failing_statement_rolls_back_the_earlier_ones(ctx: FakeContext, backend: Backend, orders: str) -> None:
    statements = [
        {"sql": f"INSERT INTO {orders} (id, customer) VALUES (10, 'umbrella')"},
        {"sql": f"UPDATE {orders} SET customer = 'changed' WHERE id = 1"},
        {"sql": f"INSERT INTO {orders} (id, customer) VALUES (2, 'duplicate key')"},
    ]

    with pytest.raises(TaskFailed, match="^statement 3 of 3 failed, nothing was committed: ") as failure:
        await Transaction().run(ctx, {"url": backend.url, "statements": statements})

    assert any(word in str(failure.value).lower() for word in ("duplicate", "unique"))
    assert await admin(backend.admin_url, f"SELECT count(*) FROM {orders} WHERE id = 10") == [(0,)]
    assert await admin(backend.admin_url, f"SELECT customer FROM {orders} WHERE id = 1") == [("acme",)]


async def test_sqlite_rolls_back_ddl_too(ctx: FakeContext) -> None:
    statements = [{"sql": "CREATE TABLE made_here (x INTEGER)"}, {"sql": "INSERT INTO nowhere VALUES (1)"}]

    with pytest.raises(TaskFailed, match="statement 2 of 2 failed, nothing was committed: no such table: nowhere"):
        await Transaction().run(ctx, {"url": "sqlite:///ddl.db", "statements": statements})

    tables = await admin(f"sqlite:///{ctx.workdir / 'ddl.db'}", "SELECT name FROM sqlite_master")
    assert tables == []


async def test_an_in_memory_database_lives_for_one_task(ctx: FakeContext) -> None:
    out = await run_task(
        Transaction,
        ctx,
        url="sqlite:///:memory:",
        statements=[
            {"sql": "CREATE TABLE t (x INTEGER)"},
            {"sql": "INSERT INTO t VALUES (1)"},
            {"sql": "SELECT x FROM t"},
        ],
    )
    assert out["results"][2]["rows"] == [{"x": 1}]

    with pytest.raises(TaskFailed, match="no such table: t"):
        await Query().run(ctx, {"url": "sqlite:///:memory:", "sql": "SELECT x FROM t"})


# -- insert_rows ----------------------------------------------------------------------------------


async def test_insert_rows_converts_text_to_the_column_types(ctx: FakeContext, backend: Backend, orders: str) -> None:
    rows = [
        {"id": "10", "customer": "umbrella", "amount": "12.50", "placed": "2024-06-01"},
        {"id": 11, "customer": 42, "amount": 7.1},
    ]

    out = await run_task(InsertRows, ctx, url=backend.url, table=orders, rows=rows)

    assert out == {"inserted": 2}
    read = await run_task(Query, ctx, url=backend.url, sql=f"SELECT * FROM {orders} WHERE id >= 10 ORDER BY id")
    assert read["rows"] == [
        {"id": 10, "customer": "umbrella", "amount": 12.5, "placed": "2024-06-01"},
        {"id": 11, "customer": "42", "amount": 7.1, "placed": None},
    ]


async def test_a_column_a_row_leaves_out_gets_its_default(ctx: FakeContext, backend: Backend) -> None:
    name = f"wf_defaults_{uuid.uuid4().hex[:10]}"
    await admin(backend.admin_url, f"CREATE TABLE {name} (id INTEGER PRIMARY KEY, status VARCHAR(10) DEFAULT 'new')")
    try:
        rows = [{"id": 1, "status": "old"}, {"id": 2}, {"id": 3}, {"id": 4, "status": None}]

        out = await run_task(InsertRows, ctx, url=backend.url, table=name, rows=rows)

        assert out == {"inserted": 4}
        stored = await admin(backend.admin_url, f"SELECT id, status FROM {name} ORDER BY id")
        assert stored == [(1, "old"), (2, "new"), (3, "new"), (4, None)]
    finally:
        await admin(backend.admin_url, f"DROP TABLE IF EXISTS {name}")


async def test_insert_rows_is_all_or_nothing(ctx: FakeContext, backend: Backend, orders: str) -> None:
    rows = [{"id": 20, "customer": "first"}, {"id": 21}]  # customer is NOT NULL

    with pytest.raises(TaskFailed):
        await InsertRows().run(ctx, {"url": backend.url, "table": orders, "rows": rows})

    assert await admin(backend.admin_url, f"SELECT count(*) FROM {orders} WHERE id >= 20") == [(0,)]


async def test_insert_rows_matches_names_regardless_of_case(ctx: FakeContext, backend: Backend, orders: str) -> None:
    out = await run_task(InsertRows, ctx, url=backend.url, table=orders.upper(), rows=[{"ID": 30, "Customer": "loud"}])

    assert out == {"inserted": 1}
    assert await admin(backend.admin_url, f"SELECT customer FROM {orders} WHERE id = 30") == [("loud",)]


@pytest.mark.parametrize(
    ("properties", "message"),
    [
        ({"table": "wf_no_such_table"}, "table wf_no_such_table does not exist"),
        ({"rows": [{"id": 40, "nmae": "typo"}]}, "has no column nmae"),
        ({"rows": [{"id": "forty", "customer": "x"}]}, "row 1, column id: forty does not fit the column"),
        (
            {"rows": [{"id": 41, "customer": "x", "extra": 1}], "columns": ["id", "customer"]},
            "row 1 has extra, which columns does not list",
        ),
        ({"table": "orders; DROP TABLE users"}, "table must be a name such as orders or sales.orders"),
        ({"rows": [{"id; DROP TABLE x": 1}]}, "is not a column name"),
    ],
)
async def test_insert_rows_refuses_what_does_not_fit(
    ctx: FakeContext, backend: Backend, orders: str, properties: dict[str, JSON], message: str
) -> None:
    task = {"url": backend.url, "table": orders, "rows": [{"id": 40, "customer": "x"}], **properties}

    with pytest.raises(TaskFailed, match=message.replace("(", r"\(")):
        await InsertRows().run(ctx, task)

    assert await admin(backend.admin_url, f"SELECT count(*) FROM {orders}") == [(3,)]


async def test_insert_of_no_rows_does_not_connect(ctx: FakeContext, closed_port: int) -> None:
    out = await run_task(
        InsertRows, ctx, url=f"postgresql://postgres@127.0.0.1:{closed_port}/postgres", table="orders", rows=[]
    )

    assert out == {"inserted": 0}


@pytest.mark.postgres
async def test_insert_rows_fills_postgresql_types_from_json(ctx: FakeContext) -> None:
    name = f"wf_types_{uuid.uuid4().hex[:10]}"
    await admin(
        PG_URL,
        f"CREATE TABLE public.{name} (at TIMESTAMPTZ, ok BOOLEAN, ref UUID, doc JSONB, nums INTEGER[], "
        "blob BYTEA, span INTERVAL, note TEXT)",
    )
    try:
        row = {
            "at": "2024-05-01T09:30:00Z",
            "ok": "yes",
            "ref": "6f1c1d5e-8a38-4b5c-9d0e-1f2a3b4c5d6e",
            "doc": {"a": [1, 2]},
            "nums": [1, 2],
            "blob": "AP8=",
            "span": "90m",
            "note": {"kept": "as JSON text"},
        }

        out = await run_task(InsertRows, ctx, url=PG_URL, table=f"public.{name}", rows=[row, {"note": "doc missing"}])

        assert out == {"inserted": 2}
        stored = await admin(
            PG_URL,
            f"SELECT at = TIMESTAMPTZ '2024-05-01 09:30:00+00', ok, ref::text, doc->'a'->>1, nums[2], "
            f"encode(blob, 'hex'), extract(epoch FROM span), note, doc IS NULL FROM {name} ORDER BY note",
        )
        assert stored == [
            (None, None, None, None, None, None, None, "doc missing", True),
            (True, True, row["ref"], "2", 2, "00ff", 5400, '{"kept":"as JSON text"}', False),
        ]
    finally:
        await admin(PG_URL, f"DROP TABLE IF EXISTS {name}")


# -- where the database may be --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("sqlite:////etc/passwd.db", "a SQLite file must be a relative path"),
        ("sqlite:///../outside.db", "climbs out of the root"),
        ("sqlite:///data.db?uri=true", "sqlite URLs take no options"),
        ("oracle://scott:tiger@db.example.test/orcl", "url names the database 'oracle'"),
        ("postgresql+psycopg2://u:secret-pw@127.0.0.1/x", "reaches PostgreSQL through asyncpg; write postgresql://"),
        ("not a url at all", "url is not a database URL"),
    ],
)
async def test_urls_outside_the_rules_are_refused_without_being_echoed(
    ctx: FakeContext, url: str, message: str
) -> None:
    with pytest.raises(TaskFailed, match=message) as failure:
        await Query().run(ctx, {"url": url, "sql": "SELECT 1"})

    assert "secret-pw" not in str(failure.value) and "tiger" not in str(failure.value)


@pytest.mark.postgres
async def test_libpq_sslmode_is_understood_and_unknown_options_are_named(ctx: FakeContext) -> None:
    out = await run_task(Query, ctx, url=f"{PG_URL}?sslmode=disable", sql="SELECT 1 AS one")
    assert out["rows"] == [{"one": 1}]

    with pytest.raises(TaskFailed, match="the url has an option asyncpg does not know: .*'no_such_option'"):
        await Query().run(ctx, {"url": f"{PG_URL}?no_such_option=1", "sql": "SELECT 1"})


async def test_without_the_mysql_driver_the_task_names_the_extra(
    ctx: FakeContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "aiomysql", None)

    with pytest.raises(TaskFailed, match=r"pip install 'workflowdev\[connectors\]'"):
        await Query().run(ctx, {"url": MYSQL_URL, "sql": "SELECT 1"})


async def test_a_sqlite_file_lives_in_the_workdir(ctx: FakeContext) -> None:
    (ctx.workdir / "data").mkdir()

    await run_task(Execute, ctx, url="sqlite:///data/app.db", sql="CREATE TABLE t (x INTEGER)")

    assert (ctx.workdir / "data" / "app.db").is_file()


async def test_a_symlink_out_of_the_workdir_is_refused(ctx: FakeContext, tmp_path: Path) -> None:
    (ctx.workdir / "link.db").symlink_to(tmp_path / "elsewhere.db")

    with pytest.raises(TaskFailed, match="leads outside the execution's working directory"):
        await Query().run(ctx, {"url": "sqlite:///link.db", "sql": "SELECT 1"})


@pytest.mark.parametrize("sql", ["ATTACH DATABASE :path AS other", "VACUUM INTO :path"])
async def test_sqlite_cannot_write_outside_through_sql(ctx: FakeContext, tmp_path: Path, sql: str) -> None:
    outside = tmp_path / "escaped.db"

    with pytest.raises(TaskFailed, match="ATTACH and VACUUM INTO are refused|cannot VACUUM from within a transaction"):
        await Execute().run(ctx, {"url": "sqlite:///inside.db", "sql": sql, "params": {"path": str(outside)}})

    assert not outside.exists()


# -- parameters -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "params", "message"),
    [
        ("SELECT :a AS a, :b AS b", {"a": 1}, r"sql uses :b but params has no value for it"),
        ("SELECT :a AS a", {"a": 1, "b": 2}, "params has b, which sql does not use"),
        (
            "SELECT '{\"k\":1}' AS j",
            {},
            r"sql uses :1 but params has no value for it \(a colon that is not a parameter is written \\:",
        ),
    ],
)
async def test_parameters_and_sql_must_agree(ctx: FakeContext, sql: str, params: dict[str, JSON], message: str) -> None:
    with pytest.raises(TaskFailed, match=message):
        await Query().run(ctx, {"url": "sqlite:///:memory:", "sql": sql, "params": params})


async def test_objects_are_bound_as_json_text_and_colons_can_be_escaped(ctx: FakeContext) -> None:
    out = await run_task(
        Query, ctx, url="sqlite:///:memory:", sql="SELECT :doc AS doc, '10\\:30' AS at", params={"doc": {"a": [1, 2]}}
    )

    assert out["rows"] == [{"doc": '{"a":[1,2]}', "at": "10:30"}]


@pytest.mark.postgres
async def test_postgresql_type_errors_name_the_parameter_and_the_way_out(ctx: FakeContext) -> None:
    with pytest.raises(TaskFailed, match=r"invalid input for parameter :day: .*CAST\(CAST\(:name AS TEXT\) AS date\)"):
        await Query().run(
            ctx, {"url": PG_URL, "sql": "SELECT CAST(:day AS date) AS d", "params": {"day": "2024-05-01"}}
        )

    out = await run_task(
        Query, ctx, url=PG_URL, sql="SELECT CAST(CAST(:day AS TEXT) AS date) AS d", params={"day": "2024-05-01"}
    )
    assert out["rows"] == [{"d": "2024-05-01"}]


# -- failures -------------------------------------------------------------------------------------


async def test_a_syntax_error_is_the_databases_own_message(ctx: FakeContext, backend: Backend) -> None:
    with pytest.raises(TaskFailed) as failure:
        await Query().run(ctx, {"url": backend.url, "sql": "SELEC 1"})

    message = str(failure.value)
    assert "syntax" in message.lower() and "SELEC" in message
    assert backend.url not in message


@pytest.fixture
async def mysql_user() -> AsyncIterator[tuple[str, str]]:
    """A MariaDB account with a password (root has none), dropped at the end."""
    user, password = f"wf_{uuid.uuid4().hex[:10]}", f"pw-{uuid.uuid4().hex}"
    await admin(MYSQL_URL, f"CREATE USER IF NOT EXISTS '{user}'@'%' IDENTIFIED BY '{password}'")
    await admin(MYSQL_URL, f"GRANT ALL PRIVILEGES ON test.* TO '{user}'@'%'")
    yield user, password
    await admin(MYSQL_URL, f"DROP USER IF EXISTS '{user}'@'%'")


async def test_a_wrong_mysql_password_fails_authentication_without_showing_it(
    ctx: FakeContext, mysql_user: tuple[str, str]
) -> None:
    user, password = mysql_user
    good = await run_task(Query, ctx, url=f"mysql://{user}:{password}@127.0.0.1:3306/test", sql="SELECT 1 AS one")
    assert good["rows"] == [{"one": 1}]

    with pytest.raises(TaskFailed) as failure:
        await Query().run(ctx, {"url": f"mysql://{user}:wrong-{password}@127.0.0.1:3306/test", "sql": "SELECT 1"})

    message = str(failure.value)
    assert message.startswith(f"authentication failed for user '{user}' at 127.0.0.1:3306: Access denied")
    assert password not in message


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "postgresql://wf_nobody_here:pw@127.0.0.1:5432/postgres",
            "authentication failed for user 'wf_nobody_here' at 127.0.0.1:5432: role \"wf_nobody_here\" does not exist",
        ),
        (
            "postgresql://postgres:pw@127.0.0.1:5432/wf_no_such_database",
            'database "wf_no_such_database" does not exist',
        ),
    ],
)
async def test_a_wrong_postgresql_user_or_database_is_named(ctx: FakeContext, url: str, message: str) -> None:
    with pytest.raises(TaskFailed) as failure:
        await Query().run(ctx, {"url": url, "sql": "SELECT 1"})

    assert str(failure.value) == message


@pytest.mark.parametrize("scheme", ["postgresql", "mysql"])
async def test_a_refused_connection_names_host_and_port(ctx: FakeContext, closed_port: int, scheme: str) -> None:
    url = f"{scheme}://someone:secret-pw@127.0.0.1:{closed_port}/db"

    with pytest.raises(TaskFailed) as failure:
        await Query().run(ctx, {"url": url, "sql": "SELECT 1"})

    assert str(failure.value) == f"could not connect to 127.0.0.1:{closed_port}: Connection refused"


@pytest.mark.parametrize("scheme", ["postgresql", "mysql"])
async def test_a_silent_server_times_out_and_is_hung_up_on(
    ctx: FakeContext, silent_server: SilentServer, scheme: str
) -> None:
    url = f"{scheme}://someone:secret-pw@127.0.0.1:{silent_server.port}/db"

    with pytest.raises(TaskFailed) as failure:
        await Query().run(ctx, {"url": url, "sql": "SELECT 1", "timeout": "300ms"})

    assert str(failure.value) == (
        f"timed out after 300ms connecting to 127.0.0.1:{silent_server.port}; nothing was committed"
    )
    await asyncio.wait_for(silent_server.hung_up.wait(), timeout=5)


# -- stopping a statement -------------------------------------------------------------------------


@dataclass(frozen=True)
class Server:
    url: str
    slow_sql: str
    activity: Callable[[str], Awaitable[int]]
    """How many connections on the server are running (or last ran) SQL containing a marker."""


async def postgres_activity(marker: str) -> int:
    rows = await admin(
        PG_URL,
        "SELECT count(*) FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND strpos(query, :marker) > 0",
        {"marker": marker},
    )
    return int(rows[0][0])


async def mysql_activity(marker: str) -> int:
    rows = await admin(
        MYSQL_URL,
        "SELECT count(*) FROM information_schema.processlist WHERE id <> CONNECTION_ID() AND INSTR(info, :marker) > 0",
        {"marker": marker},
    )
    return int(rows[0][0])


async def _none(count: Awaitable[int]) -> bool:
    return await count == 0


SERVERS = [
    pytest.param(
        Server(PG_URL, "SELECT pg_sleep(60) AS slept", postgres_activity), id="postgresql", marks=pytest.mark.postgres
    ),
    pytest.param(Server(MYSQL_URL, "SELECT SLEEP(60) AS slept", mysql_activity), id="mysql"),
]


@pytest.mark.parametrize("server", SERVERS)
async def test_a_timeout_stops_the_statement_on_the_server(ctx: FakeContext, server: Server) -> None:
    marker = f"wf_marker_{uuid.uuid4().hex}"

    with pytest.raises(
        TaskFailed, match=r"^timed out after 500ms running the query on 127.0.0.1:\d+; nothing was committed$"
    ):
        await Query().run(ctx, {"url": server.url, "sql": f"{server.slow_sql} /* {marker} */", "timeout": "500ms"})

    await eventually(lambda: _none(server.activity(marker)), timeout=2.5, what="the statement to end on the server")


@pytest.mark.parametrize("server", SERVERS)
async def test_cancelling_the_task_stops_the_statement_and_closes_the_connection(
    ctx: FakeContext, server: Server
) -> None:
    marker = f"wf_marker_{uuid.uuid4().hex}"
    task = asyncio.create_task(Query().run(ctx, {"url": server.url, "sql": f"{server.slow_sql} /* {marker} */"}))
    await eventually(lambda: server.activity(marker), timeout=10, what="the statement to start")

    task.cancel()

    with pytest.raises(asyncio.CancelledError):
        await task
    await eventually(lambda: _none(server.activity(marker)), timeout=2.5, what="the connection to go away")


async def test_a_timeout_interrupts_a_long_sqlite_statement(ctx: FakeContext) -> None:
    started = time.monotonic()

    with pytest.raises(TaskFailed, match="timed out after 300ms running the query on SQLite file slow.db"):
        await Query().run(ctx, {"url": "sqlite:///slow.db", "sql": LONG_SQLITE_QUERY, "timeout": "300ms"})

    assert time.monotonic() - started < 5


async def test_cancelling_a_long_sqlite_statement_ends_the_task_at_once(ctx: FakeContext) -> None:
    task = asyncio.create_task(Query().run(ctx, {"url": "sqlite:///slow.db", "sql": LONG_SQLITE_QUERY}))
    await eventually(
        lambda: asyncio.sleep(0, (ctx.workdir / "slow.db").exists()), timeout=5, what="SQLite to open the file"
    )
    started = time.monotonic()

    task.cancel()

    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.monotonic() - started < 5


# -- the examples ---------------------------------------------------------------------------------


@pytest.fixture
async def example_database() -> AsyncIterator[str]:
    """A scratch PostgreSQL database with the table the PG examples use (the catalogue's setup)."""
    name = f"wf_examples_{uuid.uuid4().hex[:10]}"
    engine = create_async_engine(async_url(PG_URL), poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
        await admin(url, EXAMPLE_SETUP)
        yield url
    finally:
        async with engine.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await engine.dispose()


EXAMPLE_SETUP = (
    "CREATE TABLE workflowdev_example_orders (id SERIAL PRIMARY KEY, customer TEXT NOT NULL, "
    "amount NUMERIC(10, 2) NOT NULL, created_at TIMESTAMPTZ NOT NULL DEFAULT now())"
)


@pytest.mark.postgres
async def test_every_example_runs_against_the_local_servers(ctx: FakeContext, example_database: str) -> None:
    """The catalogue's setup: PG_URL and MYSQL_URL credentials and EXAMPLE_SETUP in PG_URL's database."""
    for plugin in (Query, Execute, InsertRows, Transaction):
        for number, example in enumerate(plugin.manifest.examples):
            filled = example.replace("${PG_URL}", example_database).replace("${MYSQL_URL}", MYSQL_URL)
            task = yaml.safe_load(filled)[0]
            try:
                await run_task(plugin, ctx, **task["properties"])
            except (TaskFailed, AssertionError) as exc:
                pytest.fail(f"example {number} of {plugin.manifest.id} failed: {exc}")


# -- through a real execution ---------------------------------------------------------------------


def _leaks(secret: str, *documents: Any) -> list[str]:
    return [text_ for text_ in (json.dumps(d) for d in documents) if secret in text_]


@pytest.mark.postgres
async def test_a_flow_uses_the_database_through_a_credential_and_never_shows_it(api: Api) -> None:
    secret = f"pg-secret-{uuid.uuid4().hex}"  # PostgreSQL here trusts local users: any password works
    url = make_url(PG_URL).set(password=secret).render_as_string(hide_password=False)
    reply = await api.post("/api/v1/credentials", json={"name": "PG_URL", "value": url})
    assert reply.status == 201, reply.body
    table_name = f"wf_flow_{uuid.uuid4().hex[:10]}"
    await admin(
        PG_URL, f"CREATE TABLE {table_name} (id INTEGER PRIMARY KEY, customer TEXT NOT NULL, amount NUMERIC(10, 2))"
    )
    flow = f"""
name: db-flow
tasks:
  - name: load
    type: db.insert_rows
    properties:
      url: ${{PG_URL}}
      table: {table_name}
      rows: [{{id: 1, customer: acme, amount: '120.50'}}, {{id: 2, customer: globex, amount: '9.99'}}]
  - name: read
    type: db.query
    properties:
      url: ${{PG_URL}}
      sql: SELECT customer, amount FROM {table_name} WHERE amount > :minimum ORDER BY id
      params: {{minimum: 10}}
  - name: check
    type: util.assert
    properties:
      condition: "{{{{ outputs.read.rows[0].customer == 'acme' and outputs.read.count == 1 }}}}"
  - name: broken
    type: db.execute
    allow_failure: true
    properties:
      url: ${{PG_URL}}
      sql: UPDATE no_such_table_{table_name} SET x = 1
"""
    try:
        body = await run(api, flow)
    finally:
        await admin(PG_URL, f"DROP TABLE IF EXISTS {table_name}")

    tasks = tasks_by_name(body)
    assert [tasks[name][-1]["status"] for name in ("load", "read", "check")] == ["SUCCESS"] * 3
    assert outputs(tasks["load"][-1]) == {"inserted": 2}
    assert outputs(tasks["read"][-1])["rows"] == [{"customer": "acme", "amount": 120.5}]
    broken = tasks["broken"][-1]
    assert broken["status"] == "FAILED"
    assert f'relation "no_such_table_{table_name}" does not exist' in broken["error"]
    assert "***" not in broken["error"], "the task's own message never quotes the URL"
    logs = await api.get(f"/api/v1/executions/{body['execution']['id']}/logs")
    assert logs.status == 200
    assert _leaks(secret, body, logs.body) == []


async def test_a_flow_on_mariadb_shows_neither_the_password_nor_the_url(api: Api, mysql_user: tuple[str, str]) -> None:
    user, password = mysql_user
    good = f"mysql://{user}:{password}@127.0.0.1:3306/test"
    bad = f"mysql://{user}:not-{password}@127.0.0.1:3306/test"
    for name, value in (("MYSQL_URL", good), ("MYSQL_BAD_URL", bad)):
        reply = await api.post("/api/v1/credentials", json={"name": name, "value": value})
        assert reply.status == 201, reply.body
    flow = """
name: mariadb-flow
tasks:
  - name: who
    type: db.query
    properties:
      url: ${MYSQL_URL}
      sql: SELECT CURRENT_USER() AS who, :n + 1 AS next
      params: {n: 41}
  - name: denied
    type: db.query
    allow_failure: true
    properties:
      url: ${MYSQL_BAD_URL}
      sql: SELECT 1
"""
    body = await run(api, flow)

    tasks = tasks_by_name(body)
    assert outputs(tasks["who"][-1])["rows"] == [{"who": f"{user}@%", "next": 42}]
    denied = tasks["denied"][-1]
    assert denied["status"] == "FAILED"
    assert denied["error"].startswith(f"authentication failed for user '{user}' at 127.0.0.1:3306: Access denied")
    assert "***" not in denied["error"]
    logs = await api.get(f"/api/v1/executions/{body['execution']['id']}/logs")
    assert _leaks(password, body, logs.body) == []
