"""The one helper every WebSocket stream goes through: a client that leaves takes its stream with
it (no task, no subscription left behind), and a client that reads nothing is closed with 1008
once a message has waited too long, having cost the server a bounded buffer meanwhile."""

from __future__ import annotations

import asyncio
import logging

import aiohttp
import pytest

from tests.conftest import Api
from tests.engine.flows_helpers import eventually
from tests.engine.flows_helpers import save_flow
from tests.engine.flows_helpers import start
from tests.engine.flows_helpers import wait_status
from workflowdev.api import streams
from workflowdev.engine.events import EXECUTION_UPDATED
from workflowdev.engine.events import Event

GATED = "name: parked\ntasks:\n  - {name: gate, type: flow.approval, properties: {message: go?}}\n"


def _stream_tasks() -> list[asyncio.Task[object]]:
    return [task for task in asyncio.all_tasks() if task.get_name().startswith("stream ")]


async def _parked(api: Api) -> str:
    execution_id = await start(api, await save_flow(api, GATED))
    await wait_status(api, execution_id, {"PAUSED"})
    return execution_id


@pytest.mark.parametrize("abrupt", [False, True], ids=["close", "drop"])
async def test_a_client_that_leaves_takes_its_streams_with_it(api: Api, abrupt: bool) -> None:
    """Both streams of a running execution (the log one still waiting for lines), then the
    client goes, politely or by dropping the connection: nothing of it stays on the server."""
    bus = api.runtime.engine.bus
    execution_id = await _parked(api)
    baseline = bus.subscriber_count
    session = aiohttp.ClientSession()
    logs = await session.ws_connect(f"{api.base_url}/api/v1/executions/{execution_id}/logs")
    events = await session.ws_connect(f"{api.base_url}/api/v1/events", params={"executionId": execution_id})
    assert (await logs.receive_json(timeout=10))["message"] == "gate waits for approval: go?"

    async def both_following() -> bool:
        return bus.subscriber_count == baseline + 2 and len(_stream_tasks()) == 4

    await eventually(both_following, what="two streams, each with its sender and its reader")
    if abrupt:
        await session.close()  # no close handshake: the connections just drop
    else:
        await logs.close()
        await events.close()
        await session.close()

    async def all_gone() -> bool:
        return bus.subscriber_count == baseline and not _stream_tasks()

    await eventually(all_gone, what="the streams' tasks and subscriptions to end")


async def test_a_finished_log_stream_leaves_nothing_behind(api: Api) -> None:
    bus = api.runtime.engine.bus
    execution_id = await _parked(api)
    baseline = bus.subscriber_count
    async with api.session.ws_connect(f"{api.base_url}/api/v1/executions/{execution_id}/logs") as ws:
        assert (await ws.receive_json(timeout=10))["type"] == "log"
        assert (await api.post(f"/api/v1/executions/{execution_id}/cancel")).status == 200
        assert await ws.receive_json(timeout=10) == {"type": "end", "status": "CANCELLED"}
        closing = await ws.receive(timeout=10)
        assert closing.type == aiohttp.WSMsgType.CLOSE and closing.data == aiohttp.WSCloseCode.OK

    async def all_gone() -> bool:
        return bus.subscriber_count == baseline and not _stream_tasks()

    await eventually(all_gone, what="the stream's tasks and subscription to end")


async def test_a_client_that_reads_nothing_is_closed_and_costs_a_bounded_buffer(
    api: Api, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Thirty megabytes are published to a client that reads none of them: the server holds a
    few hundred kilobytes for it (not the thirty), then closes it with 1008, and the client finds
    that close after what it was sent."""
    monkeypatch.setattr(streams, "SEND_TIMEOUT_SECONDS", 0.5)
    caplog.set_level(logging.WARNING, logger=streams.__name__)
    bus = api.runtime.engine.bus
    baseline = bus.subscriber_count
    blob = "x" * 100_000
    async with api.session.ws_connect(f"{api.base_url}/api/v1/events", params={"executionId": "slow"}) as ws:

        async def subscribed() -> bool:
            return bus.subscriber_count == baseline + 1

        await eventually(subscribed, what="the stream to subscribe")
        for n in range(300):  # from another node, so only subscribers see them
            bus.publish(Event(EXECUTION_UPDATED, "slow", {"n": n, "blob": blob}, origin="elsewhere"))

        async def closed_as_too_slow() -> list[logging.LogRecord]:
            return [r for r in caplog.records if r.getMessage().startswith("closing the stream /api/v1/events")]

        (record,) = await eventually(closed_as_too_slow, what="the server to give up on the client")
        unsent = record.args[-1] if isinstance(record.args, tuple) else None
        assert isinstance(unsent, int) and unsent < 10 * len(blob), unsent

        async def all_gone() -> bool:
            return bus.subscriber_count == baseline and not _stream_tasks()

        await eventually(all_gone, what="the stream's tasks and subscription to end")
        received = 0
        while True:
            message = await ws.receive(timeout=10)
            if message.type != aiohttp.WSMsgType.TEXT:
                break
            assert message.json()["data"]["n"] == received
            received += 1
        assert message.type == aiohttp.WSMsgType.CLOSE, message
        assert (message.data, message.extra) == (aiohttp.WSCloseCode.POLICY_VIOLATION, streams.TOO_SLOW.decode())
        assert 0 < received < 300
