"""kv.*: the key-value store from real flows run through the API, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import datetime
from datetime import timedelta
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from tests.conftest import Api
from tests.engine.flows_helpers import outputs
from tests.engine.flows_helpers import run
from tests.engine.flows_helpers import save_flow
from tests.engine.flows_helpers import start
from tests.engine.flows_helpers import tasks_by_name
from tests.engine.flows_helpers import wait_all
from workflowdev.plugins import build_registry

REGISTRY = build_registry(entry_points=False)


def flow(*tasks: str, namespace: str = "shop") -> str:
    return f"name: kv-flow\nnamespace: {namespace}\ntasks:\n" + "".join(tasks)


def task(name: str, type_: str, **properties: str) -> str:
    lines = "".join(f"      {key}: {value}\n" for key, value in properties.items())
    return f"  - name: {name}\n    type: {type_}\n    properties:\n{lines}"


async def run_ok(api: Api, yaml: str) -> dict[str, Any]:
    body = await run(api, yaml)
    assert body["execution"]["status"] == "SUCCESS", [(t["taskName"], t["error"]) for t in body["tasks"]]
    return {name: outputs(runs[-1]) for name, runs in tasks_by_name(body).items()}


async def run_failing(api: Api, yaml: str, name: str) -> str:
    body = await run(api, yaml)
    assert body["execution"]["status"] == "FAILED"
    failed = tasks_by_name(body)[name][-1]
    assert failed["status"] == "FAILED"
    return failed["error"]


async def test_set_then_get_in_the_flows_namespace(api: Api) -> None:
    out = await run_ok(
        api,
        flow(
            task("save", "kv.set", key="cursor", value="{a: [1, null], b: false}"),
            task("load", "kv.get", key="cursor"),
        ),
    )

    assert out["save"] == {}
    assert out["load"] == {"value": {"a": [1, None], "b": False}, "found": True}
    stored = await api.get("/api/v1/kv/shop/cursor")
    assert stored.status == 200 and stored.body["value"] == {"a": [1, None], "b": False}
    assert stored.body["expiresAt"] is None


@pytest.mark.parametrize("value", ["null", "0", "false", "''"])
async def test_falsy_values_are_found(api: Api, value: str) -> None:
    out = await run_ok(
        api, flow(task("save", "kv.set", key="k", value=value), task("load", "kv.get", key="k", default="99"))
    )
    assert out["load"]["found"] is True and out["load"]["value"] != 99


async def test_get_of_a_missing_key_returns_the_default(api: Api) -> None:
    out = await run_ok(
        api,
        flow(task("with_default", "kv.get", key="nope", default="{start: 0}"), task("without", "kv.get", key="nope")),
    )

    assert out["with_default"] == {"value": {"start": 0}, "found": False}
    assert out["without"] == {"value": None, "found": False}


async def test_an_explicit_namespace_reaches_another_namespace(api: Api) -> None:
    await api.put("/api/v1/kv/shared/flag", json=True)

    out = await run_ok(
        api,
        flow(
            task("read", "kv.get", key="flag", namespace="shared"),
            task("own", "kv.get", key="flag"),
            task("write", "kv.set", key="from-flow", value="1", namespace="shared"),
        ),
    )

    assert out["read"] == {"value": True, "found": True}
    assert out["own"]["found"] is False
    assert (await api.get("/api/v1/kv/shared/from-flow")).body["value"] == 1


async def test_set_with_a_ttl_expires(api: Api) -> None:
    await run_ok(api, flow(task("save", "kv.set", key="token", value="abc", ttl="1h")))

    entry = (await api.get("/api/v1/kv/shop/token")).body
    lifetime = datetime.fromisoformat(entry["expiresAt"].replace("Z", "+00:00")) - datetime.fromisoformat(
        entry["updatedAt"].replace("Z", "+00:00")
    )
    assert lifetime == timedelta(hours=1)


async def test_delete_says_whether_it_removed_anything(api: Api) -> None:
    out = await run_ok(
        api,
        flow(
            task("save", "kv.set", key="k", value="1"),
            task("first", "kv.delete", key="k"),
            task("second", "kv.delete", key="k"),
            task("load", "kv.get", key="k"),
        ),
    )

    assert out["first"] == {"deleted": True} and out["second"] == {"deleted": False}
    assert out["load"]["found"] is False
    assert (await api.get("/api/v1/kv/shop/k")).status == 404


async def test_list_with_a_prefix(api: Api) -> None:
    for key in ("job.2", "job.1", "jobs", "other"):
        await api.put(f"/api/v1/kv/shop/{key}", json=1)

    out = await run_ok(api, flow(task("jobs", "kv.list", prefix="job."), task("all", "kv.list")))

    assert out["jobs"] == {"keys": ["job.1", "job.2"]}
    assert out["all"] == {"keys": ["job.1", "job.2", "jobs", "other"]}


async def test_the_kv_expression_function_reads_what_an_earlier_task_wrote(api: Api) -> None:
    await api.put("/api/v1/kv/elsewhere/limit", json=7)

    out = await run_ok(
        api,
        flow(
            task("save", "kv.set", key="color", value="blue"),
            task("show", "util.echo", value="\"{{ kv('color') }}\""),
            task("other", "util.echo", value="\"{{ kv('limit', 'elsewhere') + 1 }}\""),
            task("missing", "util.echo", value="\"{{ kv('nope') is none }}\""),
        ),
    )

    assert out["show"] == {"value": "blue"}
    assert out["other"] == {"value": 8}
    assert out["missing"] == {"value": True}


async def test_increment_counts_from_zero_and_by_any_number(api: Api) -> None:
    out = await run_ok(
        api,
        flow(
            task("one", "kv.increment", key="n"),
            task("more", "kv.increment", key="n", by="10"),
            task("less", "kv.increment", key="n", by="-2.5"),
        ),
    )

    assert [out[t]["value"] for t in ("one", "more", "less")] == [1, 11, 8.5]
    assert (await api.get("/api/v1/kv/shop/n")).body["value"] == 8.5


async def test_fifty_concurrent_executions_increment_to_exactly_fifty(api: Api) -> None:
    flow_id = await save_flow(api, flow(task("count", "kv.increment", key="runs")))

    executions = await asyncio.gather(*(start(api, flow_id) for _ in range(50)))
    bodies = await wait_all(api, executions, timeout=60)

    failures = [tasks_by_name(b)["count"][-1].get("error") for b in bodies if b["execution"]["status"] != "SUCCESS"]
    assert failures == []
    seen = sorted(outputs(tasks_by_name(body)["count"][-1])["value"] for body in bodies)
    assert seen == list(range(1, 51))
    assert (await api.get("/api/v1/kv/shop/runs")).body["value"] == 50


async def test_incrementing_text_fails_the_task_and_keeps_the_value(api: Api) -> None:
    await api.put("/api/v1/kv/shop/name", json="Ada")

    error = await run_failing(api, flow(task("bump", "kv.increment", key="name")), "bump")

    assert error == "kv shop/name holds text, not a number; it cannot be incremented"
    assert (await api.get("/api/v1/kv/shop/name")).body["value"] == "Ada"


async def test_a_rendered_key_with_a_slash_fails_the_task(api: Api) -> None:
    error = await run_failing(api, flow(task("save", "kv.set", key="\"{{ 'a' ~ '/' ~ 'b' }}\"", value="1")), "save")

    assert error == "kv key 'a/b' must not contain '/'"


async def test_a_value_over_the_limit_fails_the_task(api: Api) -> None:
    limit = api.runtime.engine.kv.max_value_bytes
    error = await run_failing(
        api, flow(task("save", "kv.set", key="big", value=f"\"{{{{ 'x' * {limit} }}}}\"")), "save"
    )

    assert f"the limit per kv value is {limit} bytes" in error
    assert (await api.get("/api/v1/kv/shop/big")).status == 404


@pytest.mark.parametrize(
    ("plugin_id", "properties"),
    [
        ("kv.get", {}),
        ("kv.get", {"key": "a/b"}),
        ("kv.get", {"key": ""}),
        ("kv.get", {"key": "line\nbreak"}),
        ("kv.get", {"key": "k" * 513}),
        ("kv.set", {"key": "k"}),
        ("kv.set", {"key": "k", "value": 1, "ttl": 0}),
        ("kv.set", {"key": "k", "value": 1, "ttl": "an hour"}),
        ("kv.set", {"key": "k", "value": 1, "namespace": "a/b"}),
        ("kv.delete", {"key": 5}),
        ("kv.list", {"prefix": 5}),
        ("kv.increment", {"key": "k", "by": "one"}),
    ],
)
def test_the_schemas_refuse_bad_properties(plugin_id: str, properties: dict[str, Any]) -> None:
    schema = REGISTRY.get(plugin_id).manifest.input_schema
    assert not Draft202012Validator(schema).is_valid(properties)


@pytest.mark.parametrize(
    ("plugin_id", "properties"),
    [
        ("kv.set", {"key": "k", "value": None}),
        ("kv.set", {"key": "café ☕", "value": [1], "ttl": 0.5, "namespace": "ops"}),
        ("kv.set", {"key": "k", "value": 1, "ttl": "PT30S"}),
        ("kv.increment", {"key": "k", "by": -0.5}),
        ("kv.list", {}),
    ],
)
def test_the_schemas_accept_good_properties(plugin_id: str, properties: dict[str, Any]) -> None:
    schema = REGISTRY.get(plugin_id).manifest.input_schema
    assert Draft202012Validator(schema).is_valid(properties)
