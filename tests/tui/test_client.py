"""The console's client against a real server: every call, its errors, and the live streams.

The streams are what the console leans on to stay current without polling, so they are tested
through a real restart: the server goes away, comes back on the same port, and the client must
say so, reconnect, and tell the console what it may have missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from tests.api.test_access import PASSWORD  # noqa: F401 - the fixture of a server with --auth
from tests.api.test_access import secured  # noqa: F401 - the fixture of a server with --auth
from tests.conftest import Api
from tests.engine.flows_helpers import eventually
from tests.engine.flows_helpers import save_flow
from tests.engine.flows_helpers import start
from tests.engine.flows_helpers import wait_status
from tests.support_plugins import registry_with_test_plugins
from workflowdev.config import Settings
from workflowdev.runtime import Runtime
from workflowdev.tui.client import RESYNC
from workflowdev.tui.client import ApiClient
from workflowdev.tui.client import ApiError
from workflowdev.tui.client import Backoff
from workflowdev.tui.client import Disconnected
from workflowdev.tui.client import Unauthorized

DEADLINE = 20.0

ECHO = """
name: echo
namespace: shop
inputs:
  - {name: who, type: string, default: world}
tasks:
  - name: hello
    type: util.log
    properties: {message: "hello {{ inputs.who }}"}
"""

GATED = """
name: gated
tasks:
  - name: before
    type: util.log
    properties: {message: first line}
  - name: gate
    type: flow.approval
    properties: {message: go on?}
  - name: after
    type: util.log
    properties: {message: second line}
"""

HANG = """
name: hang
tasks:
  - name: wait
    type: test.hang
"""


async def within(awaitable: Any, what: str) -> Any:
    try:
        return await asyncio.wait_for(awaitable, DEADLINE)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


class Stream:
    """Drains one of the client's streams in the background, with its connection states."""

    def __init__(self, source: Callable[[Callable[[bool], None]], AsyncIterator[dict[str, Any]]]) -> None:
        self.messages: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.states: asyncio.Queue[bool] = asyncio.Queue()
        self._task = asyncio.create_task(self._drain(source(self.states.put_nowait)))

    async def _drain(self, iterator: AsyncIterator[dict[str, Any]]) -> None:
        async for message in iterator:
            self.messages.put_nowait(message)

    async def state(self) -> bool:
        return await within(self.states.get(), "a connection state")

    async def until(self, check: Callable[[dict[str, Any]], bool], what: str) -> list[dict[str, Any]]:
        """Every message up to and including the first that passes `check`."""
        seen = []
        while True:
            message = await within(self.messages.get(), what)
            seen.append(message)
            if check(message):
                return seen

    async def finished(self) -> None:
        await within(self._task, "the stream to end")

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


@pytest.fixture
async def client(api: Api) -> AsyncIterator[ApiClient]:
    async with ApiClient(api.base_url) as c:
        yield c


async def test_flows_executions_and_logs_round_trip(api: Api, client: ApiClient) -> None:
    flow_id = await save_flow(api, ECHO)
    assert (await client.me())["username"] == "anonymous"
    assert [f["id"] for f in await client.flows(q="echo")] == [flow_id]
    assert await client.flows(q="no such flow") == []
    flow = await client.flow(flow_id)
    assert (flow["name"], flow["namespace"], flow["yamlContent"]) == ("echo", "shop", ECHO)

    assert await client.validate(ECHO) == {"valid": True, "errors": [], "tasksTotal": 1}
    invalid = await client.validate("name: x\ntasks:\n  - {name: a, type: no.such}\n")
    assert invalid["valid"] is False and "no.such" in json.dumps(invalid["errors"])

    started = await client.execute(flow_id, {"who": "client"})
    assert started["status"] == "QUEUED" and started["tasksTotal"] == 1
    execution_id = started["executionId"]
    await wait_status(api, execution_id, {"SUCCESS"})
    execution, tasks = await client.execution(execution_id)
    assert execution["id"] == execution_id and execution["inputs"] == {"who": "client"}
    assert [(t["taskName"], t["status"]) for t in tasks] == [("hello", "SUCCESS")]
    assert [line["message"] for line in await client.logs(execution_id)] == ["hello client"]

    assert [e["id"] for e in await client.executions(flow_id=flow_id)] == [execution_id]
    assert [e["id"] for e in await client.executions(status="SUCCESS", limit=1)] == [execution_id]
    assert await client.executions(status="FAILED") == []


async def test_cancel_and_retry(api: Api, client: ApiClient) -> None:
    execution_id = (await client.execute(await save_flow(api, HANG)))["executionId"]
    await wait_status(api, execution_id, {"RUNNING"})
    assert (await client.cancel(execution_id))["id"] == execution_id
    await wait_status(api, execution_id, {"CANCELLED"})
    assert await client.retry(execution_id) == {"executionId": execution_id, "status": "QUEUED"}
    await wait_status(api, execution_id, {"RUNNING"})
    await client.cancel(execution_id)


