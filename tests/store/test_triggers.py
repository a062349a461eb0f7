"""store/triggers.py: what finds a trigger (webhook keys only while live), which schedules are
due and who advances them, the firing ledger's unique keys (one firing per instant, per
idempotency key within its window), the slot ledger, and the upstream ends a flow trigger owes."""

from __future__ import annotations

from datetime import datetime
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
from tests.store.rows import read
from workflowdev.store import triggers as store
from workflowdev.store.database import Database
from workflowdev.store.statuses import SlotState

triggers = store.triggers
firings = store.firings


def trigger(trigger_id: str, flow_id: str = "f1", *, type: str = "schedule", **values: Any) -> dict[str, Any]:
    row = dict(
        id=trigger_id, flow_id=flow_id, type=type, name=trigger_id, enabled=True, config={}, webhook_key=None,
        upstream_flow_id=None, from_yaml=False, created_at=at(0), updated_at=at(0), next_fire_at=None,
    )  # fmt: skip
    return {**row, **values}


async def _setup(db: Database, *rows: dict[str, Any], flow_ids: tuple[str, ...] = ("f1",)) -> None:
    await add(db, flows, [flow(f) for f in flow_ids])
    await add(db, triggers, list(rows))


async def _fire(db: Database, trigger_id: str, fired_at: datetime, **values: Any) -> None:
    async with db.write() as conn:
        await conn.execute(store.INSERT_FIRING, store.firing_row(trigger_id, values.pop("execution_id", None), fired_at, **values))


async def test_a_webhook_key_finds_its_trigger_only_while_the_flow_lives(db: Database) -> None:
    await _setup(db, trigger("w", type="webhook", webhook_key="k1"), trigger("s", webhook_key="k2"))
    async with db.read() as conn:
        found = await store.by_webhook_key(conn, "k1")
        assert found is not None and found.id == "w"
        assert await store.by_webhook_key(conn, "k2") is None, "only a webhook answers to a key"
        assert await store.by_webhook_key(conn, "nope") is None
    async with db.write() as conn:
        await conn.execute(flows.update().where(flows.c.id == "f1").values(deleted_at=at(1)))
    async with db.read() as conn:
        assert await store.by_webhook_key(conn, "k1") is None


async def test_a_webhook_key_belongs_to_one_trigger(db: Database) -> None:
    await _setup(db, trigger("w", type="webhook", webhook_key="k1"))
    with pytest.raises(IntegrityError):
        await add(db, triggers, trigger("w2", type="webhook", webhook_key="k1"))


async def test_triggers_list_newest_first_filtered_by_flow_and_kind_with_a_total(db: Database) -> None:
    await _setup(
        db,
        trigger("a", created_at=at(1)), trigger("b", "f2", created_at=at(3)),
        trigger("c", type="webhook", created_at=at(2)), trigger("d", created_at=at(3)),
        flow_ids=("f1", "f2"),
    )  # fmt: skip
    async with db.read() as conn:
        page, total = await store.list_triggers(conn, limit=2)
        rest, _ = await store.list_triggers(conn, limit=2, offset=2)
        schedules, n = await store.list_triggers(conn, flow_id="f1", kind="schedule")
    assert [r.id for r in page] + [r.id for r in rest] == ["b", "d", "c", "a"] and total == 4
    assert ([r.id for r in schedules], n) == (["d", "a"], 2)


async def test_a_flows_triggers_come_in_creation_order_and_go_with_it(db: Database) -> None:
    await _setup(db, trigger("b", created_at=at(2), from_yaml=True), trigger("a", created_at=at(1)),
                 trigger("c", created_at=at(3), from_yaml=True))  # fmt: skip
    async with db.write() as conn:
        assert [r.id for r in await store.list_for_flow(conn, "f1")] == ["a", "b", "c"]
        assert [r.id for r in await store.list_for_flow(conn, "f1", from_yaml=True)] == ["b", "c"]
        assert [r.id for r in await store.list_for_flow(conn, "f1", from_yaml=False)] == ["a"]
        assert await store.delete_trigger(conn, "a")
        assert not await store.delete_trigger(conn, "a")
        await store.delete_for_flow(conn, "f1")
        assert await store.list_for_flow(conn, "f1") == []


