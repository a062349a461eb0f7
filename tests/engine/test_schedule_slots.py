"""The slot ledger and backfills: every instant of a schedule accounted for once, on both databases."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from sqlalchemy import update

from tests.conftest import Api
from tests.conftest import _empty_postgres
from tests.conftest import serving
from tests.engine.flows_helpers import cli
from tests.engine.flows_helpers import detail
from tests.engine.flows_helpers import eventually
from tests.engine.flows_helpers import wait_status
from workflowdev.config import Settings
from workflowdev.engine.services import schedules
from workflowdev.store.models import Trigger

FLOW = "name: ticking\ntasks:\n  - {name: tick, type: util.noop}\n"
GATED = "name: gated-ticks\ntasks:\n  - {name: gate, type: flow.approval, properties: {message: go?}}\n"


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _z(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


async def _schedule(api: Api, cron: str, *, catch_up: bool = False, yaml: str = FLOW) -> tuple[str, str]:
    flow = (await api.post("/api/v1/flows", json={"yamlContent": yaml})).body
    trigger = await api.post(
        "/api/v1/triggers", json={"flowId": flow["id"], "type": "schedule", "config": {"cron": cron, "catchUp": catch_up}}
    )
    assert trigger.status == 201, trigger.body
    return flow["id"], trigger.body["id"]


async def _backdate(api: Api, trigger_id: str, by: timedelta) -> datetime:
    """As if no node was up for `by`: move next_fire_at that far into the past."""
    row = (await api.get(f"/api/v1/triggers/{trigger_id}")).body
    past = _at(row["nextFireAt"]) - by
    db = api.runtime.db
    assert db is not None
    async with db.write() as conn:
        await conn.execute(update(Trigger.__table__).where(Trigger.__table__.c.id == trigger_id).values(next_fire_at=past))
    api.runtime.engine.scheduler.wake()
    return past


async def _slots(api: Api, trigger_id: str, **params: str) -> list[dict[str, Any]]:
    reply = await api.get(f"/api/v1/triggers/{trigger_id}/slots", params=params)
    assert reply.status == 200, reply.body
    return reply.body


async def _executions_before(api: Api, flow_id: str, end: datetime) -> list[dict[str, Any]]:
    """The flow's executions for instants before `end`: the ones a test made, not the schedule's
    own next firing when the test runs across a minute."""
    executions = (await api.get(f"/api/v1/executions?flowId={flow_id}&limit=1000")).body
    return [e for e in executions if _at(e["trigger"]["scheduledAt"]) < end]


async def _moved_on(api: Api, trigger_id: str) -> bool:
    row = (await api.get(f"/api/v1/triggers/{trigger_id}")).body
    return _at(row["nextFireAt"]) > datetime.now(UTC)


async def _ledger_after_downtime(api: Api, trigger_id: str, since: datetime, minutes: int) -> list[dict[str, Any]]:
    """The slots of a per-minute schedule's `minutes` instants from `since`, once the scheduler
    has moved past them; the schedule's own next instant, when the test runs across a minute,
    is not one of them."""
    window = {"from": _z(since), "to": _z(since + timedelta(minutes=minutes))}

    async def recorded() -> Any:
        slots = await _slots(api, trigger_id, **window)
        return slots if len(slots) >= minutes and await _moved_on(api, trigger_id) else None

    return await eventually(recorded, timeout=15, what=f"{minutes} slots recorded")


@pytest.fixture
async def strict_api(settings: Settings) -> AsyncIterator[Api]:
    """A server that records any firing after its instant as late."""
    async with serving(replace(settings, schedule_late_after=0.0)) as running:
        yield running


async def test_catch_up_off_runs_the_latest_missed_instant_and_skips_the_others(strict_api: Api) -> None:
    api = strict_api
    flow_id, trigger_id = await _schedule(api, "* * * * *")
    past = await _backdate(api, trigger_id, timedelta(minutes=5))
    slots = await _ledger_after_downtime(api, trigger_id, past, 5)
    assert [s["instant"] for s in slots] == [_z(past + timedelta(minutes=i)) for i in range(5)]
    assert [s["state"] for s in slots] == ["skipped"] * 4 + ["late"]
    assert all(s["executionId"] is None and s["firedAt"] is None for s in slots[:4])
    executions = await _executions_before(api, flow_id, past + timedelta(minutes=5))
    assert [e["id"] for e in executions] == [slots[-1]["executionId"]]
    assert executions[0]["trigger"]["scheduledAt"] == slots[-1]["instant"]


async def test_catch_up_on_runs_missed_instants_late_and_records_those_past_the_limit(
    strict_api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = strict_api
    monkeypatch.setattr(schedules, "MAX_CATCH_UP", 3)
    flow_id, trigger_id = await _schedule(api, "* * * * *", catch_up=True)
    past = await _backdate(api, trigger_id, timedelta(minutes=5))
    slots = await _ledger_after_downtime(api, trigger_id, past, 5)
    assert [s["state"] for s in slots] == ["missed", "missed", "late", "late", "late"]
    executions = await _executions_before(api, flow_id, past + timedelta(minutes=5))
    assert sorted(e["id"] for e in executions) == sorted(s["executionId"] for s in slots[2:])


async def test_a_flow_that_refuses_to_start_leaves_a_missed_slot(api: Api) -> None:
    flow_id, trigger_id = await _schedule(api, "* * * * *")
    needs_input = "name: ticking\ninputs:\n  - {name: region, type: string, required: true}\ntasks:\n  - {name: tick, type: util.noop}\n"
    assert (await api.put(f"/api/v1/flows/{flow_id}", json={"yamlContent": needs_input})).status == 200
    past = await _backdate(api, trigger_id, timedelta(minutes=2))
    slots = await _ledger_after_downtime(api, trigger_id, past, 2)
    assert [s["state"] for s in slots[:2]] == ["skipped", "missed"]
    assert (await api.get(f"/api/v1/executions?flowId={flow_id}")).body == []


async def test_backfill_runs_each_unrun_slot_once_even_when_calls_race(api: Api) -> None:
    flow_id, trigger_id = await _schedule(api, "* * * * *")
    past = await _backdate(api, trigger_id, timedelta(minutes=5))
    await _ledger_after_downtime(api, trigger_id, past, 5)
    before_trigger = past - timedelta(minutes=2)  # instants the ledger never held: run them too
    window = {"from": _z(before_trigger), "to": _z(past + timedelta(minutes=5))}

    dry = await api.post(f"/api/v1/triggers/{trigger_id}/backfill", json={**window, "dryRun": True})
    assert dry.status == 200, dry.body
    expected = [_z(before_trigger + timedelta(minutes=i)) for i in range(6)]
    assert dry.body == {"dryRun": True, "instants": expected, "executionIds": []}
    assert len((await api.get(f"/api/v1/executions?flowId={flow_id}")).body) == 1  # a dry run starts nothing

    replies = await asyncio.gather(*(api.post(f"/api/v1/triggers/{trigger_id}/backfill", json=window) for _ in range(4)))
    assert {r.status for r in replies} <= {200, 201}, [r.body for r in replies]
    started = [eid for r in replies for eid in r.body["executionIds"]]
    assert len(started) == len(set(started)) == 6, [r.body for r in replies]

    slots = {s["instant"]: s for s in await _slots(api, trigger_id, **window)}
    assert sorted(slots) == sorted([*expected, _z(past + timedelta(minutes=4))])
    assert [slots[i]["state"] for i in expected] == ["backfilled"] * 6
    assert slots[_z(past + timedelta(minutes=4))]["state"] in ("fired", "late")  # what ran is never run again
    assert sorted(slots[i]["executionId"] for i in expected) == sorted(started)
    executions = await _executions_before(api, flow_id, past + timedelta(minutes=5))
    instants = [e["trigger"]["scheduledAt"] for e in executions]
    assert len(instants) == len(set(instants)) == 7  # six backfilled, the one that fired: none twice
    batches = {e["trigger"].get("backfill") for e in executions if e["id"] in started}
    assert None not in batches and len(batches) <= 4  # each backfilled run names its backfill

    again = await api.post(f"/api/v1/triggers/{trigger_id}/backfill", json=window)
    assert again.status == 200 and again.body == {"executionIds": [], "instants": []}


async def test_backfill_concurrency_holds_the_rest_queued(api: Api) -> None:
    flow_id, trigger_id = await _schedule(api, "* * * * *", yaml=GATED)
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    window = {"from": _z(now - timedelta(minutes=3)), "to": _z(now), "concurrency": 1}
    reply = await api.post(f"/api/v1/triggers/{trigger_id}/backfill", json=window)
    assert reply.status == 201, reply.body
    first, second, third = reply.body["executionIds"]
    await wait_status(api, first, {"PAUSED"})
    statuses = [(await detail(api, e))["execution"]["status"] for e in (second, third)]
    assert statuses == ["QUEUED", "QUEUED"]
    pending = (await api.get("/api/v1/approvals", params={"status": "PENDING"})).body
    gate = next(a for a in pending if a["executionId"] == first)
    assert (await api.post(f"/api/v1/approvals/{gate['id']}/approve", json={})).status == 200
    await wait_status(api, first)
    await wait_status(api, second, {"PAUSED"})
    assert (await detail(api, third))["execution"]["status"] == "QUEUED"


async def test_the_backfill_command_lists_then_runs_what_never_ran(strict_api: Api) -> None:
    api = strict_api
    flow_id, trigger_id = await _schedule(api, "* * * * *")
    past = await _backdate(api, trigger_id, timedelta(minutes=3))
    await _ledger_after_downtime(api, trigger_id, past, 3)
    args = ("backfill", trigger_id, "--from", _z(past), "--to", _z(past + timedelta(minutes=3)), "--server", api.base_url)
    code, out, err = await cli(*args, "--dry-run")
    assert code == 0, err
    assert out.splitlines() == ["would run 2 instants:", f"  {_z(past)}", f"  {_z(past + timedelta(minutes=1))}"]
    code, out, err = await cli(*args, "--concurrency", "2")
    assert code == 0, err
    assert out.splitlines()[0] == "2 executions queued for 2 instants that had not run"
    assert sorted(out.split()[-2:]) == sorted(s["executionId"] for s in (await _slots(api, trigger_id))[:2])
    code, out, err = await cli(*args)
    assert (code, out.strip()) == (0, "nothing to backfill: every instant of the range has run"), err
    code, _out, err = await cli("backfill", trigger_id, "--from", "later", "--to", "now", "--server", api.base_url)
    assert code == 1 and "backfill refused (400)" in err and "RFC 3339" in err


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"from": "2026-01-01T00:10:00Z", "to": "2026-01-01T00:00:00Z"}, 400, "before"),
        ({"from": "2026-01-01T00:00:00Z", "to": "2026-01-02T00:00:00Z"}, 400, "in parts"),
        ({"from": "2026-01-01T00:00:00Z"}, 400, "to is required"),
        ({"from": "0001-01-01T00:00:00Z", "to": "0001-01-01T00:10:00Z"}, 400, "1970 or later"),
        ({"from": "yesterday", "to": "2026-01-01T00:00:00Z"}, 400, "RFC 3339"),
        ({"from": "2026-01-01T00:00:00", "to": "2026-01-01T00:10:00Z"}, 400, "time zone"),
        ({"from": "2026-01-01T00:00:00Z", "to": "2026-01-01T00:10:00Z", "concurrency": 0}, 400, "between"),
        ({"from": "2026-01-01T00:00:00Z", "to": "2026-01-01T00:10:00Z", "also": 1}, 400, "unknown field"),
    ],
)
async def test_a_bad_backfill_is_refused_and_starts_nothing(api: Api, body: dict[str, Any], status: int, words: str) -> None:
    flow_id, trigger_id = await _schedule(api, "* * * * *")
    reply = await api.post(f"/api/v1/triggers/{trigger_id}/backfill", json=body)
    assert reply.status == status and words in reply.body["error"]["message"], reply.body
    assert (await api.get(f"/api/v1/executions?flowId={flow_id}")).body == []
    assert await _slots(api, trigger_id, **{"from": "2000-01-01T00:00:00Z"}) == []


async def test_only_schedules_have_slots(api: Api) -> None:
    flow = (await api.post("/api/v1/flows", json={"yamlContent": FLOW})).body
    hook = (await api.post("/api/v1/triggers", json={"flowId": flow["id"], "type": "webhook"})).body
    for reply in (
        await api.get(f"/api/v1/triggers/{hook['id']}/slots"),
        await api.post(f"/api/v1/triggers/{hook['id']}/backfill", json={"from": "2026-01-01T00:00:00Z", "to": "2026-01-01T00:01:00Z"}),
    ):
        assert reply.status == 400 and "only schedules" in reply.body["error"]["message"], reply.body
    assert (await api.get("/api/v1/triggers/nope/slots")).status == 404


_TIMES = st.datetimes().map(lambda d: d.isoformat() + "Z")


@hsettings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    since=st.one_of(st.none(), st.text(max_size=40), _TIMES),
    until=st.one_of(st.none(), _TIMES),
    limit=st.text(max_size=6),
)
async def test_slot_queries_of_any_shape_answer_200_or_400(api: Api, since: str | None, until: str | None, limit: str) -> None:
    if not hasattr(api, "_trigger"):
        api._trigger = (await _schedule(api, "* * * * *"))[1]  # type: ignore[attr-defined]
    chosen = {"from": since, "to": until, "limit": limit}
    params = {name: value for name, value in chosen.items() if value is not None}
    reply = await api.get(f"/api/v1/triggers/{api._trigger}/slots", params=params)  # type: ignore[attr-defined]
    assert reply.status in (200, 400), reply.body


# -- across a restart and across two nodes -------------------------------------------------


async def _ticks(session: aiohttp.ClientSession, base: str, trigger_id: str) -> list[dict[str, Any]]:
    async with session.get(f"{base}/api/v1/triggers/{trigger_id}/slots") as resp:
        assert resp.status == 200
        return await resp.json()


async def _pass(seconds: float) -> None:
    """Let wall-clock time go by (a schedule's instants are wall-clock time)."""
    deadline = datetime.now(UTC) + timedelta(seconds=seconds)
    while datetime.now(UTC) < deadline:
        await asyncio.sleep(0.05)


def _check_downtime(slots: list[dict[str, Any]], stopped_after: str) -> None:
    """Every second accounted for once; the instants no node was up for skipped but the last."""
    instants = [_at(s["instant"]) for s in slots]
    assert len(instants) == len(set(instants)), slots
    assert {(b - a).total_seconds() for a, b in zip(instants, instants[1:], strict=False)} == {1.0}, slots
    after = [s for s in slots if s["instant"] > stopped_after]
    skipped = [s for s in after if s["state"] == "skipped"]
    assert len(skipped) >= 2, slots
    first_run = after.index(next(s for s in after if s["state"] != "skipped"))
    assert all(s["state"] == "skipped" for s in after[:first_run]), slots
    # After that, a look that came more than a second late (a busy machine) skips again: correct
    # with catch-up off. What ran has its execution; nothing else has one.
    assert all(s["state"] in ("fired", "skipped") for s in after[first_run:]), slots
    assert all(bool(s["executionId"]) == (s["state"] == "fired") for s in after), slots


async def test_a_restart_with_catch_up_off_skips_what_it_missed(settings: Settings, http_session: aiohttp.ClientSession) -> None:
    async with serving(settings) as api:
        _, trigger_id = await _schedule(api, "* * * * * *")
        await eventually(lambda: _enough(api, trigger_id, 2), timeout=15, what="two firings")
    stopped = await _latest_instant(settings, trigger_id)
    await _pass(3.5)
    async with serving(replace(settings)) as api:
        await eventually(lambda: _enough(api, trigger_id, 3, after=stopped), timeout=15, what="firings after the restart")
        slots = await _slots(api, trigger_id)
        executions = (await api.get("/api/v1/executions?limit=1000")).body
    _check_downtime(slots, stopped)
    assert sorted(e["id"] for e in executions) == sorted(s["executionId"] for s in slots if s["executionId"])


async def test_two_nodes_restarted_together_keep_one_ledger_and_race_one_backfill(
    postgres_url: str, tmp_path: Path
) -> None:
    def node(name: str) -> Settings:
        return Settings(host="127.0.0.1", port=0, data_dir=tmp_path / name, database_url=postgres_url)

    try:
        async with serving(node("a")) as a, serving(node("b")):
            _, trigger_id = await _schedule(a, "* * * * * *")
            await eventually(lambda: _enough(a, trigger_id, 2), timeout=15, what="two firings")
        stopped = await _latest_instant(node("a"), trigger_id)
        await _pass(3.5)
        async with serving(node("a")) as a, serving(node("b")) as b:
            await eventually(lambda: _enough(a, trigger_id, 3, after=stopped), timeout=15, what="firings after the restart")
            slots = await _slots(a, trigger_id)
            _check_downtime(slots, stopped)
            skipped = [s["instant"] for s in slots if s["state"] == "skipped"]
            window = {"from": skipped[0], "to": _z(_at(skipped[-1]) + timedelta(milliseconds=1))}
            replies = await asyncio.gather(*(n.post(f"/api/v1/triggers/{trigger_id}/backfill", json=window) for n in (a, b, a, b)))
            started = [eid for r in replies for eid in r.body["executionIds"]]
            assert len(started) == len(set(started)) == len(skipped), [r.body for r in replies]
            after = {s["instant"]: s for s in await _slots(a, trigger_id)}
            assert all(after[i]["state"] == "backfilled" for i in skipped)
            executions = (await a.get("/api/v1/executions?limit=1000")).body
            instants = [e["trigger"]["scheduledAt"] for e in executions]
            assert len(instants) == len(set(instants)), sorted(instants)
    finally:
        await _empty_postgres(postgres_url)


async def _enough(api: Api, trigger_id: str, count: int, *, after: str = "") -> Any:
    ran = [s for s in await _slots(api, trigger_id) if s["executionId"] and s["instant"] > after]
    return ran if len(ran) >= count else None


async def _latest_instant(settings: Settings, trigger_id: str) -> str:
    async with serving(replace(settings, roles=("api",))) as api:
        return max(s["instant"] for s in await _slots(api, trigger_id))


async def test_a_listing_that_ends_at_the_first_year_is_empty_not_an_error(api: Api) -> None:
    _, trigger_id = await _schedule(api, "* * * * *")
    assert await _slots(api, trigger_id, to="0001-01-01T00:00:00Z") == []
