"""Bad input gets the right status and a JSON error, and changes nothing."""

from __future__ import annotations

import json

import aiohttp
import pytest

from tests.api.test_flows import HELLO
from tests.api.test_flows import flow_count
from tests.conftest import Api

BILLION_LAUGHS = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
    for i in range(8)
) + "name: bomb\ntasks: *i\n"
DEEP = "name: deep\ntasks:\n  - name: a\n    type: util.echo\n    properties:\n      value: " + "[" * 5000 + "]" * 5000 + "\n"


async def test_malformed_json_is_400_with_position(api: Api) -> None:
    reply = await api.post("/api/v1/flows", data='{"yamlContent": ', headers={"Content-Type": "application/json"})
    assert reply.status == 400 and reply.error["code"] == "invalid"
    assert "malformed JSON" in reply.error["message"]
    assert reply.error["details"][0]["line"] == 1
    assert await flow_count(api) == 0


async def test_json_nested_too_deep_is_400(api: Api) -> None:
    reply = await api.post("/api/v1/flows", data="[" * 100_000, headers={"Content-Type": "application/json"})
    assert reply.status == 400


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml"])
async def test_wrong_content_type_is_415(api: Api, content_type: str) -> None:
    reply = await api.post("/api/v1/flows", data=json.dumps({"yamlContent": HELLO}), headers={"Content-Type": content_type})
    assert reply.status == 415 and reply.error["code"] == "unsupported_media_type"
    assert await flow_count(api) == 0


async def test_validate_with_wrong_content_type_is_415(api: Api) -> None:
    reply = await api.post("/api/v1/flows/validate", data=b"x", headers={"Content-Type": "image/png"})
    assert reply.status == 415


async def test_non_utf8_body_is_400(api: Api) -> None:
    body = b'{"yamlContent": "name: \xff\xfe"}'
    reply = await api.post("/api/v1/flows", data=body, headers={"Content-Type": "application/json"})
    assert reply.status == 400 and "UTF-8" in reply.error["message"]
    raw = await api.post("/api/v1/flows/validate", data=b"name: \xff\n", headers={"Content-Type": "application/yaml"})
    assert raw.status == 400


async def test_body_over_the_limit_is_413(api: Api) -> None:
    limit = api.runtime.settings.body_limit
    yaml = HELLO + "# " + "x" * limit + "\n"
    reply = await api.post("/api/v1/flows", json={"yamlContent": yaml})
    assert reply.status == 413 and reply.error["code"] == "payload_too_large"
    assert str(limit) in reply.error["message"]
    assert await flow_count(api) == 0


@pytest.mark.parametrize("yaml", [BILLION_LAUGHS, DEEP], ids=["billion-laughs", "deep-nesting"])
async def test_yaml_bombs_are_400(api: Api, yaml: str) -> None:
    reply = await api.post("/api/v1/flows", json={"yamlContent": yaml})
    assert reply.status == 400 and reply.error["details"]
    assert await flow_count(api) == 0
    check = await api.post("/api/v1/flows/validate", json={"yamlContent": yaml})
    assert check.status == 200 and check.body["valid"] is False


async def test_missing_yaml_content_is_400(api: Api) -> None:
    reply = await api.post("/api/v1/flows", json={"name": "x"})
    assert reply.status == 400 and reply.error["details"] == [{"path": "yamlContent", "message": "is required"}]


async def test_unknown_route_and_wrong_method_are_json(api: Api) -> None:
    missing = await api.get("/api/v1/nothing-here")
    assert missing.status == 404 and missing.error["code"] == "not_found"
    wrong = await api.call("PATCH", "/api/v1/flows")
    assert wrong.status == 405 and wrong.error["code"] == "method_not_allowed"
    assert "GET" in wrong.headers["Allow"]


async def test_no_traceback_ever_reaches_the_client(api: Api) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.post(api.base_url + "/api/v1/flows", data=b"\x00" * 10, headers={"Content-Type": "application/json"}) as resp:
            text = await resp.text()
    assert resp.status == 400 and "Traceback" not in text and resp.content_type == "application/json"


async def test_nul_in_any_yaml_text_is_400_and_saves_nothing(api: Api) -> None:
    yaml = HELLO + 'description: "before\\0after"\n'
    reply = await api.post("/api/v1/flows", json={"yamlContent": yaml})
    assert reply.status == 400 and "NUL" in reply.error["message"]
    assert reply.error["details"][0]["path"] == "description"
    assert await flow_count(api) == 0
