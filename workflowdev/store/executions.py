"""Queries on executions, task runs and logs.

The statements the runners send through the journal are built once here, with named bind
parameters, so the journal can merge many of them into one executemany.
"""

from __future__ import annotations

from collections.abc import Collection
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import BindParameter
from sqlalchemy import Row
from sqlalchemy import and_
from sqlalchemy import bindparam
from sqlalchemy import func
from sqlalchemy import insert
from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncConnection

from workflowdev.store.models import Approval
from workflowdev.store.models import Execution
from workflowdev.store.models import LogLine
from workflowdev.store.models import TaskRun
from workflowdev.store.paging import Page
from workflowdev.store.paging import equal_where_given
from workflowdev.store.paging import page_with_total
from workflowdev.store.statuses import OPEN_TASK_RUNS
from workflowdev.store.statuses import ExecutionStatus

executions = Execution.__table__
task_runs = TaskRun.__table__
logs = LogLine.__table__
approvals = Approval.__table__

INSERT_EXECUTION = insert(executions)
INSERT_TASK_RUN = insert(task_runs)
INSERT_LOG = insert(logs)


def _from_parameters(*columns: str) -> dict[str, BindParameter[Any]]:
    """`column=bindparam(column)` for each column: the values a statement takes from each set of
    parameters the journal sends it with, rather than fixed ones."""
    return {column: bindparam(column) for column in columns}


FINISH_TASK_RUN = (
    update(task_runs)
    .where(task_runs.c.id == bindparam("run_id"))
    .values(**_from_parameters("status", "outputs", "error", "finished_at", "duration_ms"))
)
SET_TASK_RUN_STATUS = update(task_runs).where(task_runs.c.id == bindparam("run_id")).values(status=bindparam("status"))
SET_EXECUTION_RUNNING = (
    update(executions)
    .where(executions.c.id == bindparam("execution_id"))
    .values(
        status=ExecutionStatus.RUNNING,
        started_at=func.coalesce(executions.c.started_at, bindparam("now")),
        alive_at=bindparam("now"),
    )
)
SET_TASKS_EXECUTED = (
    update(executions)
    .where(executions.c.id == bindparam("execution_id"), executions.c.status == ExecutionStatus.RUNNING)
    .values(tasks_executed=bindparam("tasks_executed"))
)
FINISH_EXECUTION = (
    update(executions)
    .where(executions.c.id == bindparam("execution_id"))
    .values(
        **_from_parameters("status", "error", "outputs", "tasks_executed", "finished_at", "duration_ms"),
        lease_owner=None,
        lease_expires_at=None,
        cancel_requested=False,
    )
)
PARK_EXECUTION = (
    update(executions)
    .where(executions.c.id == bindparam("execution_id"))
    .values(
        status=ExecutionStatus.PAUSED,
        tasks_executed=bindparam("tasks_executed"),
        lease_owner=None,
        lease_expires_at=None,
    )
)



async def get_execution(conn: AsyncConnection, execution_id: str) -> Row[Any] | None:
    return (await conn.execute(select(executions).where(executions.c.id == execution_id))).first()


async def get_executions(conn: AsyncConnection, ids: Collection[str]) -> dict[str, Row[Any]]:
    """Executions by id, those that exist."""
    if not ids:
        return {}
    query = select(executions).where(executions.c.id.in_(list(ids)))
    return {row.id: row for row in (await conn.execute(query)).all()}


async def lock_execution(conn: AsyncConnection, execution_id: str) -> Row[Any] | None:
    """Read an execution and hold its row until the transaction ends (SQLite: the write lock does)."""
    query = select(executions).where(executions.c.id == execution_id)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    return (await conn.execute(query)).first()


async def list_executions(
    conn: AsyncConnection,
    *,
    flow_id: str | None = None,
    namespace: str | None = None,
    status: Sequence[str] = (),
    since: datetime | None = None,
    limit: int = 100,
    offset: int = 0,
) -> Page:
    conditions = equal_where_given((executions.c.flow_id, flow_id), (executions.c.namespace, namespace))
    if status:
        conditions.append(executions.c.status.in_(list(status)))
    if since is not None:
        conditions.append(executions.c.created_at >= since)
    order = (executions.c.created_at.desc(), executions.c.id.desc())
    return await page_with_total(conn, executions, conditions, order, limit=limit, offset=offset)


