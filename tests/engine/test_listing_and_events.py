"""Listing executions with filters and paging, and the live events WebSocket."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import aiohttp

from tests.conftest import Api
from tests.engine.flows_helpers import save_flow
from tests.engine.flows_helpers import start
from tests.engine.flows_helpers import wait_status

OK = "name: {name}\ntasks:\n  - {{name: a, type: util.noop}}\n"
BROKEN = "name: {name}\ntasks:\n  - {{name: a, type: flow.fail, properties: {{message: nope}}}}\n"


async def listed(api: Api, **params: Any) -> tuple[list[str], int]:
    reply = await api.get("/api/v1/executions", params=params)
    assert reply.status == 200, reply.body
    return [e["id"] for e in reply.body], int(reply.headers["X-Total-Count"])


async def test_list_filters_and_paging(api: Api) -> None:
    alpha = await save_flow(api, OK.format(name="alpha-flow"), namespace="alpha")
    beta = await save_flow(api, BROKEN.format(name="beta-flow"), namespace="beta")
    ids: list[str] = []
    bodies: list[dict[str, Any]] = []
    for flow_id in (alpha, beta, alpha):
        ids.append(await start(api, flow_id))
        bodies.append(await wait_status(api, ids[-1]))
    newest_first = ids[::-1]

    assert await listed(api) == (newest_first, 3)
    first_row = (await api.get("/api/v1/executions")).body[0]
    assert first_row["id"] == ids[2] and first_row["flowName"] == "alpha-flow" and first_row["namespace"] == "alpha"
    assert first_row["status"] == "SUCCESS" and first_row["tasksTotal"] == 1
    assert await listed(api, flowId=alpha) == ([ids[2], ids[0]], 2)
    assert await listed(api, namespace="beta") == ([ids[1]], 1)
    assert await listed(api, namespace="gamma") == ([], 0)
    assert await listed(api, status="FAILED") == ([ids[1]], 1)
    assert await listed(api, status="SUCCESS,FAILED") == (newest_first, 3)
    assert await listed(api, status="RUNNING,QUEUED") == ([], 0)
    assert await listed(api, flowId=alpha, status="FAILED") == ([], 0)

    middle_created = bodies[1]["execution"]["createdAt"]
    assert await listed(api, since=middle_created) == ([ids[2], ids[1]], 2)
    assert await listed(api, since="2000-01-01T00:00:00Z") == (newest_first, 3)
    assert await listed(api, since="2999-01-01T00:00:00+00:00") == ([], 0)

    assert await listed(api, limit=1) == ([ids[2]], 3)
    assert await listed(api, limit=1, offset=1) == ([ids[1]], 3)
    assert await listed(api, limit=2, offset=2) == ([ids[0]], 3)
    assert await listed(api, offset=5) == ([], 3)


async def test_list_refuses_bad_filters(api: Api) -> None:
    for params in (
        {"status": "DONE"},
        {"status": "SUCCESS,NOPE"},
        {"since": "yesterday"},
        {"since": "2026-03-25T10:00:00"},
        {"limit": "0"},
        {"limit": "many"},
        {"offset": "-1"},
    ):
        reply = await api.get("/api/v1/executions", params=params)
        assert reply.status == 400, (params, reply.body)
        assert reply.error["code"] == "invalid" and reply.error["message"]


async def test_unknown_execution_is_not_found(api: Api) -> None:
    reply = await api.get("/api/v1/executions/00000000-0000-4000-8000-000000000000")
    assert reply.status == 404 and reply.error["code"] == "not_found"


class EventStream:
    """The events a WebSocket received, read in the background."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.events: list[dict[str, Any]] = []
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for message in self.ws:
            if message.type == aiohttp.WSMsgType.TEXT:
                self.events.append(message.json())

    async def until(self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 10.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            found = next((e for e in self.events if predicate(e)), None)
            if found is not None:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"no such event within {timeout}s; got {[e['type'] for e in self.events]}")
            await asyncio.sleep(0.02)

    async def close(self) -> None:
        await self.ws.close()
        await self._reader


async def events(api: Api, **params: str) -> EventStream:
    ws = await api.session.ws_connect(api.base_url + "/api/v1/events", params=params)
    return EventStream(ws)


def of(execution_id: str, kind: str, **data: Any) -> Callable[[dict[str, Any]], bool]:
    def match(event: dict[str, Any]) -> bool:
        return (
            event["type"] == kind
            and event["executionId"] == execution_id
            and all(event["data"].get(k) == v for k, v in data.items())
        )

    return match


async def test_events_follow_a_run_to_success(api: Api) -> None:
    stream = await events(api)
    try:
        flow_id = await save_flow(api, """
name: observed
tasks:
  - {name: first, type: util.echo, properties: {value: 1}}
  - {name: second, type: util.noop}
""")
        execution_id = await start(api, flow_id)
        await stream.until(of(execution_id, "execution.updated", status="SUCCESS"))
        await stream.until(of(execution_id, "task.updated", taskName="first", status="SUCCESS"))
        mine = [e for e in stream.events if e["executionId"] == execution_id]
        statuses = [e["data"]["status"] for e in mine if e["type"] == "execution.updated"]
        assert statuses[0] == "QUEUED" and "RUNNING" in statuses and statuses[-1] == "SUCCESS"
        first = [e["data"] for e in mine if e["type"] == "task.updated" and e["data"]["taskName"] == "first"]
        assert [d["status"] for d in first] == ["RUNNING", "SUCCESS"]
        assert first[-1]["outputs"] == '{"value": 1}' and first[-1]["executionId"] == execution_id
        # The last task's end is announced before the execution's end.
        types = [(e["type"], e["data"].get("taskName"), e["data"]["status"]) for e in mine]
        assert types.index(("task.updated", "second", "SUCCESS")) < types.index(("execution.updated", None, "SUCCESS"))
        assert not any(e["type"] == "log" for e in stream.events), "log lines go to the logs socket"
    finally:
        await stream.close()


async def test_events_of_a_gate_filtered_by_execution(api: Api) -> None:
    everything = await events(api)
    try:
        flow_id = await save_flow(api, """
name: gate-observed
tasks:
  - {name: gate, type: flow.approval, properties: {message: may I?}}
""")
        other_flow = await save_flow(api, "name: bystander\ntasks:\n  - {name: a, type: util.noop}\n")
        execution_id = await start(api, flow_id)
        created = await everything.until(of(execution_id, "approval.created", status="PENDING"))
        assert created["data"]["message"] == "may I?" and created["data"]["taskName"] == "gate"
        await wait_status(api, execution_id, {"PAUSED"})

        filtered = await events(api, executionId=execution_id)
        try:
            bystander = await start(api, other_flow)
            await wait_status(api, bystander)
            reply = await api.post(f"/api/v1/approvals/{created['data']['id']}/approve", json={"comment": "yes"})
            assert reply.status == 200
            decided = await filtered.until(of(execution_id, "approval.decided", status="APPROVED"))
            assert decided["data"]["comment"] == "yes" and decided["data"]["id"] == created["data"]["id"]
            await filtered.until(of(execution_id, "task.updated", taskName="gate", status="SUCCESS"))
            await filtered.until(of(execution_id, "execution.updated", status="SUCCESS"))
            assert all(e["executionId"] == execution_id for e in filtered.events)
        finally:
            await filtered.close()
        await everything.until(of(bystander, "execution.updated", status="SUCCESS"))
    finally:
        await everything.close()


async def test_events_endpoint_needs_a_websocket(api: Api) -> None:
    reply = await api.get("/api/v1/events")
    assert reply.status == 400