async def test_due_schedules_are_the_enabled_ones_whose_instant_came_soonest_first(db: Database) -> None:
    await _setup(
        db,
        trigger("later", next_fire_at=at(5)), trigger("due", next_fire_at=at(2)), trigger("now", next_fire_at=at(3)),
        trigger("off", next_fire_at=at(0), enabled=False), trigger("hook", type="webhook", next_fire_at=at(0)),
        trigger("none"),
    )  # fmt: skip
    async with db.read() as conn:
        assert [r.id for r in await store.due_schedules(conn, at(3))] == ["due", "now"]
        assert [r.id for r in await store.due_schedules(conn, at(3), limit=1)] == ["due"]
        assert await store.next_schedule_at(conn) == at(2)


async def test_with_no_enabled_schedule_there_is_no_next_instant(db: Database) -> None:
    await _setup(db, trigger("off", next_fire_at=at(1), enabled=False))
    async with db.read() as conn:
        assert await store.next_schedule_at(conn) is None


async def test_only_the_node_that_saw_the_current_instant_advances_a_schedule(db: Database) -> None:
    await _setup(db, trigger("s", next_fire_at=at(60)))
    async with db.write() as conn:
        assert await store.advance_schedule(conn, "s", expected=at(60), next_fire_at=at(120))
        assert not await store.advance_schedule(conn, "s", expected=at(60), next_fire_at=at(120))
        assert (await store.get(conn, "s")).next_fire_at == at(120)  # type: ignore[union-attr]


async def test_an_instant_fires_once_per_trigger(db: Database) -> None:
    await _setup(db, trigger("s"), trigger("t"))
    await _fire(db, "s", at(61), scheduled_at=at(60))
    await _fire(db, "t", at(61), scheduled_at=at(60))
    with pytest.raises(IntegrityError):
        await _fire(db, "s", at(62), scheduled_at=at(60))
    async with db.write() as conn:
        await conn.execute(store.MARK_FIRED, {"trigger_id": "s", "at": at(61)})
        assert (await store.get(conn, "s")).last_fired_at == at(61)  # type: ignore[union-attr]


async def test_an_idempotency_key_is_found_within_its_window_and_freed_only_past_it(db: Database) -> None:
    await _setup(db, trigger("w", type="webhook"))
    await _fire(db, "w", at(10), idempotency_key="order-1", execution_id="e1")
    async with db.write() as conn:
        found = await store.firing_by_idempotency(conn, "w", "order-1", since=at(5))
        assert found is not None and found.execution_id == "e1"
        assert await store.firing_by_idempotency(conn, "w", "order-1", since=at(11)) is None
        assert not await store.retire_idempotency_key(conn, "w", "order-1", before=at(10)), "inside the window: kept"
    with pytest.raises(IntegrityError):
        await _fire(db, "w", at(11), idempotency_key="order-1")
    async with db.write() as conn:
        assert await store.retire_idempotency_key(conn, "w", "order-1", before=at(11))
    await _fire(db, "w", at(12), idempotency_key="order-1", execution_id="e2")
    async with db.read() as conn:
        history = await store.firings_of(conn, "w")
    assert [(f.execution_id, f.idempotency_key) for f in history] == [("e1", None), ("e2", "order-1")], "history stays"


async def test_unrun_slots_are_recorded_once_and_never_overwrite_what_a_slot_says(db: Database) -> None:
    await _setup(db, trigger("s"))
    await _fire(db, "s", at(61), scheduled_at=at(60), state=SlotState.FIRED, execution_id="e1")
    async with db.write() as conn:
        await store.record_unrun_slots(conn, "s", [at(0), at(60), at(120)], SlotState.SKIPPED, at(200))
        await store.record_unrun_slots(conn, "s", [at(120), at(180)], SlotState.MISSED, at(201))
        await store.record_unrun_slots(conn, "s", [], SlotState.MISSED, at(201))
    async with db.read() as conn:
        ledger = await store.slots(conn, "s", at(0), at(180), limit=10)
        first_two = await store.slots(conn, "s", at(0), at(999), limit=2)
        picked = await store.slots_at(conn, "s", [at(60), at(180), at(240)])
        assert await store.slots_at(conn, "s", []) == []
    assert [(s.scheduled_at, s.state, s.execution_id) for s in ledger] == [
        (at(0), "skipped", None), (at(60), "fired", "e1"), (at(120), "skipped", None),
    ], "[since, until): the slot at `until` is not in it"  # fmt: skip
    assert [s.scheduled_at for s in first_two] == [at(0), at(60)]
    assert sorted((s.scheduled_at, s.state) for s in picked) == [(at(60), "fired"), (at(180), "missed")]


