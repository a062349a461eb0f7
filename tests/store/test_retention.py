"""store/retention.py: the paging under the purge (a cursor walk visits every row once, even
among thousands sharing one instant), what each selection lets go (only ended executions, roots,
in scope), bounded deletes, and one purging node at a time on PostgreSQL.
What the policy keeps is the engine's: tests/engine/test_retention.py."""

from __future__ import annotations

import uuid
from typing import Any

from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from sqlalchemy import func
from sqlalchemy import select

from tests.store.rows import add
from tests.store.rows import at
from tests.store.rows import execution
from tests.store.rows import executions
from tests.store.rows import flow
from tests.store.rows import flows
from tests.store.rows import log
from tests.store.rows import logs
from tests.store.rows import read
from tests.store.rows import task_run
from tests.store.rows import task_runs
from workflowdev.store import retention as store
from workflowdev.store.audit import INSERT as INSERT_AUDIT
from workflowdev.store.database import Database
from workflowdev.store.retention import Scope

EVERYWHERE = Scope((), others=True)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(stamps=st.lists(st.integers(0, 2), max_size=12), limit=st.integers(1, 4), before=st.integers(0, 3))
async def test_a_cursor_walk_visits_every_older_log_line_once_in_time_then_id_order(
    db: Database, stamps: list[int], limit: int, before: int
) -> None:
    """Many lines share an instant: the cursor must pass them without repeating or skipping."""
    eid = uuid.uuid4().hex
    await add(db, flows, flow(eid, name=eid))
    await add(db, executions, execution(eid, eid))
    async with db.write() as conn:
        for seq, s in enumerate(stamps):  # one by one: ids grow in this order
            await conn.execute(logs.insert().values(**log(eid, seq, ts=at(s))))
        rows = (await conn.execute(select(logs.c.id, logs.c.ts).where(logs.c.execution_id == eid))).all()
    mine = {r.id for r in rows}
    expected = sorted((r.ts, r.id) for r in rows if r.ts < at(before))
    seen: list[tuple[Any, int]] = []
    cursor = None
    async with db.read() as conn:
        while True:
            page = [r for r in await store.logged_before(conn, at(before), after=cursor, limit=limit)]
            assert len(page) <= limit
            if not page:
                break
            seen += [(r.ts, r.id) for r in page if r.id in mine]
            cursor = (page[-1].ts, page[-1].id)
    assert seen == expected


async def test_a_cursor_walk_over_ended_executions_and_audit_entries_passes_each_once(db: Database) -> None:
    await add(db, flows, flow("f1"))
    ends = [at(1), at(1), at(1), at(2), at(2), None]
    await add(db, executions, [execution(f"e{i}", status="SUCCESS" if e else "RUNNING", finished_at=e) for i, e in enumerate(ends)])
    async with db.write() as conn:
        for s in [1, 1, 1, 2, 0]:
            await conn.execute(INSERT_AUDIT, dict(id=str(uuid.uuid4()), at=at(s), actor="a", action="x", resource_type="t"))

    async def walk(fetch: Any, cursor_of: Any) -> list[Any]:
        seen: list[Any] = []
        cursor = None
        async with db.read() as conn:
            while page := await fetch(conn, cursor):
                seen += page
                cursor = cursor_of(page[-1])
        return seen

    by_end = lambda r: (r.finished_at, r.id)  # noqa: E731
    ended = await walk(lambda conn, after: store.finished(conn, finished_before=None, after=after, limit=2), by_end)
    assert [r.id for r in ended] == ["e0", "e1", "e2", "e3", "e4"], "by end, then id; never one still running"
    older = await walk(lambda conn, after: store.finished(conn, finished_before=at(2), after=after, limit=2), by_end)
    assert [r.id for r in older] == ["e0", "e1", "e2"]
    audit = await walk(lambda conn, after: store.old_audit(conn, at(2), after=after, limit=2), lambda r: (r.at, r.seq))
    assert [r.at for r in audit] == [at(0), at(1), at(1), at(1)]
    assert len({r.seq for r in audit}) == 4


async def _tree(db: Database) -> None:
    await add(db, flows, [flow("f1"), flow("f2")])
    await add(db, executions, [
        execution("r1", "f1", status="SUCCESS", finished_at=at(1)),
        execution("r2", "f1", status="FAILED", finished_at=at(2)),
        execution("r3", "f1", status="CANCELLED", finished_at=at(3)),
        execution("other-ns", "f2", status="SUCCESS", finished_at=at(1), namespace="keep"),
        execution("running", "f1", status="RUNNING"),
        execution("child", "f1", status="SUCCESS", finished_at=at(2), parent_execution_id="r1"),
        execution("child2", "f1", status="RUNNING", parent_execution_id="r2"),
    ])  # fmt: skip


async def test_only_ended_root_executions_in_scope_are_candidates(db: Database) -> None:
    await _tree(db)
    ids = ["r1", "r2", "r3", "other-ns", "running", "child", "child2"]
    async with db.read() as conn:
        everywhere = await store.ended_roots(conn, ids, EVERYWHERE)
        in_n = await store.ended_roots(conn, ids, Scope(("n",)))
        not_keep = await store.ended_roots(conn, ids, Scope(("keep",), others=True))
        kids = await store.children(conn, ["r1", "r2"])
    assert [r.id for r in everywhere] == ["other-ns", "r1", "r2", "r3"]
    assert [r.id for r in in_n] == [r.id for r in not_keep] == ["r1", "r2", "r3"]
    assert sorted((k.id, k.parent_execution_id, k.status) for k in kids) == [("child", "r1", "SUCCESS"), ("child2", "r2", "RUNNING")]


