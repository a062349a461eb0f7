"""One credential, used every way a flow can use it, and looked for on every surface.

The flow logs it, outputs it, fails with it, writes it to kv, hands it to a subflow (inputs and
labels) and shows it at an approval gate. Then every place a person or a program could read it
is walked: the API's JSON and its streams, the metrics, the event bus, the server's own log, and
every text column of the database. Only `***` may show; the child still receives the real value.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from tests.api.test_credentials import SECRET
from tests.api.test_credentials import Recorder
from tests.api.test_credentials import create
from tests.conftest import Api
from tests.engine.flows_helpers import eventually
from tests.engine.flows_helpers import outputs
from tests.engine.flows_helpers import save_flow
from tests.engine.flows_helpers import start
from tests.engine.flows_helpers import tasks_by_name
from tests.engine.flows_helpers import wait_status
from workflowdev.engine.events import Event
from workflowdev.engine.sealed_inputs import open_inputs
from workflowdev.engine.secrets import SecretMasker
from workflowdev.engine.services.credentials import MasterKey
from workflowdev.store.models import Base
from workflowdev.store.models import Credential
from workflowdev.store.models import Execution

CHILD = """
name: child
inputs:
  - {name: token, type: string}
tasks:
  - name: measure
    type: util.echo
    properties: {value: "{{ inputs.token | length }}"}
  - name: repeat
    type: util.log
    properties: {message: "child got {{ inputs.token }}"}
"""

PARENT = """
name: leaky
tasks:
  - name: say
    type: util.log
    properties: {message: "token ${SHOP_TOKEN}"}
  - name: keep
    type: util.echo
    properties: {value: {raw: "${SHOP_TOKEN}", header: "Bearer ${SHOP_TOKEN}"}}
  - name: store
    type: kv.set
    properties: {key: token, value: {nested: "${SHOP_TOKEN}"}}
  - name: call
    type: flow.subflow
    properties:
      flow: child
      inputs: {token: "Bearer ${SHOP_TOKEN}"}
      labels: {who: "${SHOP_TOKEN}"}
  - name: broken
    type: flow.fail
    allow_failure: true
    properties: {message: "failed with ${SHOP_TOKEN}"}
  - name: gate
    type: flow.approval
    properties:
      message: "deploy with ${SHOP_TOKEN}?"
      context: {token: "${SHOP_TOKEN}"}
"""


async def _stream(api: Api, path: str, into: list[str], done: asyncio.Event) -> None:
    async with api.session.ws_connect(api.base_url + path) as ws:
        while not done.is_set():
            try:
                msg = await ws.receive(timeout=0.2)
            except TimeoutError:
                continue
            if msg.type != aiohttp.WSMsgType.TEXT:
                return
            into.append(msg.data)


async def _database_texts(api: Api) -> list[tuple[str, str, Any]]:
    """Every text value at rest, but the credentials' own ciphertext and the sealed inputs."""
    found = []
    async with api.runtime.db.read() as conn:
        for table in Base.metadata.sorted_tables:
            if table is Credential.__table__:
                continue
            for row in (await conn.execute(select(table))).mappings():
                for column, value in row.items():
                    if column == "sealed_inputs":
                        continue
                    found.append((table.name, column, value))
    return found


