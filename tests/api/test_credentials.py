"""The Credentials endpoints of API.md over real HTTP, on SQLite and PostgreSQL, and a credential
used by a running task: only `***` ever shows, wherever the value could leak."""

from __future__ import annotations

import base64
import json
import logging
import os
import re
from dataclasses import dataclass
from dataclasses import field
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy import update

from tests.conftest import Api
from tests.conftest import Reply
from tests.engine.flows_helpers import outputs
from tests.engine.flows_helpers import run
from tests.engine.flows_helpers import tasks_by_name
from workflowdev.config import Settings
from workflowdev.engine.events import Event
from workflowdev.engine.services.actor import SYSTEM
from workflowdev.engine.services.credentials import KEY_ENV
from workflowdev.engine.services.credentials import MasterKey
from workflowdev.engine.services.credentials import MasterKeyError
from workflowdev.engine.services.credentials import load_master_key
from workflowdev.runtime import Runtime
from workflowdev.store.models import AuditEntry
from workflowdev.store.models import Credential

SECRET = "sk_live_9f8e7d6c5b4a"
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


@dataclass
class Recorder(Api):
    """An Api that keeps every reply, so the test can assert the secret is in none of them."""

    texts: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, api: Api) -> Recorder:
        return cls(api.base_url, api.session, api.runtime)

    async def call(self, method: str, path: str, **kwargs: Any) -> Reply:
        reply = await super().call(method, path, **kwargs)
        self.texts.append(reply.body if isinstance(reply.body, str) else json.dumps(reply.body))
        self.texts.append(json.dumps(dict(reply.headers)))
        return reply

    def assert_never_saw(self, secret: str) -> None:
        leaks = [text for text in self.texts if secret in text]
        assert not leaks, leaks


async def create(api: Api, name: str = "SHOP_TOKEN", value: str = SECRET, **extra: Any) -> dict[str, Any]:
    reply = await api.post("/api/v1/credentials", json={"name": name, "value": value, **extra})
    assert reply.status == 201, reply.body
    return reply.body


async def count(api: Api) -> int:
    reply = await api.get("/api/v1/credentials")
    assert reply.status == 200
    return int(reply.headers["X-Total-Count"])


# -- CRUD ----------------------------------------------------------------------------------------


async def test_create_returns_the_credential_with_its_value_only_encrypted(api: Api) -> None:
    recorder = Recorder.of(api)
    reply = await recorder.call(
        "POST", "/api/v1/credentials", json={"name": "SHOP_TOKEN", "value": SECRET, "description": "shop API"}
    )
    assert reply.status == 201
    body = reply.body
    assert set(body) == {"id", "name", "description", "encryptedValue", "keyId", "createdAt", "updatedAt"}
    assert UUID.match(body["id"]) and (body["name"], body["description"]) == ("SHOP_TOKEN", "shop API")
    assert RFC3339.match(body["createdAt"]) and body["createdAt"] == body["updatedAt"]
    sealed = base64.b64decode(body["encryptedValue"])
    assert len(sealed) == 12 + len(SECRET) + 16 and SECRET.encode() not in sealed
    assert body["keyId"] == api.runtime.engine.credentials.key.key_id
    assert (await recorder.call("GET", f"/api/v1/credentials/{body['id']}")).body == body
    listed = await recorder.call("GET", "/api/v1/credentials")
    assert listed.body == [body] and listed.headers["X-Total-Count"] == "1"
    recorder.assert_never_saw(SECRET)


async def test_list_is_by_name_and_pages(api: Api) -> None:
    for name in ("ZED", "ALPHA", "MIDDLE_1"):
        await create(api, name, f"value-of-{name}")
    reply = await api.get("/api/v1/credentials?limit=2&offset=1")
    assert [c["name"] for c in reply.body] == ["MIDDLE_1", "ZED"]
    assert reply.headers["X-Total-Count"] == "3"


async def test_update_replaces_value_and_or_description(api: Api) -> None:
    created = await create(api, description="old")
    path = f"/api/v1/credentials/{created['id']}"

    described = await api.put(path, json={"description": "new"})
    assert described.status == 200
    assert described.body["description"] == "new"
    assert described.body["encryptedValue"] == created["encryptedValue"]

    revalued = await api.put(path, json={"value": SECRET + "-rotated", "name": "SHOP_TOKEN"})
    assert revalued.status == 200
    assert revalued.body["encryptedValue"] != created["encryptedValue"]
    assert (revalued.body["name"], revalued.body["description"]) == ("SHOP_TOKEN", "new")
    assert revalued.body["updatedAt"] >= created["updatedAt"] and revalued.body["createdAt"] == created["createdAt"]
    assert await api.runtime.engine.credentials.resolve("SHOP_TOKEN") == SECRET + "-rotated"


async def test_delete_is_204_then_404(api: Api) -> None:
    created = await create(api)
    path = f"/api/v1/credentials/{created['id']}"
    deleted = await api.delete(path)
    assert deleted.status == 204 and deleted.body is None
    assert (await api.get(path)).status == 404
    assert (await api.delete(path)).error["code"] == "not_found"
    assert await count(api) == 0


