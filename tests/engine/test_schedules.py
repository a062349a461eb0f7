"""Schedules: once per instant across restarts and across nodes; catch-up; DST; re-enabling."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from sqlalchemy import update

from tests.conftest import Api
from tests.conftest import _empty_postgres
from tests.engine.flows_helpers import eventually
from tests.support_plugins import registry_with_test_plugins
from workflowdev.config import Settings
from workflowdev.engine.language.trigger_config import instants_due
from workflowdev.engine.language.trigger_config import next_instant
from workflowdev.runtime import Runtime
from workflowdev.store.models import Trigger

FLOW = "name: ticking\ntasks:\n  - {name: tick, type: util.noop}\n"


async def _json(session: aiohttp.ClientSession, method: str, url: str, **kwargs: Any) -> Any:
    async with session.request(method, url, **kwargs) as resp:
        assert resp.status < 300, await resp.text()
        return await resp.json() if resp.status != 204 else None


async def _scheduled_instants(session: aiohttp.ClientSession, base: str, flow_id: str) -> list[str]:
    executions = await _json(session, "GET", f"{base}/api/v1/executions?flowId={flow_id}&limit=1000")
    return [e["trigger"]["scheduledAt"] for e in executions]


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


async def test_each_instant_fires_once_across_a_restart(settings: Settings, session: aiohttp.ClientSession) -> None:
    runtime = Runtime(settings, registry=registry_with_test_plugins())
    await runtime.start()
    base = runtime.base_url
    flow = await _json(session, "POST", f"{base}/api/v1/flows", json={"yamlContent": FLOW})
    await _json(session, "POST", f"{base}/api/v1/triggers", json={"flowId": flow["id"], "type": "schedule", "config": {"cron": "* * * * * *"}})

    async def fired(n: int) -> Any:
        instants = await _scheduled_instants(session, runtime.base_url, flow["id"])
        return instants if len(instants) >= n else None

    await eventually(lambda: fired(2), timeout=15, what="two firings before the restart")
    await runtime.stop()
    runtime = Runtime(replace(settings), registry=registry_with_test_plugins())
    await runtime.start()
    try:
        before = len(await _scheduled_instants(session, runtime.base_url, flow["id"]))
        instants = await eventually(lambda: fired(before + 2), timeout=15, what="two firings after the restart")
    finally:
        await runtime.stop()
    assert len(instants) == len(set(instants)), sorted(instants)


async def test_two_nodes_on_one_postgres_fire_each_instant_once(
    postgres_url: str, tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    nodes = [
        Runtime(Settings(host="127.0.0.1", port=0, data_dir=tmp_path / name, database_url=postgres_url))
        for name in ("a", "b")
    ]
    for node in nodes:
        await node.start()
    try:
        base = nodes[0].base_url
        flow = await _json(session, "POST", f"{base}/api/v1/flows", json={"yamlContent": FLOW})
        trigger = await _json(
            session, "POST", f"{base}/api/v1/triggers",
            json={"flowId": flow["id"], "type": "schedule", "config": {"cron": "* * * * * *"}},
        )

        async def enough() -> Any:
            instants = await _scheduled_instants(session, base, flow["id"])
            return instants if len(instants) >= 4 else None

        await eventually(enough, timeout=20, what="four firings")
        await _json(session, "PUT", f"{base}/api/v1/triggers/{trigger['id']}", json={"enabled": False})
        instants = sorted(await _scheduled_instants(session, base, flow["id"]))
    finally:
        for node in nodes:
            await node.stop()
        await _empty_postgres(postgres_url)
    assert len(instants) == len(set(instants)), instants
    seconds = [datetime.fromisoformat(i.replace("Z", "+00:00")) for i in instants]
    gaps = {(b - a).total_seconds() for a, b in zip(seconds, seconds[1:], strict=False)}
    assert gaps == {1.0}, instants  # consecutive seconds: none missed, none twice


async def _backdate(api: Api, trigger_id: str, minutes: int) -> datetime:
    """Pretend the server was down: move next_fire_at `minutes` into the past."""
    db = api.runtime.db
    assert db is not None
    row = (await api.get(f"/api/v1/triggers/{trigger_id}")).body
    nxt = datetime.fromisoformat(row["nextFireAt"].replace("Z", "+00:00"))
    past = nxt - timedelta(minutes=minutes)
    async with db.write() as conn:
        await conn.execute(update(Trigger.__table__).where(Trigger.__table__.c.id == trigger_id).values(next_fire_at=past))
    api.runtime.engine.scheduler.wake()
    return past


@pytest.mark.parametrize("catch_up", [False, True])
async def test_missed_instants_follow_catch_up(api: Api, catch_up: bool) -> None:
    flow = (await api.post("/api/v1/flows", json={"yamlContent": FLOW})).body
    trigger = (await api.post(
        "/api/v1/triggers",
        json={"flowId": flow["id"], "type": "schedule", "config": {"cron": "* * * * *", "catchUp": catch_up}},
    )).body
    past = await _backdate(api, trigger["id"], 5)
    expected = 5 if catch_up else 1
    downtime_ends = past + timedelta(minutes=5)

    async def fired_and_advanced() -> Any:
        """The firings of the downtime's instants: across a minute, the schedule's own next
        instant fires too, and is none of the test's business."""
        executions = [
            e
            for e in (await api.get(f"/api/v1/executions?flowId={flow['id']}")).body
            if datetime.fromisoformat(e["trigger"]["scheduledAt"].replace("Z", "+00:00")) < downtime_ends
        ]
        after = (await api.get(f"/api/v1/triggers/{trigger['id']}")).body
        moved_on = datetime.fromisoformat(after["nextFireAt"].replace("Z", "+00:00")) > datetime.now(UTC)
        return executions if len(executions) >= expected and moved_on else None

    executions = await eventually(fired_and_advanced, timeout=10, what=f"{expected} catch-up firings")
    instants = sorted(e["trigger"]["scheduledAt"] for e in executions)
    assert len(instants) == expected
    newest = (past + timedelta(minutes=4)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    assert instants[-1] == newest


async def test_reenabling_fires_next_in_the_future_never_a_backlog(api: Api) -> None:
    flow = (await api.post("/api/v1/flows", json={"yamlContent": FLOW})).body
    trigger = (await api.post(
        "/api/v1/triggers", json={"flowId": flow["id"], "type": "schedule", "config": {"cron": "* * * * *", "catchUp": True}},
    )).body
    await api.put(f"/api/v1/triggers/{trigger['id']}", json={"enabled": False})
    again = (await api.put(f"/api/v1/triggers/{trigger['id']}", json={"enabled": True})).body
    assert datetime.fromisoformat(again["nextFireAt"].replace("Z", "+00:00")) > datetime.now(UTC)
    assert (await api.get(f"/api/v1/executions?flowId={flow['id']}")).body == []


def test_dst_fall_back_fires_each_wall_clock_instant_once() -> None:
    # America/New_York falls back at 2026-11-01 02:00 EDT -> 01:00 EST: 01:00 and 01:30 happen twice.
    start = datetime(2026, 11, 1, 3, 50, tzinfo=UTC)  # 23:50 EDT on Oct 31
    walk, instant = [], start
    for _ in range(6):
        instant = next_instant("*/30 * * * *", "America/New_York", instant)
        walk.append(instant)
    local = [i.astimezone(ZoneInfo("America/New_York")).strftime("%H:%M") for i in walk]
    assert local == ["00:00", "00:30", "01:00", "01:30", "02:00", "02:30"]
    due = instants_due("*/30 * * * *", "America/New_York", since=start, until=walk[-1], limit=100)
    assert due == walk


def test_six_fields_put_seconds_first() -> None:
    start = datetime(2026, 1, 1, 0, 0, 0, tzinfo=UTC)
    assert next_instant("*/15 * * * * *", "UTC", start) == start + timedelta(seconds=15)
    assert next_instant("0 */2 * * *", "UTC", start) == start + timedelta(hours=2)
