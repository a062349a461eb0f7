"""Rows for the store's own tests: the smallest valid flow, execution, task run and log line.

The store knows no rules, so its tests write rows straight into the tables, with the columns
the engine would give them; each builder takes the few columns a test is about as arguments.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from typing import Any

from sqlalchemy import Table
from sqlalchemy import insert
from sqlalchemy import select

from workflowdev.store.database import Database
from workflowdev.store.models import Execution
from workflowdev.store.models import Flow
from workflowdev.store.models import LogLine
from workflowdev.store.models import TaskRun

T0 = datetime(2026, 1, 1, tzinfo=UTC)
"""A fixed instant: the store takes every time from its caller, so tests need no clock."""

flows = Flow.__table__
executions = Execution.__table__
task_runs = TaskRun.__table__
logs = LogLine.__table__


def at(seconds: float) -> datetime:
    """`seconds` after T0."""
    return T0 + timedelta(seconds=seconds)


def flow(flow_id: str, *, namespace: str = "n", name: str | None = None, **values: Any) -> dict[str, Any]:
    row = dict(
        id=flow_id, namespace=namespace, name=name or flow_id, description=None, yaml_content="id: x",
        revision=1, tasks_total=1, created_at=T0, updated_at=T0, deleted_at=None,
    )  # fmt: skip
    return {**row, **values}


def execution(execution_id: str, flow_id: str = "f1", *, status: str = "QUEUED", **values: Any) -> dict[str, Any]:
    row = dict(
        id=execution_id, flow_id=flow_id, flow_name=flow_id, namespace="n", flow_revision=1, status=status,
        tasks_total=1, tasks_executed=0, inputs={}, labels={}, trigger={}, created_at=T0, cancel_requested=False,
    )  # fmt: skip
    return {**row, **values}


def task_run(run_id: str, execution_id: str, *, key: str = "t", status: str = "RUNNING", **values: Any) -> dict[str, Any]:
    row = dict(
        id=run_id, execution_id=execution_id, parent_id=None, key=key, task_name=key, task_type="test.echo",
        iteration=None, status=status, attempt=1, started_at=T0,
    )  # fmt: skip
    return {**row, **values}


def log(execution_id: str, seq: int, *, ts: datetime = T0, **values: Any) -> dict[str, Any]:
    row = dict(execution_id=execution_id, seq=seq, ts=ts, level="INFO", message=f"line {seq}")
    return {**row, **values}


async def add(db: Database, table: Table, rows: Sequence[dict[str, Any]] | dict[str, Any]) -> None:
    """Insert rows in one committed transaction."""
    batch = [rows] if isinstance(rows, dict) else list(rows)
    # An executemany takes its columns from the first row: rows of other shapes go on their own.
    shapes: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in batch:
        shapes.setdefault(tuple(sorted(row)), []).append(row)
    if batch:
        async with db.write() as conn:
            for same in shapes.values():
                await conn.execute(insert(table), same)


async def read(db: Database, table: Table, *where: Any) -> list[Any]:
    async with db.read() as conn:
        return list((await conn.execute(select(table).where(*where))).all())