async def test_every_change_is_audited_without_the_value(api: Api) -> None:
    created = await create(api)
    await api.put(f"/api/v1/credentials/{created['id']}", json={"value": SECRET + "-2", "description": "d"})
    await api.delete(f"/api/v1/credentials/{created['id']}")
    async with api.runtime.db.read() as conn:
        entries = (await conn.execute(select(AuditEntry.__table__).order_by(AuditEntry.seq))).all()
    assert [(e.action, e.resource_type, e.resource_id) for e in entries] == [
        ("credential.create", "credential", created["id"]),
        ("credential.update", "credential", created["id"]),
        ("credential.delete", "credential", created["id"]),
    ]
    assert entries[0].actor == "anonymous" and entries[0].remote_addr == "127.0.0.1"
    assert entries[1].details == {"name": "SHOP_TOKEN", "changed": ["value", "description"]}
    assert SECRET not in repr([tuple(e) for e in entries])


async def test_the_openapi_document_describes_the_credentials(api: Api) -> None:
    doc = (await api.get("/api/v1/openapi.json")).body
    assert set(doc["paths"]["/api/v1/credentials"]) == {"get", "post"}
    assert set(doc["paths"]["/api/v1/credentials/{id}"]) == {"get", "put", "delete"}
    assert "value" not in doc["components"]["schemas"]["Credential"]["properties"]


# -- bad input -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["shop_token", "1TOKEN", "SHOP-TOKEN", "_TOKEN", "", "TOKEN ", "Ä", "A" * 129])
async def test_a_name_outside_the_pattern_is_400_and_saves_nothing(api: Api, name: str) -> None:
    reply = await api.post("/api/v1/credentials", json={"name": name, "value": SECRET})
    assert reply.status == 400 and reply.error["code"] == "invalid"
    assert reply.error["details"][0]["path"] == "name"
    assert SECRET not in json.dumps(reply.body)
    assert await count(api) == 0


async def test_a_duplicate_name_is_409_and_keeps_the_first(api: Api) -> None:
    first = await create(api)
    reply = await api.post("/api/v1/credentials", json={"name": "SHOP_TOKEN", "value": "another-value"})
    assert reply.status == 409 and reply.error["code"] == "conflict"
    assert "SHOP_TOKEN" in reply.error["message"]
    assert (await api.get(f"/api/v1/credentials/{first['id']}")).body == first
    assert await api.runtime.engine.credentials.resolve("SHOP_TOKEN") == SECRET


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"name": "T"}, "value is required"),
        ({"name": "T", "value": None}, "value is required"),
        ({"name": "T", "value": ""}, "value must not be empty"),
        ({"name": "T", "value": 12345}, "value must be a string"),
        ({"name": "T", "value": ["a"]}, "value must be a string"),
        ({"name": "T", "value": "x" * (64 * 1024 + 1)}, "value is larger than 65536 bytes"),
        ({"name": "T", "value": "é" * (32 * 1024 + 1)}, "value is larger than 65536 bytes"),
        ({"name": "T", "value": "\ud800-lone-surrogate"}, "not valid UTF-8"),
        ({"value": SECRET}, "name is required"),
        ({"name": 5, "value": SECRET}, "name must be a string"),
        ({"name": "T", "value": SECRET, "description": 3}, "description must be a string"),
        ({"name": "T", "value": SECRET, "secret": "x"}, "unknown field 'secret'"),
    ],
)
async def test_bad_bodies_are_400_with_a_clear_message(api: Api, body: dict, message: str) -> None:
    reply = await api.post("/api/v1/credentials", json=body)
    assert reply.status == 400, reply.body
    assert message in reply.error["message"]
    assert SECRET not in json.dumps(reply.body)
    assert await count(api) == 0


async def test_the_value_limit_is_inclusive(api: Api) -> None:
    await create(api, value="x" * (64 * 1024))


async def test_malformed_json_and_wrong_content_type(api: Api) -> None:
    json_type = {"Content-Type": "application/json"}
    broken = await api.post("/api/v1/credentials", data=b'{"name": "T", "value": ', headers=json_type)
    assert broken.status == 400 and "malformed JSON" in broken.error["message"]
    wrong_type = await api.post("/api/v1/credentials", data=b"name=T", headers={"Content-Type": "text/plain"})
    assert wrong_type.status == 415
    not_object = await api.post("/api/v1/credentials", json=["T", SECRET])
    assert not_object.status == 400 and SECRET not in json.dumps(not_object.body)
    assert await count(api) == 0


