"""Following a log: the history, then the live lines, each once and in order, then the end, on
both databases. Lines are written as the recorder writes them (committed, then published), while
the follower is still paging through the history."""

from __future__ import annotations

import asyncio
from datetime import UTC
from datetime import datetime

import pytest
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from sqlalchemy import update

from tests.conftest import Api
from tests.engine.flows_helpers import save_flow
from tests.engine.flows_helpers import start
from tests.engine.flows_helpers import wait_status
from workflowdev.engine.errors import NotFound
from workflowdev.engine.events import LOG
from workflowdev.engine.events import Event
from workflowdev.engine.events import SubscriberLagged
from workflowdev.engine.node.engine import Engine
from workflowdev.engine.run.recorder import log_json
from workflowdev.engine.services.follow import LogEnded
from workflowdev.engine.services.follow import LogLine
from workflowdev.engine.services.follow import follow_logs
from workflowdev.store import executions as store
from workflowdev.store.models import Execution

NEVER_QUIET = 120.0
"""A quiet spell no test waits out: lines and the end must come by their events."""
GATED = "name: parked\ntasks:\n  - {name: gate, type: flow.approval, properties: {message: go?}}\n"


async def _parked(api: Api) -> str:
    """An execution no runner writes to any more: its line 1 is the gate's, the test writes the rest."""
    if not hasattr(api, "_parked_flow"):
        api._parked_flow = await save_flow(api, GATED)  # type: ignore[attr-defined]
    execution_id = await start(api, api._parked_flow)  # type: ignore[attr-defined]
    await wait_status(api, execution_id, {"PAUSED"})
    assert [row.seq for row in await api.runtime.engine.executions.logs(execution_id)] == [1]
    return execution_id


async def _write(engine: Engine, execution_id: str, seqs: range, *, lost: frozenset[int] = frozenset()) -> None:
    """As the recorder does: commit each line, then publish it (unless its event is `lost`)."""
    for seq in seqs:
        row = {
            "execution_id": execution_id,
            "seq": seq,
            "task_run_id": None,
            "task_name": "gate",
            "attempt": 1,
            "ts": datetime.now(UTC),
            "level": "info",
            "message": f"line {seq}",
        }
        await engine.executions.journal.write([(store.INSERT_LOG, row)])
        if seq not in lost:
            engine.bus.publish(Event(LOG, execution_id, log_json(row)))


async def _cancel(api: Api, execution_id: str) -> None:
    assert (await api.post(f"/api/v1/executions/{execution_id}/cancel")).status == 200


@hsettings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    page=st.integers(1, 6),
    before=st.integers(1, 12),
    during=st.integers(0, 12),
    after=st.integers(0, 6),
    data=st.data(),
)
async def test_history_then_live_without_gap_or_duplicate(
    api: Api, page: int, before: int, during: int, after: int, data: st.DataObject
) -> None:
    """`during` lines are committed and published after the follower took the `at`-th line of
    the history and before it read the rest; `after` ones once it has had them all, and then the
    execution ends. The events of the `lost` ones among them never arrive (a bridge that dropped
    them). Every line comes exactly once, in order, then the end."""
    engine = api.runtime.engine
    execution_id = await _parked(api)
    after_seq = data.draw(st.integers(0, before - 1), label="after_seq")
    at = data.draw(st.integers(after_seq + 1, before), label="at")
    total = before + during + after
    lost = frozenset(data.draw(st.sets(st.integers(before + during + 1, max(before + during + 1, total))), label="lost"))
    await _write(engine, execution_id, range(2, before + 1))

    received: list[LogLine | LogEnded] = []
    lines = follow_logs(engine.db, engine.bus, execution_id, after_seq=after_seq, page=page, quiet=NEVER_QUIET)
    async with asyncio.timeout(NEVER_QUIET / 2):  # events alone must carry it: no look at the store when quiet
        async for item in lines:
            received.append(item)
            if isinstance(item, LogEnded):
                break
            if item.seq == at:
                await _write(engine, execution_id, range(before + 1, before + during + 1))
            if item.seq == before + during:
                await _write(engine, execution_id, range(before + during + 1, total + 1), lost=lost)
                await _cancel(api, execution_id)

    assert [item.seq for item in received[:-1] if isinstance(item, LogLine)] == list(range(after_seq + 1, total + 1))
    assert received[-1] == LogEnded("CANCELLED")
    stored = await engine.executions.logs(execution_id)
    assert [log_json(item) for item in received[:-1]] == [log_json(row) for row in stored[after_seq:]]


async def test_lines_and_end_whose_events_were_lost_come_from_the_store(api: Api) -> None:
    """Nothing arrives on the bus: a quiet follow looks at the store, and ends."""
    engine = api.runtime.engine
    execution_id = await _parked(api)
    lines = follow_logs(engine.db, engine.bus, execution_id, quiet=0.05)
    await _write(engine, execution_id, range(2, 4))
    assert (await anext(lines)).seq == 1
    await _write(engine, execution_id, range(4, 6), lost=frozenset({4, 5}))
    async with engine.db.write() as conn:
        table = Execution.__table__
        await conn.execute(update(table).where(table.c.id == execution_id).values(status="FAILED"))
    rest = [item async for item in lines]
    assert rest == [*[LogLine.of_row(row) for row in (await engine.executions.logs(execution_id))[1:]], LogEnded("FAILED")]
    assert [line.seq for line in rest[:-1] if isinstance(line, LogLine)] == [2, 3, 4, 5]


async def test_a_live_line_reads_as_its_stored_row(api: Api) -> None:
    """The line the bus carried and the row the history reads show the same to the API."""
    engine = api.runtime.engine
    execution_id = await _parked(api)
    lines = follow_logs(engine.db, engine.bus, execution_id)
    from_history = await anext(lines)
    await _write(engine, execution_id, range(2, 3))
    live = await anext(lines)
    stored = await engine.executions.logs(execution_id)
    assert [log_json(from_history), log_json(live)] == [log_json(row) for row in stored]
    await lines.aclose()


async def test_a_follower_that_falls_behind_is_cut_off(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = api.runtime.engine
    execution_id = await _parked(api)
    monkeypatch.setattr(engine.bus, "queue_size", 3)
    baseline = engine.bus.subscriber_count
    lines = follow_logs(engine.db, engine.bus, execution_id)
    assert (await anext(lines)).seq == 1
    await _write(engine, execution_id, range(2, 8))
    with pytest.raises(SubscriberLagged):
        [item async for item in lines]
    assert engine.bus.subscriber_count == baseline


async def test_closing_a_follow_ends_its_subscription(api: Api) -> None:
    engine = api.runtime.engine
    execution_id = await _parked(api)
    baseline = engine.bus.subscriber_count
    lines = follow_logs(engine.db, engine.bus, execution_id)
    assert (await anext(lines)).seq == 1
    assert engine.bus.subscriber_count == baseline + 1
    await lines.aclose()
    assert engine.bus.subscriber_count == baseline


async def test_an_unknown_execution_is_not_found(api: Api) -> None:
    engine = api.runtime.engine
    baseline = engine.bus.subscriber_count
    with pytest.raises(NotFound):
        await anext(follow_logs(engine.db, engine.bus, "no-such-execution"))
    assert engine.bus.subscriber_count == baseline