async def test_approvals_round_trip(api: Api, client: ApiClient) -> None:
    flow_id = await save_flow(api, GATED)
    first, second = (await client.execute(flow_id))["executionId"], (await client.execute(flow_id))["executionId"]
    for execution_id in (first, second):
        await wait_status(api, execution_id, {"PAUSED"})
    pending = {a["executionId"]: a for a in await client.approvals()}
    assert set(pending) == {first, second}

    approved = await client.approve(pending[first]["id"], comment="ship it")
    assert (approved["status"], approved["comment"]) == ("APPROVED", "ship it")
    rejected = await client.reject(pending[second]["id"])
    assert (rejected["status"], rejected["comment"]) == ("REJECTED", None)
    assert await client.approvals() == []
    assert {a["status"] for a in await client.approvals(status=None)} == {"APPROVED", "REJECTED"}
    await wait_status(api, first, {"SUCCESS"})
    await wait_status(api, second, {"FAILED"})


async def test_kv_triggers_and_plugins_round_trip(api: Api, client: ApiClient) -> None:
    key = "last run?#"  # characters that mean something in a URL reach the server as part of the key
    entry = await client.kv_set("shop", key, {"count": 3}, ttl=3600)
    assert (entry["namespace"], entry["key"], entry["value"]) == ("shop", key, {"count": 3})
    assert entry["expiresAt"] is not None
    await client.kv_set("shop", "plain", 0)
    assert (await client.kv_get("shop", key))["value"] == {"count": 3}
    assert (await client.kv_get("shop", "plain"))["value"] == 0
    assert sorted(e["key"] for e in await client.kv_list("shop")) == [key, "plain"]
    assert await client.kv_delete("shop", key) is None
    with pytest.raises(ApiError) as missing:
        await client.kv_get("shop", key)
    assert missing.value.status == 404

    flow_id = await save_flow(api, ECHO)
    made = await api.post("/api/v1/triggers", json={"flowId": flow_id, "type": "webhook", "name": "incoming"})
    assert made.status == 201, made.body
    assert [t["name"] for t in await client.triggers(flow_id=flow_id)] == ["incoming"]
    assert await client.triggers(flow_id=await save_flow(api, GATED)) == []

    plugins = {p["id"]: p for p in await client.plugins()}
    assert len(plugins) >= 83 and plugins["util.log"]["category"]


async def test_errors_carry_the_servers_code_and_message(api: Api, client: ApiClient) -> None:
    with pytest.raises(ApiError) as missing:
        await client.flow("00000000-0000-0000-0000-000000000000")
    assert (missing.value.status, missing.value.code) == (404, "not_found")
    assert "00000000-0000-0000-0000-000000000000" in missing.value.message
    assert type(missing.value) is ApiError

    execution_id = (await client.execute(await save_flow(api, ECHO)))["executionId"]
    await wait_status(api, execution_id, {"SUCCESS"})
    with pytest.raises(ApiError) as conflict:
        await client.cancel(execution_id)
    assert (conflict.value.status, conflict.value.code) == (409, "conflict")

    with pytest.raises(ApiError) as bad:
        await client.executions(status="SLEEPING")
    assert (bad.value.status, bad.value.code) == (400, "invalid") and "SLEEPING" in bad.value.message

    with pytest.raises(ApiError) as no_stream:
        async for _ in client.follow_logs("no-such-execution"):
            pass
    assert no_stream.value.status == 404


async def test_unreachable_server_is_disconnected() -> None:
    async with ApiClient("http://127.0.0.1:9") as client:  # the discard port: nothing listens
        with pytest.raises(Disconnected) as failed:
            await client.flows()
    assert failed.value.code == "disconnected" and "127.0.0.1:9" in failed.value.message


async def test_auth_login_and_unauthorized(secured: tuple[Api, dict[str, str]]) -> None:  # noqa: F811
    api, _ = secured
    async with ApiClient(api.base_url) as client:
        with pytest.raises(Unauthorized) as anonymous:
            await client.me()
        assert (anonymous.value.status, anonymous.value.code) == (401, "unauthorized")
        with pytest.raises(Unauthorized):
            async for _ in client.events():
                pass
        with pytest.raises(Unauthorized):
            await client.login("root", "wrong password")
        assert client.token is None

        logged_in = await client.login("viewer", PASSWORD)
        assert client.token == logged_in["token"]
        assert (await client.me())["username"] == "viewer"
        with pytest.raises(ApiError) as forbidden:
            await client.kv_set("ns", "k", 1)
        assert (forbidden.value.status, forbidden.value.code) == (403, "forbidden")

    async with ApiClient(api.base_url, token="not-a-token") as stale:
        with pytest.raises(Unauthorized):
            await stale.flows()


