"""store/journal.py, when things go right: what is acknowledged is committed, a submission is
all or nothing, a batch keeps the order writes need (frees before inserts, updates in turn),
a lease guard drops only its own submission, and stopping writes what is pending.
Failures under a guard: test_journal_failures.py; lease tokens: test_lease_fencing.py."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError

from tests.store.rows import add
from tests.store.rows import at
from tests.store.rows import execution
from tests.store.rows import executions
from tests.store.rows import flow
from tests.store.rows import flows
from tests.store.rows import log
from tests.store.rows import logs
from tests.store.rows import read
from workflowdev.store import triggers
from workflowdev.store.database import Database
from workflowdev.store.executions import INSERT_LOG
from workflowdev.store.journal import Guard
from workflowdev.store.journal import Journal
from workflowdev.store.journal import LeaseLost
from workflowdev.store.statuses import SlotState

NODE = "node-a"


async def _journal(db: Database) -> Journal:
    journal = Journal(db)
    await journal.start()
    return journal


def _set_error(execution_id: str, error: str) -> tuple[Any, dict[str, Any]]:
    return executions.update().where(executions.c.id == execution_id).values(error=error), {}


async def _with_executions(db: Database, *rows: dict[str, Any]) -> None:
    await add(db, flows, flow("f1"))
    await add(db, executions, list(rows) or [execution("e1")])


async def test_what_a_write_acknowledges_is_committed_and_a_submission_is_all_or_nothing(db: Database) -> None:
    await _with_executions(db)
    journal = await _journal(db)
    try:
        await journal.write([(INSERT_LOG, log("e1", 1)), (INSERT_LOG, [log("e1", 2), log("e1", 3)])])
        assert sorted(r.seq for r in await read(db, logs)) == [1, 2, 3]
        with pytest.raises(IntegrityError):
            await journal.write([(INSERT_LOG, log("e1", 4)), (INSERT_LOG, log("e1", 1))])  # seq 1 again
        assert sorted(r.seq for r in await read(db, logs)) == [1, 2, 3], "line 4 went with its submission"
    finally:
        await journal.stop()


async def test_submissions_made_together_all_commit_and_a_bad_one_sinks_none_of_its_neighbours(db: Database) -> None:
    await _with_executions(db)
    journal = await _journal(db)
    try:
        good = [journal.submit([(INSERT_LOG, log("e1", seq))]) for seq in range(1, 21)]
        bad = journal.submit([(INSERT_LOG, log("e1", 5))])
        more = journal.submit([_set_error("e1", "after the bad one")])
        await asyncio.gather(*good, more)
        with pytest.raises(IntegrityError):
            await bad
    finally:
        await journal.stop()
    assert sorted(r.seq for r in await read(db, logs)) == list(range(1, 21))
    assert (await read(db, executions))[0].error == "after the bad one"


async def test_updates_of_one_row_apply_in_the_order_they_were_submitted(db: Database) -> None:
    await _with_executions(db)
    journal = await _journal(db)
    try:
        futures = [journal.submit([_set_error("e1", f"step {n}")]) for n in range(5)]
        futures.append(journal.submit([_set_error("e1", "a"), _set_error("e1", "b")]))
        await asyncio.gather(*futures)
    finally:
        await journal.stop()
    assert (await read(db, executions))[0].error == "b"


async def test_a_backfill_frees_the_unrun_slot_before_inserting_its_own_in_the_same_batch(db: Database) -> None:
    """The insert is submitted first, yet the delete that frees its unique key runs first."""
    await _with_executions(db)
    await add(db, triggers.triggers, dict(id="s", flow_id="f1", type="schedule", name="s", enabled=True, config={},
                                          from_yaml=False, created_at=at(0), updated_at=at(0)))  # fmt: skip
    async with db.write() as conn:
        await triggers.record_unrun_slots(conn, "s", [at(60)], SlotState.MISSED, at(100))
    run = triggers.firing_row("s", "e1", at(200), scheduled_at=at(60), state=SlotState.BACKFILLED)
    journal = await _journal(db)
    try:
        await journal.write([
            (triggers.INSERT_FIRING, run),
            (triggers.FREE_UNRUN_SLOT, {"slot_trigger_id": "s", "slot_instant": at(60)}),
        ])  # fmt: skip
    finally:
        await journal.stop()
    assert [(f.state, f.execution_id) for f in await read(db, triggers.firings)] == [("backfilled", "e1")]


async def test_a_guard_that_no_longer_holds_drops_only_its_own_submission(db: Database) -> None:
    await _with_executions(
        db,
        execution("mine", status="RUNNING", lease_owner=NODE, lease_token="t"),
        execution("stolen", status="RUNNING", lease_owner="node-b", lease_token="t"),
    )
    journal = await _journal(db)
    try:
        held = journal.submit([_set_error("mine", "written")], Guard("mine", NODE, "t"))
        lost = journal.submit([_set_error("stolen", "must not be written")], Guard("stolen", NODE, "t"))
        gone = journal.submit([_set_error("mine", "nor this")], Guard("deleted", NODE, "t"))
        plain = journal.submit([(INSERT_LOG, log("mine", 1))])
        await asyncio.gather(held, plain)
        for future in (lost, gone):
            with pytest.raises(LeaseLost):
                await future
    finally:
        await journal.stop()
    errors = {r.id: r.error for r in await read(db, executions)}
    assert errors == {"mine": "written", "stolen": None}
    assert len(await read(db, logs)) == 1


async def test_stopping_writes_what_is_pending_and_then_refuses_more(db: Database) -> None:
    await _with_executions(db)
    journal = await _journal(db)
    pending = [journal.submit([(INSERT_LOG, log("e1", seq))]) for seq in range(1, 6)]
    await journal.stop()
    await asyncio.gather(*pending)
    assert len(await read(db, logs)) == 5
    with pytest.raises(RuntimeError, match="stopped"):
        await journal.submit([(INSERT_LOG, log("e1", 9))])


async def test_on_sqlite_a_batch_waits_out_another_process_holding_the_write_lock_without_blocking_the_loop(
    tmp_path: Path, sqlite_template: Path
) -> None:
    path = tmp_path / "locked.db"
    path.write_bytes(sqlite_template.read_bytes())
    db = Database(f"sqlite:///{path}")
    await db.migrate()
    await add(db, flows, flow("f1"))
    await add(db, executions, execution("e1"))
    journal = await _journal(db)
    other = sqlite3.connect(path, isolation_level=None)  # another process, as far as SQLite knows
    try:
        other.execute("BEGIN IMMEDIATE")
        future = journal.submit([(insert(logs), log("e1", 1))])
        started = time.monotonic()
        await asyncio.sleep(0.1)  # the loop turns while the batch waits for the lock
        assert time.monotonic() - started < 0.5, "the event loop was blocked"
        assert not future.done(), "nothing is acknowledged before its commit"
        other.execute("COMMIT")
        await asyncio.wait_for(future, timeout=10)
        assert len(await read(db, logs)) == 1
    finally:
        other.close()
        await journal.stop()
        await db.close()