async def test_a_backfill_frees_only_an_unrun_slot_for_the_execution_that_runs_it(db: Database) -> None:
    await _setup(db, trigger("s"))
    await _fire(db, "s", at(61), scheduled_at=at(60), state=SlotState.FIRED, execution_id="e1")
    async with db.write() as conn:
        await store.record_unrun_slots(conn, "s", [at(0)], SlotState.MISSED, at(100))
    for instant in (at(0), at(60)):
        async with db.write() as conn:
            await conn.execute(store.FREE_UNRUN_SLOT, {"slot_trigger_id": "s", "slot_instant": instant})
    async with db.read() as conn:
        left = await store.slots(conn, "s", at(0), at(999), limit=10)
    assert [(s.scheduled_at, s.state) for s in left] == [(at(60), "fired")]
    await _fire(db, "s", at(300), scheduled_at=at(0), state=SlotState.BACKFILLED, execution_id="e2")


async def test_a_flow_trigger_is_owed_the_upstream_ends_it_has_not_fired_for_oldest_first(db: Database) -> None:
    await _setup(
        db,
        trigger("ft", type="flow", upstream_flow_id="up", created_at=at(10)),
        trigger("off", type="flow", upstream_flow_id="up", enabled=False),
        trigger("ft2", "f1", type="flow", upstream_flow_id="other"),
        flow_ids=("f1", "up", "other"),
    )
    await add(db, executions, [
        execution("before-trigger", "up", status="SUCCESS", finished_at=at(5)),
        execution("late", "up", status="SUCCESS", finished_at=at(30)),
        execution("early", "up", status="FAILED", finished_at=at(20)),
        execution("fired", "up", status="SUCCESS", finished_at=at(25)),
        execution("cancelled", "up", status="CANCELLED", finished_at=at(26)),
        execution("too-new", "up", status="SUCCESS", finished_at=at(40)),
        execution("running", "up", status="RUNNING"),
    ])  # fmt: skip
    await _fire(db, "ft", at(26), idempotency_key="fired", execution_id="x")
    async with db.read() as conn:
        ft = await store.get(conn, "ft")
        owed = await store.unfired_ends(conn, ft, ["SUCCESS", "FAILED"], since=at(0), until=at(40), limit=10)
        one = await store.unfired_ends(conn, ft, ["SUCCESS", "FAILED"], since=at(0), until=at(40), limit=1)
        narrowed = await store.unfired_ends(conn, ft, ["SUCCESS"], since=at(21), until=at(40), limit=10)
        enabled = await store.enabled_flow_triggers(conn)
        followed = await store.followed_flow_ids(conn)
        of_up = await store.flow_triggers_of(conn, "up")
    assert [e.id for e in owed] == ["early", "late"]
    assert [e.id for e in one] == ["early"]
    assert [e.id for e in narrowed] == ["late"]
    assert sorted(t.id for t in enabled) == ["ft", "ft2"]
    assert sorted(followed) == ["other", "up"]
    assert [t.id for t in of_up] == ["ft"]


async def test_update_trigger_changes_only_the_named_trigger(db: Database) -> None:
    await _setup(db, trigger("a"), trigger("b"))
    async with db.write() as conn:
        await store.update_trigger(conn, "a", enabled=False, updated_at=at(9))
        await store.insert_trigger(conn, **trigger("c"))
    rows = {r.id: r for r in await read(db, triggers)}
    assert (rows["a"].enabled, rows["a"].updated_at) == (False, at(9))
    assert rows["b"].enabled and rows["c"].enabled


async def test_firings_go_with_their_trigger(db: Database) -> None:
    await _setup(db, trigger("s"))
    await _fire(db, "s", at(1), scheduled_at=at(0))
    async with db.write() as conn:
        await conn.execute(insert(firings), store.firing_row("s", None, at(2), scheduled_at=at(1)))
        assert await store.delete_trigger(conn, "s")
    assert await read(db, firings) == []