async def list_task_runs(
    conn: AsyncConnection,
    execution_id: str,
    *,
    status: Sequence[str] = (),
    task_name: str | None = None,
    limit: int,
    offset: int = 0,
) -> Page:
    """A page of an execution's task runs in the order they started, and how many match.

    One execution may have hundreds of thousands (a long foreach): read them a page at a time.
    """
    conditions = [task_runs.c.execution_id == execution_id]
    if status:
        conditions.append(task_runs.c.status.in_(list(status)))
    if task_name is not None:
        conditions.append(task_runs.c.task_name == task_name)
    order = (task_runs.c.started_at, task_runs.c.key, task_runs.c.attempt)
    return await page_with_total(conn, task_runs, conditions, order, limit=limit, offset=offset)


async def list_logs(
    conn: AsyncConnection, execution_id: str, *, after_seq: int = 0, limit: int | None = None
) -> Sequence[Row[Any]]:
    query = select(logs).where(logs.c.execution_id == execution_id, logs.c.seq > after_seq).order_by(logs.c.seq)
    if limit is not None:
        query = query.limit(limit)
    return (await conn.execute(query)).all()


async def task_runs_of(conn: AsyncConnection, ids: Collection[str]) -> dict[str, list[Row[Any]]]:
    """The task runs of several executions, each list in the order its tasks started."""
    if not ids:
        return {}
    query = (
        select(task_runs)
        .where(task_runs.c.execution_id.in_(list(ids)))
        .order_by(task_runs.c.started_at, task_runs.c.key, task_runs.c.attempt)
    )
    runs: dict[str, list[Row[Any]]] = {}
    for row in (await conn.execute(query)).all():
        runs.setdefault(row.execution_id, []).append(row)
    return runs


async def max_log_seqs(conn: AsyncConnection, ids: Collection[str]) -> dict[str, int]:
    """The last log sequence number of each of several executions (absent: no log yet)."""
    if not ids:
        return {}
    query = (
        select(logs.c.execution_id, func.max(logs.c.seq))
        .where(logs.c.execution_id.in_(list(ids)))
        .group_by(logs.c.execution_id)
    )
    return {execution_id: int(seq) for execution_id, seq in (await conn.execute(query)).all()}


async def child_of(conn: AsyncConnection, parent_task_run_id: str) -> str | None:
    query = select(executions.c.id).where(executions.c.parent_task_run_id == parent_task_run_id)
    return (await conn.execute(query)).scalar_one_or_none()


async def count_running(conn: AsyncConnection, *, flow_id: str | None = None, batch_id: str | None = None) -> int:
    """Executions of the flow, or of the batch, that hold a running place."""
    which = executions.c.flow_id == flow_id if batch_id is None else executions.c.batch_id == batch_id
    query = (
        select(func.count())
        .select_from(executions)
        .where(which, executions.c.status.in_((ExecutionStatus.RUNNING, ExecutionStatus.PAUSED)))
    )
    return int((await conn.execute(query)).scalar_one())


async def claim(
    conn: AsyncConnection,
    *,
    owner: str,
    now: datetime,
    lease_until: datetime,
    limit: int,
    token: str,
    exclude: Collection[str] = (),
) -> list[str]:
    """Lease up to `limit` executions that are queued, or running under an expired lease.
    `token` becomes their `lease_token`: writes guarded by an earlier grant's token fail.

    `exclude`: ids the caller has just looked at (held back by their flow's limit), so the
    claim reaches the work queued behind them.

    On PostgreSQL the candidates are locked with SKIP LOCKED, so nodes claiming at the same
    time never take the same row. On SQLite the write transaction serialises claimers.
    """
    lease_free = or_(executions.c.lease_owner.is_(None), executions.c.lease_expires_at < now)
    claimable = or_(
        and_(executions.c.status == ExecutionStatus.QUEUED, lease_free),
        and_(executions.c.status == ExecutionStatus.RUNNING, executions.c.lease_expires_at < now),
    )
    candidates = select(executions.c.id).where(claimable).order_by(executions.c.created_at).limit(limit)
    if exclude:
        candidates = candidates.where(executions.c.id.not_in(list(exclude)))
    if conn.dialect.name == "postgresql":
        candidates = candidates.with_for_update(skip_locked=True)
    ids = [row.id for row in (await conn.execute(candidates)).all()]
    if not ids:
        return []
    await conn.execute(
        update(executions)
        .where(executions.c.id.in_(ids), claimable)
        .values(lease_owner=owner, lease_expires_at=lease_until, lease_token=token)
    )
    return ids