async def test_the_boundary_of_keep_last_is_the_oldest_of_the_newest_ended_roots(db: Database) -> None:
    await _tree(db)
    async with db.read() as conn:
        assert await store.newest_kept(conn, "f1", 1) == (at(3), "r3")
        assert await store.newest_kept(conn, "f1", 3) == (at(1), "r1"), "children and running ones do not count"
        assert await store.newest_kept(conn, "f1", 4) is None


async def test_only_executions_still_ended_are_deleted(db: Database) -> None:
    await _tree(db)
    async with db.write() as conn:
        assert await store.still_ended(conn, ["r1", "running", "gone", "r1"]) == {"r1"}
        assert await store.delete_executions(conn, ["child", "r1", "running"]) == 2
    assert sorted(r.id for r in await read(db, executions)) == ["child2", "other-ns", "r2", "r3", "running"]


async def test_dependants_go_in_bounded_batches_loop_children_before_their_parents(db: Database) -> None:
    await add(db, flows, flow("f1"))
    await add(db, executions, [execution("e1", status="SUCCESS", finished_at=at(1)), execution("keep")])
    await add(db, task_runs, [task_run("loop", "e1"), task_run("keep-run", "keep")])
    await add(db, task_runs, [task_run(f"it{i}", "e1", parent_id="loop", iteration=i) for i in range(3)])
    await add(db, logs, [log("e1", s) for s in range(5)] + [log("keep", 1)])
    async with db.write() as conn:
        assert await store.delete_dependants(conn, task_runs, ["e1"], 3) == 3
    assert {r.id for r in await read(db, task_runs)} == {"loop", "keep-run"}, "the iterations went first"
    async with db.write() as conn:
        assert await store.delete_dependants(conn, logs, ["e1"], 2) == 2
        assert await store.delete_dependants(conn, logs, ["e1"], 10) == 3
        assert await store.delete_dependants(conn, logs, ["e1"], 10) == 0
    assert [r.execution_id for r in await read(db, logs)] == ["keep"]


async def test_log_lines_go_by_age_only_for_ended_executions_in_the_rule_scope(db: Database) -> None:
    await add(db, flows, flow("f1"))
    await add(db, executions, [execution("done", status="SUCCESS", finished_at=at(9)), execution("live", status="RUNNING"),
                               execution("elsewhere", status="SUCCESS", namespace="keep")])  # fmt: skip
    await add(db, logs, [log("done", 1, ts=at(1)), log("done", 2, ts=at(8)), log("live", 1, ts=at(1)),
                         log("elsewhere", 1, ts=at(1))])  # fmt: skip
    rows = {(r.execution_id, r.seq): r.id for r in await read(db, logs)}
    rules = [(Scope(("keep",), others=True), at(5))]
    async with db.write() as conn:
        chosen = await store.old_logs(conn, list(rows.values()), rules)
        assert chosen == [rows[("done", 1)]]
        assert await store.count_logs(conn, ["done", "elsewhere"], excluding=rules) == 2, "less what the rule takes"
        assert await store.count_logs(conn, ["done"], excluding=[]) == 2
        assert await store.delete_logs(conn, chosen) == 1
    assert len(await read(db, logs)) == 3


async def test_audit_entries_go_by_their_seq(db: Database) -> None:
    async with db.write() as conn:
        for s in range(3):
            await conn.execute(INSERT_AUDIT, dict(id=str(uuid.uuid4()), at=at(s), actor="a", action="x", resource_type="t"))
        page = await store.old_audit(conn, at(2), after=None, limit=10)
        assert await store.delete_audit(conn, [r.seq for r in page]) == 2
    async with db.read() as conn:
        assert (await conn.execute(select(func.count()).select_from(store.audit_entries))).scalar_one() == 1


async def test_one_process_at_a_time_holds_the_purge_pass_on_postgresql(db: Database) -> None:
    async with store.exclusive_pass(db) as first:
        assert first
        if not db.is_sqlite:
            other = Database(db.url)
            try:
                async with store.exclusive_pass(other) as second:
                    assert not second, "the other node skips its pass rather than wait"
            finally:
                await other.close()
    if not db.is_sqlite:
        other = Database(db.url)
        try:
            async with store.exclusive_pass(other) as after:
                assert after, "released at the pass's end"
        finally:
            await other.close()


async def test_purged_sqlite_pages_go_back_to_the_file_system(db: Database) -> None:
    await add(db, flows, flow("f1"))
    await add(db, executions, execution("e1", status="SUCCESS", finished_at=at(1)))
    await add(db, logs, [log("e1", s, message="x" * 2000) for s in range(200)])
    async with db.write() as conn:
        await store.delete_dependants(conn, logs, ["e1"], 1000)
    freed = await store.reclaim_space(db, pages_per_turn=16)
    if db.is_sqlite:
        assert freed > 100, "200 lines of 2 kB took more than 100 pages of 4 kB"
        assert await store.reclaim_space(db, pages_per_turn=16) == 0
    else:
        assert freed == 0, "PostgreSQL's autovacuum does this"
    await store.vacuum(db)