async def test_events_follow_an_execution_to_success(api: Api, client: ApiClient) -> None:
    flow_id = await save_flow(api, ECHO)
    stream = Stream(lambda on_state: client.events(on_state=on_state))
    try:
        assert await stream.state() is True  # subscribed: nothing from here on is missed
        execution_id = (await client.execute(flow_id))["executionId"]
        seen = await stream.until(
            lambda m: m["type"] == "execution.updated" and m["data"]["status"] == "SUCCESS", "SUCCESS"
        )
        assert {m["executionId"] for m in seen} == {execution_id}
        assert "task.updated" in {m["type"] for m in seen}
    finally:
        await stream.close()


async def test_follow_logs_gets_history_then_live_then_end(api: Api, client: ApiClient) -> None:
    execution_id = await start(api, await save_flow(api, GATED))
    await wait_status(api, execution_id, {"PAUSED"})
    stream = Stream(lambda on_state: client.follow_logs(execution_id, on_state=on_state))
    try:
        history = await stream.until(lambda m: m.get("taskName") == "gate", "the history")
        assert [(m["taskName"], m["message"]) for m in history] == [
            ("before", "first line"),
            ("gate", "gate waits for approval: go on?"),
        ]
        (approval,) = await client.approvals()
        await client.approve(approval["id"])
        rest = await stream.until(lambda m: m["type"] == "end", "the end")
        assert [m["message"] for m in rest if m["type"] == "log"] == ["second line"]
        assert rest[-1] == {"type": "end", "status": "SUCCESS"}
        await stream.finished()
    finally:
        await stream.close()


@pytest.fixture
async def restartable(settings: Settings) -> AsyncIterator[Callable[[], Any]]:
    """Start a server; each call of the yielded function stops it and starts a new one, same port."""
    runtimes = [Runtime(settings, registry=registry_with_test_plugins())]
    await runtimes[0].start()

    async def restart(down: Callable[[], Any] | None = None) -> Runtime:
        old = runtimes[-1]
        await old.stop()
        if down is not None:
            await down()
        new = Runtime(replace(settings, port=old.port), registry=registry_with_test_plugins())
        runtimes.append(new)
        await new.start()
        return new

    restart.first = runtimes[0]  # type: ignore[attr-defined]
    yield restart
    await runtimes[-1].stop()


async def test_streams_survive_a_restart(restartable: Any) -> None:
    """Both streams open while the server restarts on the same port.

    Events: "disconnected", then "connected" and a resync, then new events. Logs: the replayed
    history is not yielded twice, and the lines written after the restart arrive, then the end.
    """
    first: Runtime = restartable.first
    async with ApiClient(first.base_url) as client:
        echo_id = await _create(client, first.base_url, ECHO)
        gated_id = (await client.execute(await _create(client, first.base_url, GATED)))["executionId"]
        await eventually(lambda: _status_is(client, gated_id, "PAUSED"), timeout=DEADLINE, what="PAUSED")
        events = Stream(lambda on_state: client.events(on_state=on_state))
        logs = Stream(lambda on_state: client.follow_logs(gated_id, on_state=on_state))
        try:
            assert await events.state() is True and await logs.state() is True
            history = await logs.until(lambda m: m.get("taskName") == "gate", "the history")
            assert [m["taskName"] for m in history] == ["before", "gate"]

            async def while_down() -> None:
                assert await events.state() is False and await logs.state() is False
                with pytest.raises(Disconnected):
                    await client.flows()

            await restartable(while_down)
            assert await events.state() is True and await logs.state() is True
            assert await within(events.messages.get(), "resync") == RESYNC

            execution_id = (await client.execute(echo_id))["executionId"]
            seen = await events.until(
                lambda m: m["type"] == "execution.updated" and m["data"]["status"] == "SUCCESS", "SUCCESS"
            )
            assert {m["executionId"] for m in seen} == {execution_id}

            (approval,) = await client.approvals()
            await client.approve(approval["id"])
            rest = await logs.until(lambda m: m["type"] == "end", "the end")
            assert [m["message"] for m in rest if m["type"] == "log"] == ["second line"]
            assert rest[-1] == {"type": "end", "status": "SUCCESS"}
        finally:
            await events.close()
            await logs.close()


def test_backoff_doubles_to_its_cap_with_jitter_and_resets() -> None:
    backoff = Backoff(first=0.2, cap=5.0)
    ceilings = [0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0]
    delays = [backoff.delay() for _ in ceilings]
    assert all(c / 2 <= d <= c for d, c in zip(delays, ceilings, strict=True))
    backoff.reset()
    assert backoff.delay() <= 0.2


async def _create(client: ApiClient, base_url: str, yaml: str) -> str:
    """Flows are saved by the editor, not the console client; a raw request stands in for it."""
    async with client.session.post(f"{base_url}/api/v1/flows", json={"yamlContent": yaml}) as resp:
        assert resp.status == 201, await resp.text()
        return (await resp.json())["id"]


async def _status_is(client: ApiClient, execution_id: str, status: str) -> bool:
    execution, _ = await client.execution(execution_id)
    return execution["status"] == status