async def renew_leases(
    conn: AsyncConnection, *, owner: str, tokens: dict[str, str | None], now: datetime, lease_until: datetime
) -> set[str]:
    """Extend the leases this owner holds under the given tokens (execution id → token), noting
    it was alive `now`; returns the ids still held so."""
    if not tokens:
        return set()
    held = [
        row.id
        for row in (await conn.execute(
            select(executions.c.id, executions.c.lease_token)
            .where(executions.c.id.in_(list(tokens)), executions.c.lease_owner == owner)
        )).all()
        if row.lease_token == tokens[row.id]
    ]  # fmt: skip
    if held:
        await conn.execute(
            update(executions).where(executions.c.id.in_(held)).values(lease_expires_at=lease_until, alive_at=now)
        )
    return set(held)


async def expire_leases_of(conn: AsyncConnection, owner: str, now: datetime, *, stopping: bool = False) -> int:
    """Hand back what this owner holds, for others (or its next life) to resume at once.

    `stopping`: the node stops cleanly, its runners are stopped, so `now` is when their work
    ended. A node restarting under its old id says nothing of the sort: its last life ended at
    its last renewal.
    """
    values: dict[str, Any] = {"lease_expires_at": now, **({"alive_at": now} if stopping else {})}
    result = await conn.execute(
        update(executions)
        .where(executions.c.lease_owner == owner, executions.c.status == ExecutionStatus.RUNNING)
        .values(**values)
    )
    return result.rowcount


async def cancel_requested(conn: AsyncConnection, ids: Sequence[str]) -> set[str]:
    if not ids:
        return set()
    query = select(executions.c.id).where(executions.c.id.in_(list(ids)), executions.c.cancel_requested.is_(True))
    return {row.id for row in (await conn.execute(query)).all()}


async def set_status_if(conn: AsyncConnection, execution_id: str, *, expected: Sequence[str], **values: Any) -> bool:
    """Change an execution only if it is still in one of the `expected` statuses."""
    result = await conn.execute(
        update(executions)
        .where(executions.c.id == execution_id, executions.c.status.in_(list(expected)))
        .values(**values)
    )
    return result.rowcount == 1


async def finish_open_task_runs(conn: AsyncConnection, execution_id: str, status: str, at: datetime) -> None:
    """Close task runs left open (QUEUED, RUNNING, WAITING) when an execution ends from outside."""
    await conn.execute(
        update(task_runs)
        .where(task_runs.c.execution_id == execution_id, task_runs.c.status.in_(OPEN_TASK_RUNS))
        .values(status=status, finished_at=at)
    )


async def get_task_run(conn: AsyncConnection, task_run_id: str) -> Row[Any] | None:
    return (await conn.execute(select(task_runs).where(task_runs.c.id == task_run_id))).first()


async def get_log(conn: AsyncConnection, execution_id: str, seq: int) -> Row[Any] | None:
    query = select(logs).where(logs.c.execution_id == execution_id, logs.c.seq == seq)
    return (await conn.execute(query)).first()


async def sealed_inputs(conn: AsyncConnection) -> Sequence[Row[Any]]:
    """(id, sealed_inputs) of every execution whose real inputs are sealed (a key rotation
    re-seals them)."""
    query = select(executions.c.id, executions.c.sealed_inputs).where(executions.c.sealed_inputs.is_not(None))
    return (await conn.execute(query)).all()


async def set_sealed_inputs(conn: AsyncConnection, execution_id: str, sealed: str) -> None:
    await conn.execute(update(executions).where(executions.c.id == execution_id).values(sealed_inputs=sealed))