async def test_a_secret_shows_as_stars_on_every_surface(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    events: list[Event] = []
    api.runtime.engine.bus.listen(events.append)
    recorder = Recorder.of(api)
    await create(recorder)
    await save_flow(recorder, CHILD)
    flow_id = await save_flow(recorder, PARENT)
    streamed: list[str] = []
    done = asyncio.Event()
    stream = asyncio.create_task(_stream(api, "/api/v1/events", streamed, done))

    execution_id = await start(recorder, flow_id)
    await wait_status(recorder, execution_id, {"PAUSED"})
    pending = (await recorder.get("/api/v1/approvals?status=PENDING")).body
    assert [gate["message"] for gate in pending] == ["deploy with ***?"]
    gate_id = pending[0]["id"]
    await recorder.get(f"/api/v1/approvals/{gate_id}")
    approved = await recorder.post(f"/api/v1/approvals/{gate_id}/approve", json={"comment": "ok"})
    assert approved.status == 200 and approved.body["message"] == "deploy with ***?"
    body = await wait_status(recorder, execution_id)
    assert body["execution"]["status"] == "SUCCESS", body

    tasks = tasks_by_name(body)
    assert outputs(tasks["keep"][0]) == {"value": {"raw": "***", "header": "Bearer ***"}}
    assert tasks["broken"][0]["error"] == "failed with ***"
    child_id = outputs(tasks["call"][0])["execution_id"]
    child = await wait_status(recorder, child_id)
    assert child["execution"]["inputs"] == {"token": "Bearer ***"}
    assert child["execution"]["labels"]["who"] == "***"
    measured = outputs(tasks_by_name(child)["measure"][0])["value"]
    assert int(measured) == len(f"Bearer {SECRET}"), "the child must receive the real value"
    assert (await recorder.get("/api/v1/kv/default/token")).body["value"] == {"nested": "***"}

    child_flow = child["execution"]["flowId"]
    for path in (
        "/api/v1/executions",
        f"/api/v1/executions?flowId={child_flow}",
        f"/api/v1/executions/{execution_id}",
        f"/api/v1/executions/{execution_id}/logs",
        f"/api/v1/executions/{child_id}/logs",
        "/api/v1/approvals",
        "/api/v1/kv",
        "/api/v1/kv/default",
        "/api/v1/audit",
        "/api/v1/triggers",
        f"/api/v1/flows/{flow_id}/export",
        "/metrics",
    ):
        reply = await recorder.get(path)
        assert reply.status == 200, (path, reply.body)
    for each in (execution_id, child_id):
        await _stream(api, f"/api/v1/executions/{each}/logs", streamed, asyncio.Event())

    async def stream_saw_the_end() -> bool:
        return any(execution_id in m and '"SUCCESS"' in m for m in streamed)

    await eventually(stream_saw_the_end, what="the events stream to carry the end")
    done.set()
    await stream

    recorder.assert_never_saw(SECRET)
    assert streamed and not [m for m in streamed if SECRET in m]
    assert events and not [e for e in events if SECRET in json.dumps(e.data, default=str)]
    assert not [r for r in caplog.records if SECRET in r.getMessage()]
    at_rest = [(t, c) for t, c, v in await _database_texts(api) if SECRET in json.dumps(v, default=str)]
    assert not at_rest, at_rest


async def test_sealed_inputs_open_only_for_their_execution_and_survive_a_key_rotation(api: Api) -> None:
    await create(api)
    await save_flow(api, CHILD)
    body = await wait_status(api, await start(api, await save_flow(api, PARENT.split("  - name: broken")[0])))
    child_id = outputs(tasks_by_name(body)["call"][0])["execution_id"]
    credentials = api.runtime.engine.credentials
    table = Execution.__table__

    async def sealed_of(execution_id: str) -> str:
        async with api.runtime.db.read() as conn:
            query = select(table.c.sealed_inputs).where(table.c.id == execution_id)
            return (await conn.execute(query)).scalar_one()

    sealed = await sealed_of(child_id)
    assert sealed is not None and SECRET not in sealed
    assert await sealed_of(body["execution"]["id"]) is None, "inputs without secrets are not sealed"
    masker = SecretMasker()
    assert open_inputs(credentials, child_id, sealed, masker) == {"token": f"Bearer {SECRET}"}
    assert masker.mask(SECRET) == "***", "opening registers the secrets with the child's masker"
    with pytest.raises(Exception, match="does not decrypt"):
        open_inputs(credentials, body["execution"]["id"], sealed, SecretMasker())

    new_key = MasterKey.generate()
    await credentials.rotate(new_key)
    resealed = await sealed_of(child_id)
    assert resealed.startswith(new_key.key_id + ":")
    assert open_inputs(credentials, child_id, resealed, SecretMasker()) == {"token": f"Bearer {SECRET}"}