async def test_update_refuses_a_new_name_unknown_fields_and_an_empty_change(api: Api) -> None:
    created = await create(api)
    path = f"/api/v1/credentials/{created['id']}"
    renamed = await api.put(path, json={"name": "OTHER", "value": "new-value-here"})
    assert renamed.status == 400 and "cannot change" in renamed.error["message"]
    assert (await api.put(path, json={"value": SECRET, "extra": 1})).status == 400
    assert (await api.put(path, json={})).error["message"].startswith("nothing to change")
    assert (await api.put(path, json={"value": ""})).status == 400
    assert (await api.put(path, json={"value": 7})).status == 400
    assert (await api.put("/api/v1/credentials/nope", json={"value": "new-value-here"})).status == 404
    assert (await api.get(path)).body == created
    assert await api.runtime.engine.credentials.resolve("SHOP_TOKEN") == SECRET


# -- a credential used by a task -----------------------------------------------------------------

FLOW = """
name: uses-a-secret
tasks:
  - name: say
    type: util.log
    properties:
      message: "token is ${SHOP_TOKEN}"
  - name: keep
    type: util.echo
    properties:
      value:
        header: "Bearer ${SHOP_TOKEN}"
        raw: "${SHOP_TOKEN}"
        json: '{"token": "${SHOP_TOKEN}"}'
  - name: again
    type: util.log
    properties:
      message: "{{ outputs.keep.value }}"
"""


async def test_a_task_uses_the_credential_and_only_stars_ever_show(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    events: list[Event] = []
    api.runtime.engine.bus.listen(events.append)
    recorder = Recorder.of(api)
    reply = await recorder.post("/api/v1/credentials", json={"name": "SHOP_TOKEN", "value": SECRET})
    assert reply.status == 201

    body = await run(recorder, FLOW)
    assert body["execution"]["status"] == "SUCCESS", body
    execution_id = body["execution"]["id"]
    tasks = tasks_by_name(body)
    assert outputs(tasks["say"][0]) == {"message": "token is ***"}
    assert outputs(tasks["keep"][0]) == {"value": {"header": "Bearer ***", "raw": "***", "json": '{"token": "***"}'}}
    logs = await recorder.call("GET", f"/api/v1/executions/{execution_id}/logs")
    messages = [line["message"] for line in logs.body]
    assert messages[0] == "token is ***"
    assert "***" in messages[1] and "Bearer ***" in messages[1]
    await recorder.call("GET", f"/api/v1/executions/{execution_id}")
    await recorder.call("GET", "/api/v1/executions")
    await recorder.call("GET", "/api/v1/credentials")

    recorder.assert_never_saw(SECRET)
    async with api.runtime.db.read() as conn:
        audit = (await conn.execute(select(AuditEntry.__table__))).all()
    assert audit and SECRET not in repr([tuple(e) for e in audit])
    assert events and not [e for e in events if SECRET in json.dumps(e.data, default=str)]
    assert not [r for r in caplog.records if SECRET in r.getMessage()]


async def test_a_missing_credential_fails_the_task_by_name(api: Api) -> None:
    body = await run(api, FLOW.replace("SHOP_TOKEN", "NOT_THERE"))
    assert body["execution"]["status"] == "FAILED"
    say = tasks_by_name(body)["say"][0]
    assert say["status"] == "FAILED"
    assert "credential NOT_THERE is not defined" in say["error"]


async def test_a_tampered_ciphertext_fails_the_task_clearly_and_nothing_crashes(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    await create(api)
    table = Credential.__table__
    async with api.runtime.db.write() as conn:
        stored = (await conn.execute(select(table.c.ciphertext))).scalar_one()
        await conn.execute(update(table).values(ciphertext=bytes([stored[0] ^ 0x80]) + stored[1:]))

    body = await run(api, FLOW)
    assert body["execution"]["status"] == "FAILED"
    say = tasks_by_name(body)["say"][0]
    assert say["status"] == "FAILED"
    assert "credential SHOP_TOKEN could not be read" in say["error"]
    assert any("credential SHOP_TOKEN does not decrypt" in r.getMessage() for r in caplog.records)
    assert (await api.get("/healthz")).status == 200
    assert (await api.get("/api/v1/credentials")).status == 200


# -- the master key at start ---------------------------------------------------------------------


async def test_a_wrong_master_key_at_start_is_refused_and_changes_nothing(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = Runtime(settings)
    await runtime.start()
    try:
        right = runtime.engine.credentials.key
        await runtime.engine.credentials.create(name="SHOP_TOKEN", value=SECRET, description=None, actor=SYSTEM)
    finally:
        await runtime.stop()

    wrong = MasterKey.generate()
    monkeypatch.setenv(KEY_ENV, wrong.material.hex())
    refused = Runtime(settings)
    with pytest.raises(MasterKeyError) as caught:
        await refused.start()
    message = str(caught.value)
    assert right.key_id in message and wrong.key_id in message and f"${KEY_ENV}" in message
    assert wrong.material.hex() not in message and KEY_ENV not in os.environ
    assert refused.runner is None and refused.db is None

    again = Runtime(settings)  # the key file is untouched, so the right key still starts
    await again.start()
    try:
        assert again.engine.credentials.key == right == load_master_key(settings.data_dir, env={})
        assert await again.engine.credentials.resolve("SHOP_TOKEN") == SECRET
    finally:
        await again.stop()

