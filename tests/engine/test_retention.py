"""Retention: what the purge removes and what it never touches, on both databases."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func
from sqlalchemy import insert
from sqlalchemy import select
from sqlalchemy import update

from tests.conftest import Api
from tests.conftest import _empty_postgres
from tests.conftest import serving
from tests.engine.flows_helpers import cli
from tests.engine.flows_helpers import eventually
from tests.engine.flows_helpers import run
from tests.engine.flows_helpers import save_flow
from tests.engine.flows_helpers import start
from tests.engine.flows_helpers import wait_status
from workflowdev.config import Settings
from workflowdev.engine.services.retention import PurgeReport
from workflowdev.engine.services.retention_policy import Policy
from workflowdev.engine.services.retention_policy import RetentionPolicy
from workflowdev.store.models import Approval
from workflowdev.store.models import AuditEntry
from workflowdev.store.models import Execution
from workflowdev.store.models import LogLine
from workflowdev.store.models import TaskRun
from workflowdev.store.retention import exclusive_pass

LOGGING = "name: {name}\ntasks:\n  - {{name: say, type: util.log, properties: {{message: hello}}}}\n"
CHILD = "name: child\ntasks:\n  - {name: say, type: util.log, properties: {message: from the child}}\n"
PARENT = "name: parent\ntasks:\n  - {name: call, type: flow.subflow, properties: {flow: child}}\n"
GATED_CHILD = "name: gated-child\ntasks:\n  - {name: gate, type: flow.approval, properties: {message: go?}}\n"
NO_WAIT_PARENT = (
    "name: hands-off\ntasks:\n  - {name: call, type: flow.subflow, properties: {flow: gated-child, wait: false}}\n"
)
GATED = "name: gated\ntasks:\n  - {name: gate, type: flow.approval, properties: {message: go?}}\n"
DAYS = timedelta(days=1)
executions = Execution.__table__


def _days(n: int) -> timedelta:
    return n * DAYS


async def _ended(api: Api, yaml: str, count: int = 1, namespace: str | None = None) -> list[str]:
    flow_id = await save_flow(api, yaml, namespace)
    ids = [await start(api, flow_id) for _ in range(count)]
    for execution_id in ids:
        assert (await wait_status(api, execution_id))["execution"]["status"] == "SUCCESS"
    return ids


async def _age(api: Api, ids: list[str], by: timedelta) -> None:
    """As if these executions (and their logs) ended `by` ago; the first listed is the oldest."""
    db = api.runtime.db
    assert db is not None
    now = datetime.now(UTC)
    async with db.write() as conn:
        for i, execution_id in enumerate(ids):
            at = now - by - timedelta(seconds=len(ids) - i)
            await conn.execute(update(executions).where(executions.c.id == execution_id).values(finished_at=at))
            log_rows = LogLine.__table__
            await conn.execute(update(log_rows).where(log_rows.c.execution_id == execution_id).values(ts=at))


async def _count(api: Api, table: Any, *where: Any) -> int:
    db = api.runtime.db
    assert db is not None
    async with db.read() as conn:
        return int((await conn.execute(select(func.count()).select_from(table).where(*where))).scalar_one())


async def _exists(api: Api, execution_id: str) -> bool:
    return (await api.get(f"/api/v1/executions/{execution_id}")).status == 200


async def _purge(api: Api, policy: RetentionPolicy, **options: Any) -> PurgeReport:
    engine = api.runtime.engine
    assert engine is not None
    return await engine.retention.purge(policy, **options)


def _keep(**rules: Any) -> RetentionPolicy:
    return RetentionPolicy(default=Policy(**rules))


async def test_old_ended_executions_go_with_everything_that_was_theirs(api: Api) -> None:
    old = await _ended(api, LOGGING.format(name="talker"), 2)
    young = await _ended(api, LOGGING.format(name="young"))
    await _age(api, old, _days(40))
    report = await _purge(api, _keep(executions_age=_days(30)))
    assert (report.executions, report.logs) == (2, 2)
    assert [await _exists(api, e) for e in (*old, *young)] == [False, False, True]
    for table in (TaskRun.__table__, LogLine.__table__):
        assert await _count(api, table, table.c.execution_id.in_(old)) == 0
    assert await _count(api, LogLine.__table__, LogLine.__table__.c.execution_id.in_(young)) == 1


async def test_running_and_paused_executions_are_never_purged(api: Api) -> None:
    flow_id = await save_flow(api, GATED)
    paused = await start(api, flow_id)
    await wait_status(api, paused, {"PAUSED"})
    await _age(api, [paused], _days(400))
    report = await _purge(api, _keep(executions_age=_days(1), logs_age=_days(1)))
    assert report.executions == 0 and await _exists(api, paused)
    assert await _count(api, Approval.__table__) == 1


async def test_keep_last_keeps_the_newest_of_each_flow(api: Api) -> None:
    first = await _ended(api, LOGGING.format(name="often"), 4)
    other = await _ended(api, LOGGING.format(name="rarely"))
    await _age(api, [*first, *other], _days(2))
    report = await _purge(api, _keep(executions_keep_last=2))
    assert report.executions == 2
    assert [await _exists(api, e) for e in (*first, *other)] == [False, False, True, True, True]


async def test_with_both_rules_an_execution_goes_only_when_neither_keeps_it(api: Api) -> None:
    ids = await _ended(api, LOGGING.format(name="both"), 3)
    await _age(api, ids[:2], _days(40))
    report = await _purge(api, _keep(executions_age=_days(30), executions_keep_last=2))
    assert report.executions == 1  # the last two are kept although one of them is old
    assert [await _exists(api, e) for e in ids] == [False, True, True]


async def test_each_namespace_has_its_own_policy(api: Api) -> None:
    payments = await _ended(api, LOGGING.format(name="pay"), namespace="payments")
    scratch = await _ended(api, LOGGING.format(name="scratch"), namespace="scratch")
    await _age(api, [*payments, *scratch], _days(40))
    policy = RetentionPolicy(Policy(executions_age=_days(30)), {"payments": Policy(executions_age=_days(400))})
    await _purge(api, policy)
    assert await _exists(api, payments[0]) and not await _exists(api, scratch[0])


async def test_a_subflow_tree_goes_whole_with_its_root(api: Api) -> None:
    await save_flow(api, CHILD)
    parent = (await run(api, PARENT))["execution"]["id"]
    child = await _child_of(api, parent)
    await _age(api, [parent], _days(40))
    await _age(api, [child], _days(1))  # the child's own end is young: it still goes with its root
    report = await _purge(api, _keep(executions_age=_days(30)))
    assert report.executions == 2 and not await _exists(api, child) and not await _exists(api, parent)


async def test_a_child_never_goes_on_its_own_nor_while_its_tree_has_not_ended(api: Api) -> None:
    await save_flow(api, GATED_CHILD)
    parent = (await run(api, NO_WAIT_PARENT))["execution"]["id"]
    child = await _child_of(api, parent)
    await wait_status(api, child, {"PAUSED"})
    await _age(api, [parent, child], _days(40))
    await _purge(api, _keep(executions_age=_days(30), executions_keep_last=1))
    assert await _exists(api, parent) and await _exists(api, child)


async def _child_of(api: Api, parent: str) -> str:
    db = api.runtime.db
    assert db is not None

    async def found() -> str | None:
        async with db.read() as conn:
            query = select(executions.c.id).where(executions.c.parent_execution_id == parent)
            return (await conn.execute(query)).scalar_one_or_none()

    return str(await eventually(found, what="the subflow's execution"))


async def test_logs_go_by_age_while_their_executions_stay(api: Api) -> None:
    ids = await _ended(api, LOGGING.format(name="chatty"), 2)
    await _age(api, ids[:1], _days(10))
    report = await _purge(api, _keep(logs_age=_days(7)))
    assert (report.executions, report.logs) == (0, 1)
    assert all([await _exists(api, e) for e in ids])
    assert (await api.get(f"/api/v1/executions/{ids[0]}/logs")).body == []


async def test_audit_entries_go_by_age(api: Api) -> None:
    await save_flow(api, LOGGING.format(name="audited"))  # one audit entry: flow.create
    entries = AuditEntry.__table__
    total = await _count(api, entries)
    db = api.runtime.db
    assert db is not None
    async with db.write() as conn:
        await conn.execute(update(entries).values(at=datetime.now(UTC) - _days(100)))
    await save_flow(api, LOGGING.format(name="audited-later"))
    report = await _purge(api, _keep(audit_age=_days(90)))
    assert report.audit == total and await _count(api, entries) == 1


async def test_a_dry_run_counts_what_the_real_run_purges_and_changes_nothing(api: Api) -> None:
    old = await _ended(api, LOGGING.format(name="dry"), 3)
    await _ended(api, LOGGING.format(name="kept"))
    await _age(api, old[:2], _days(40))
    await _age(api, old[2:], _days(10))
    policy = _keep(executions_age=_days(30), logs_age=_days(7))
    before = await _count(api, LogLine.__table__)
    dry = await _purge(api, policy, dry_run=True)
    assert await _count(api, LogLine.__table__) == before and all([await _exists(api, e) for e in old])
    real = await _purge(api, policy)
    assert dry.counts() == real.counts() == {"executions": 2, "logs": 3, "audit": 0}
    assert dry.transactions == 0


async def test_small_batches_take_several_transactions_and_purge_everything(
    settings: Settings, tmp_path: Path
) -> None:
    async with serving(replace(settings, retention_batch=3)) as api:
        ids = await _ended(api, LOGGING.format(name="batched"), 10)
        await _age(api, ids, _days(40))
        report = await _purge(api, _keep(executions_age=_days(30)))
        assert report.executions == 10 and report.logs == 10
        # 4 chunks of executions x (logs, task runs, approvals, executions), each its own transaction
        assert report.transactions >= 4 * 4
        assert await _count(api, executions) == 0


async def test_log_lines_of_one_instant_go_past_the_ones_kept_among_them(settings: Settings) -> None:
    """Lines sharing a timestamp page on their key: each batch starts where the last ended, past
    the lines a running execution keeps, and every old line of an ended one goes."""
    async with serving(replace(settings, retention_batch=3)) as api:
        ended = await _ended(api, LOGGING.format(name="same-instant"), 4)
        running = await start(api, await save_flow(api, GATED))
        await eventually(lambda: _count(api, Approval.__table__, Approval.__table__.c.execution_id == running))
        db = api.runtime.db
        assert db is not None
        instant = datetime.now(UTC) - _days(10)
        lines = LogLine.__table__
        async with db.write() as conn:
            await conn.execute(
                insert(lines),
                [{"execution_id": e, "seq": 100 + i, "ts": instant, "level": "info", "message": f"line {i}"}
                 for i in range(20) for e in (*ended, running)],
            )  # fmt: skip
            await conn.execute(update(lines).values(ts=instant))
        kept = await _count(api, lines, lines.c.execution_id == running)
        report = await _purge(api, _keep(logs_age=_days(7)))
        assert report.logs == 4 * 21, "every line of the ended executions, the flow's own included"
        assert kept > 20 and await _count(api, lines) == kept, "the gate's own line and the 20 added"
        assert report.transactions >= (4 * 21 + kept) // 3


async def test_the_background_purge_runs_and_counts_in_the_metric(settings: Settings) -> None:
    policy = _keep(executions_age=_days(30))
    async with serving(replace(settings, retention=policy, retention_interval=0.2)) as api:
        ids = await _ended(api, LOGGING.format(name="background"), 2)
        await _age(api, ids, _days(40))

        async def purged() -> bool:
            return not await _exists(api, ids[0]) and not await _exists(api, ids[1])

        await eventually(purged, what="the background purge")

        async def counted() -> str | None:
            text = (await api.get("/metrics")).body
            return text if 'workflowdev_purged_total{kind="executions"} 2.0' in text else None

        text = await eventually(counted, what="the purge metric")
        assert 'workflowdev_purged_total{kind="audit"} 0.0' in text


async def test_the_api_answers_while_a_large_purge_runs(settings: Settings) -> None:
    async with serving(replace(settings, retention_batch=500)) as api:
        (execution_id,) = await _ended(api, LOGGING.format(name="big"))
        await _many_log_lines(api, execution_id, 30_000)
        await _age(api, [execution_id], _days(40))
        purge = asyncio.create_task(_purge(api, _keep(executions_age=_days(30))))
        answered = 0
        while not purge.done():
            assert (await api.get("/healthz")).status == 200
            answered += 1
        report = await purge
        assert report.logs == 30_001 and answered > 1


async def _many_log_lines(api: Api, execution_id: str, count: int) -> None:
    db = api.runtime.db
    assert db is not None
    now = datetime.now(UTC)
    rows = [
        {"execution_id": execution_id, "seq": 1000 + i, "ts": now, "level": "info", "message": f"line {i}"}
        for i in range(count)
    ]
    async with db.write() as conn:
        await conn.execute(insert(LogLine.__table__), rows)


@pytest.mark.postgres
async def test_two_nodes_purging_at_once_purge_each_execution_once(postgres_url: str, tmp_path: Path) -> None:
    def node(name: str) -> Settings:
        return Settings(host="127.0.0.1", port=0, data_dir=tmp_path / name, database_url=postgres_url)

    try:
        async with serving(node("a")) as a, serving(replace(node("b"), roles=("api", "worker"))) as b:
            ids = await _ended(a, LOGGING.format(name="shared"), 6)
            await _age(a, ids, _days(40))
            policy = _keep(executions_age=_days(30))
            reports = await asyncio.gather(*(_purge(n, policy) for n in (a, b, a, b)))
            assert sum(r.executions for r in reports) == 6
            assert sum(r.logs for r in reports) == 6
            assert await _count(a, executions) == 0
            assert a.runtime.db is not None and b.runtime.db is not None
            async with exclusive_pass(a.runtime.db) as first, exclusive_pass(b.runtime.db) as second:
                assert (first, second) == (True, False)  # the other node skips its background pass
    finally:
        await _empty_postgres(postgres_url)


async def test_the_purge_command_counts_then_purges_and_refuses_bad_input(api: Api, settings: Settings) -> None:
    ids = await _ended(api, LOGGING.format(name="by-hand"), 2)
    await _age(api, ids[:1], _days(40))
    where = ["--db", settings.effective_database_url, "--data-dir", str(settings.data_dir)]
    status, out, err = await cli("purge", "--older-than", "30d", "--dry-run", *where)
    assert (status, out.strip()) == (0, "would purge 1 executions, 1 log lines, 0 audit entries"), err
    assert await _exists(api, ids[0])
    for bad in (["--older-than", "thirty days"], ["--older-than", "0s"], ["--keep-last", "0"], []):
        status, out, err = await cli("purge", *bad, *where)
        assert status == 2 and "workflowdev:" in err and out == "", (bad, err)
    assert await _exists(api, ids[0])
    status, out, err = await cli("purge", "--older-than", "30d", "--only", "executions", *where)
    assert (status, out.strip()) == (0, "purged 1 executions"), err
    assert [await _exists(api, e) for e in ids] == [False, True]


async def test_vacuum_gives_an_old_sqlite_file_incremental_vacuum(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "old.db"
    with sqlite3.connect(path) as old:  # a file from before: auto_vacuum NONE
        old.execute("CREATE TABLE filler (x TEXT)")
    url = f"sqlite:///{path}"
    status, out, err = await cli("purge", "--vacuum", "--db", url, "--data-dir", str(tmp_path))
    assert status == 0 and "vacuumed" in out, err
    with sqlite3.connect(path) as now:
        assert now.execute("PRAGMA auto_vacuum").fetchone() == (2,)  # INCREMENTAL


async def test_a_new_sqlite_file_gives_purged_space_back(settings: Settings) -> None:
    if not settings.effective_database_url.startswith("sqlite"):
        pytest.skip("PostgreSQL's autovacuum reuses the space itself")
    async with serving(settings) as api:
        (execution_id,) = await _ended(api, LOGGING.format(name="roomy"))
        await _many_log_lines(api, execution_id, 20_000)
        await _age(api, [execution_id], _days(40))
        engine = api.runtime.engine
        assert engine is not None
        await engine.retention.purge(_keep(executions_age=_days(30)))
        started = time.monotonic()
        freed = await engine.retention.reclaim_space()
        assert freed > 100, f"freed {freed} pages in {time.monotonic() - started:.1f}s"
