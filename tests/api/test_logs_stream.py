"""The logs WebSocket: history, then live lines, then `end` and close; and its plain-GET form."""

from __future__ import annotations

import asyncio

import aiohttp

from tests.conftest import Api
from tests.engine.flows_helpers import save_flow
from tests.engine.flows_helpers import start
from tests.engine.flows_helpers import wait_status

FLOW = """
name: chatty
tasks:
  - name: one
    type: util.log
    properties: {message: first line}
  - name: nap
    type: util.sleep
    properties: {duration: 300ms}
  - name: two
    type: util.log
    properties: {message: second line, level: warning}
  - name: three
    type: util.log
    properties: {message: third line, level: error}
"""


async def _read_stream(api: Api, execution_id: str) -> list[dict]:
    messages = []
    async with api.session.ws_connect(f"{api.base_url}/api/v1/executions/{execution_id}/logs") as ws:
        async for msg in ws:
            assert msg.type == aiohttp.WSMsgType.TEXT
            messages.append(msg.json())
        assert ws.closed
    return messages


def _lines(messages: list[dict]) -> list[str]:
    return [m["message"] for m in messages if m["type"] == "log"]


async def test_live_stream_then_end(api: Api) -> None:
    execution_id = await start(api, await save_flow(api, FLOW))
    messages = await _read_stream(api, execution_id)
    assert _lines(messages) == ["first line", "second line", "third line"]
    assert messages[-1] == {"type": "end", "status": "SUCCESS"}
    seqs = [m["seq"] for m in messages if m["type"] == "log"]
    assert seqs == sorted(set(seqs))
    second = next(m for m in messages if m.get("message") == "second line")
    assert (second["level"], second["taskName"], second["attempt"]) == ("warning", "two", 1)
    assert second["ts"].endswith("Z")


async def test_finished_execution_streams_history_and_ends(api: Api) -> None:
    execution_id = await start(api, await save_flow(api, FLOW))
    await wait_status(api, execution_id)
    messages = await _read_stream(api, execution_id)
    assert _lines(messages) == ["first line", "second line", "third line"]
    assert messages[-1] == {"type": "end", "status": "SUCCESS"}


async def test_plain_get_returns_the_lines_as_json(api: Api) -> None:
    execution_id = await start(api, await save_flow(api, FLOW))
    await wait_status(api, execution_id)
    reply = await api.get(f"/api/v1/executions/{execution_id}/logs")
    assert reply.status == 200
    assert [line["message"] for line in reply.body] == ["first line", "second line", "third line"]
    assert all(line["type"] == "log" for line in reply.body)


async def test_plain_get_pages_by_seq_and_refuses_a_bad_page(api: Api) -> None:
    execution_id = await start(api, await save_flow(api, FLOW))
    await wait_status(api, execution_id)
    url = f"/api/v1/executions/{execution_id}/logs"
    first = (await api.get(url, params={"limit": "2"})).body
    assert [line["message"] for line in first] == ["first line", "second line"]
    rest = (await api.get(url, params={"afterSeq": str(first[-1]["seq"]), "limit": "2"})).body
    assert [line["message"] for line in rest] == ["third line"]
    for bad in ({"limit": "0"}, {"limit": "10001"}, {"limit": "many"}, {"afterSeq": "-1"}, {"afterSeq": "9" * 40}):
        reply = await api.get(url, params=bad)
        assert reply.status == 400, (bad, reply.body)
        assert next(iter(bad)) in reply.error["message"]


async def test_unknown_execution_is_404_for_both_forms(api: Api) -> None:
    assert (await api.get("/api/v1/executions/nope/logs")).status == 404
    try:
        async with api.session.ws_connect(f"{api.base_url}/api/v1/executions/nope/logs"):
            raise AssertionError("upgrade should have been refused")
    except aiohttp.WSServerHandshakeError as exc:
        assert exc.status == 404


async def test_shutdown_closes_open_streams_going_away(settings) -> None:  # type: ignore[no-untyped-def]
    """A console still connected must not hold the server's shutdown up."""
    from workflowdev.runtime import Runtime

    runtime = Runtime(settings)
    await runtime.start()
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(f"{runtime.base_url}/api/v1/events") as ws:
            stopping = asyncio.create_task(runtime.stop())
            message = await asyncio.wait_for(ws.receive(), 15)
            assert message.type == aiohttp.WSMsgType.CLOSE and message.data == aiohttp.WSCloseCode.GOING_AWAY
            await asyncio.wait_for(stopping, 15)
