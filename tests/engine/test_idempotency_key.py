"""A task's idempotency key: one per task of an execution, the same on every attempt and retry,
sent by http plugins when asked, and readable as `task.idempotencyKey`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from tests.conftest import Api
from tests.engine.flows_helpers import outputs
from tests.engine.flows_helpers import run
from tests.engine.flows_helpers import save_flow
from tests.engine.flows_helpers import start
from tests.engine.flows_helpers import tasks_by_name
from tests.engine.flows_helpers import wait_status


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    """A payment endpoint that fails every first call for a key, and records every call."""
    calls: list[dict[str, Any]] = []

    async def pay(request: web.Request) -> web.Response:
        body = await request.json()
        calls.append({"header": request.headers.get("Idempotency-Key"), **body})
        seen = sum(1 for c in calls if c["header"] == calls[-1]["header"])
        return web.json_response({"seen": seen}, status=503 if seen == 1 else 200)

    app = web.Application()
    app.router.add_post("/pay", pay)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}/pay", calls
    await runner.cleanup()


FLOW = """
name: charge
tasks:
  - name: each
    type: flow.foreach
    properties:
      items: [10, 20]
      tasks:
        - name: pay
          type: http.request
          retry: {{max_attempts: 2, delay: 10ms}}
          properties:
            url: {url}
            method: POST
            send_idempotency_key: true
            body: {{amount: "{{{{ item }}}}", key: "{{{{ task.idempotencyKey }}}}", attempt: "{{{{ task.attempt }}}}"}}
"""


async def test_every_attempt_of_a_task_sends_its_one_key(api: Api, receiver: tuple[str, list[dict[str, Any]]]) -> None:
    url, calls = receiver
    body = await run(api, FLOW.format(url=url))
    assert body["execution"]["status"] == "SUCCESS", [(t["taskName"], t["error"]) for t in body["tasks"]]

    by_amount: dict[int, list[dict[str, Any]]] = {}
    for call in calls:
        by_amount.setdefault(call["amount"], []).append(call)
    assert sorted(by_amount) == [10, 20]
    for attempts in by_amount.values():
        assert [c["attempt"] for c in attempts] == [1, 2]
        assert len({c["header"] for c in attempts}) == 1 and attempts[0]["header"] == attempts[0]["key"]
    assert by_amount[10][0]["header"] != by_amount[20][0]["header"]


async def test_the_key_survives_an_execution_retry(api: Api, receiver: tuple[str, list[dict[str, Any]]]) -> None:
    url, calls = receiver
    flow = f"""
name: once
tasks:
  - name: pay
    type: http.request
    properties: {{url: {url}, method: POST, send_idempotency_key: true, body: {{amount: 1}}}}
"""
    first = await run(api, flow)
    assert first["execution"]["status"] == "FAILED"  # the receiver fails a key's first call
    execution_id = first["execution"]["id"]
    assert (await api.post(f"/api/v1/executions/{execution_id}/retry")).status == 200
    again = await wait_status(api, execution_id)
    assert again["execution"]["status"] == "SUCCESS"
    assert len(calls) == 2 and calls[0]["header"] == calls[1]["header"] is not None
    assert outputs(tasks_by_name(again)["pay"][-1])["body"] == {"seen": 2}


async def test_without_asking_no_key_is_sent(api: Api, receiver: tuple[str, list[dict[str, Any]]]) -> None:
    url, calls = receiver
    flow_id = await save_flow(api, f"""
name: plain
tasks:
  - name: pay
    type: http.request
    properties: {{url: {url}, method: POST, body: {{amount: 1}}, fail_on_status: false}}
""")
    await wait_status(api, await start(api, flow_id))
    assert [c["header"] for c in calls] == [None]
