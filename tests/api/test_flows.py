"""The Flows endpoints of API.md, over real HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import re

import pytest

from tests.conftest import Api

HELLO = "name: my-workflow\ntasks:\n  - name: hello\n    type: util.log\n    properties:\n      message: Hello world\n"
TWO_TASKS = HELLO + "  - name: bye\n    type: util.log\n    properties:\n      message: Bye\n"
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def flow_yaml(name: str, *, namespace: str | None = None, message: str = "hi") -> str:
    ns = f"namespace: {namespace}\n" if namespace else ""
    return f"name: {name}\n{ns}tasks:\n  - name: t\n    type: util.log\n    properties:\n      message: {message}\n"


async def create(api: Api, yaml: str, **extra: str) -> dict:
    reply = await api.post("/api/v1/flows", json={"yamlContent": yaml, **extra})
    assert reply.status == 201, reply.body
    return reply.body


async def flow_count(api: Api) -> int:
    reply = await api.get("/api/v1/flows")
    return int(reply.headers["X-Total-Count"])


async def test_create_returns_the_reference_shape(api: Api) -> None:
    reply = await api.post(
        "/api/v1/flows", json={"name": "my-workflow", "namespace": "production", "yamlContent": HELLO}
    )
    assert reply.status == 201
    flow = reply.body
    assert UUID.match(flow["id"])
    assert (flow["name"], flow["namespace"], flow["yamlContent"]) == ("my-workflow", "production", HELLO)
    assert flow["revision"] == 1 and flow["tasksTotal"] == 1
    assert RFC3339.match(flow["createdAt"]) and RFC3339.match(flow["updatedAt"])
    assert (await api.get(f"/api/v1/flows/{flow['id']}")).body == flow


async def test_name_and_namespace_come_from_yaml_unless_given(api: Api) -> None:
    plain = await create(api, flow_yaml("a"))
    assert (plain["name"], plain["namespace"]) == ("a", "default")
    from_yaml = await create(api, flow_yaml("b", namespace="ops"))
    assert from_yaml["namespace"] == "ops"
    body_wins = await create(api, flow_yaml("c", namespace="ops"), namespace="prod")
    assert body_wins["namespace"] == "prod"


async def test_name_differing_from_yaml_is_400_and_saves_nothing(api: Api) -> None:
    reply = await api.post("/api/v1/flows", json={"name": "other", "yamlContent": HELLO})
    assert reply.status == 400
    assert "differs" in reply.error["message"]
    assert await flow_count(api) == 0


async def test_duplicate_namespace_and_name_is_409(api: Api) -> None:
    first = await create(api, HELLO)
    reply = await api.post("/api/v1/flows", json={"yamlContent": HELLO})
    assert reply.status == 409 and reply.error["code"] == "conflict"
    assert await flow_count(api) == 1
    # the same name in another namespace is a different flow
    await create(api, HELLO, namespace="other")
    assert (await api.get(f"/api/v1/flows/{first['id']}")).body == first


async def test_invalid_yaml_is_400_with_line_and_column(api: Api) -> None:
    reply = await api.post("/api/v1/flows", json={"yamlContent": "name: x\ntasks: [\n  - a: b\n"})
    assert reply.status == 400
    assert reply.error["code"] == "invalid"
    detail = reply.error["details"][0]
    assert detail["line"] >= 2 and detail["column"] >= 1 and detail["message"]
    assert await flow_count(api) == 0


async def test_flow_schema_error_points_at_the_task(api: Api) -> None:
    yaml = "name: x\ntasks:\n  - name: a\n    type: util.log\n    propertie: {}\n"
    reply = await api.post("/api/v1/flows", json={"yamlContent": yaml})
    assert reply.status == 400
    assert any(d["line"] == 5 and d["path"].startswith("tasks[0]") for d in reply.error["details"])


async def test_unknown_task_type_is_rejected(api: Api) -> None:
    yaml = "name: x\ntasks:\n  - name: a\n    type: util.lgo\n"
    reply = await api.post("/api/v1/flows", json={"yamlContent": yaml})
    assert reply.status == 400
    assert any("util.lgo" in d["message"] and d["line"] == 4 for d in reply.error["details"])


async def test_list_is_newest_first_with_total_and_paging(api: Api) -> None:
    ids = [(await create(api, flow_yaml(f"f{i}", namespace="ns" if i % 2 else None)))["id"] for i in range(5)]
    reply = await api.get("/api/v1/flows")
    assert reply.status == 200 and reply.headers["X-Total-Count"] == "5"
    assert [f["id"] for f in reply.body] == ids[::-1]
    page = await api.get("/api/v1/flows?limit=2&offset=1")
    assert [f["id"] for f in page.body] == ids[::-1][1:3]
    assert page.headers["X-Total-Count"] == "5"
    ns = await api.get("/api/v1/flows?namespace=ns")
    assert {f["name"] for f in ns.body} == {"f1", "f3"}
    found = await api.get("/api/v1/flows?q=F4")
    assert [f["name"] for f in found.body] == ["f4"]


@pytest.mark.parametrize("query", ["limit=0", "limit=1001", "limit=x", "offset=-1"])
async def test_bad_paging_is_400(api: Api, query: str) -> None:
    reply = await api.get(f"/api/v1/flows?{query}")
    assert reply.status == 400 and reply.error["code"] == "invalid"


async def test_unknown_id_is_404_json(api: Api) -> None:
    reply = await api.get("/api/v1/flows/00000000-0000-0000-0000-000000000000")
    assert reply.status == 404
    assert reply.error == {
        "code": "not_found",
        "message": "flow 00000000-0000-0000-0000-000000000000 not found",
        "details": [],
    }


async def test_update_yaml_saves_a_new_revision(api: Api) -> None:
    flow = await create(api, HELLO)
    reply = await api.put(f"/api/v1/flows/{flow['id']}", json={"yamlContent": TWO_TASKS})
    assert reply.status == 200
    assert reply.body["revision"] == 2 and reply.body["yamlContent"] == TWO_TASKS and reply.body["tasksTotal"] == 2
    revisions = (await api.get(f"/api/v1/flows/{flow['id']}/revisions")).body
    assert [r["revision"] for r in revisions] == [2, 1]
    assert revisions[1]["yamlContent"] == HELLO and revisions[0]["createdBy"] == "anonymous"
    assert all(RFC3339.match(r["createdAt"]) for r in revisions)


async def test_update_with_same_yaml_adds_no_revision(api: Api) -> None:
    flow = await create(api, HELLO)
    reply = await api.put(f"/api/v1/flows/{flow['id']}", json={"yamlContent": HELLO})
    assert reply.status == 200 and reply.body["revision"] == 1
    described = await api.put(f"/api/v1/flows/{flow['id']}", json={"description": "greets"})
    assert described.body["description"] == "greets" and described.body["revision"] == 1


async def test_update_namespace_and_its_conflict(api: Api) -> None:
    flow = await create(api, HELLO)
    await create(api, HELLO, namespace="prod")
    moved = await api.put(f"/api/v1/flows/{flow['id']}", json={"namespace": "staging"})
    assert moved.status == 200 and moved.body["namespace"] == "staging"
    clash = await api.put(f"/api/v1/flows/{flow['id']}", json={"namespace": "prod"})
    assert clash.status == 409
    assert (await api.get(f"/api/v1/flows/{flow['id']}")).body["namespace"] == "staging"


async def test_invalid_update_changes_nothing(api: Api) -> None:
    flow = await create(api, HELLO)
    reply = await api.put(f"/api/v1/flows/{flow['id']}", json={"yamlContent": "name: x\ntasks: 3\n"})
    assert reply.status == 400 and reply.error["details"]
    assert (await api.get(f"/api/v1/flows/{flow['id']}")).body == flow
    assert len((await api.get(f"/api/v1/flows/{flow['id']}/revisions")).body) == 1


async def test_update_rejects_unknown_fields_and_wrong_types(api: Api) -> None:
    flow = await create(api, HELLO)
    assert (await api.put(f"/api/v1/flows/{flow['id']}", json={"yamlContnet": HELLO})).status == 400
    assert (await api.put(f"/api/v1/flows/{flow['id']}", json={"yamlContent": 3})).status == 400
    assert (await api.put(f"/api/v1/flows/{flow['id']}", json=[1])).status == 400
    assert (await api.put("/api/v1/flows/nope", json={"yamlContent": HELLO})).status == 404


async def test_delete_then_gone_and_name_reusable(api: Api) -> None:
    flow = await create(api, HELLO)
    reply = await api.delete(f"/api/v1/flows/{flow['id']}")
    assert reply.status == 204 and reply.body is None
    assert (await api.get(f"/api/v1/flows/{flow['id']}")).status == 404
    assert (await api.delete(f"/api/v1/flows/{flow['id']}")).status == 404
    assert await flow_count(api) == 0
    again = await create(api, HELLO)
    assert again["id"] != flow["id"]


async def test_validate_reports_valid_and_invalid(api: Api) -> None:
    ok = await api.post("/api/v1/flows/validate", json={"yamlContent": TWO_TASKS})
    assert ok.status == 200 and ok.body == {"valid": True, "errors": [], "tasksTotal": 2}
    bad = await api.post("/api/v1/flows/validate", json={"yamlContent": "name: x\ntasks:\n  - name: a\n"})
    assert bad.status == 200 and bad.body["valid"] is False
    assert bad.body["errors"][0]["line"] == 3 and set(bad.body["errors"][0]) == {"line", "column", "path", "message"}
    assert await flow_count(api) == 0


@pytest.mark.parametrize("content_type", ["application/yaml", "text/plain"])
async def test_validate_accepts_raw_yaml(api: Api, content_type: str) -> None:
    reply = await api.post("/api/v1/flows/validate", data=HELLO, headers={"Content-Type": content_type})
    assert reply.status == 200 and reply.body["valid"] is True and reply.body["tasksTotal"] == 1


async def test_export_import_round_trip(api: Api) -> None:
    flow = await create(api, HELLO, namespace="production", description="greets")
    exported = await api.get(f"/api/v1/flows/{flow['id']}/export")
    assert exported.status == 200
    doc = exported.body
    assert doc["formatVersion"] == 1 and doc["yamlContent"] == HELLO and doc["triggers"] == []
    assert (doc["name"], doc["namespace"], doc["description"]) == ("my-workflow", "production", "greets")
    assert RFC3339.match(doc["exportedAt"])

    conflict = await api.post("/api/v1/flows/import", json=doc)
    assert conflict.status == 409 and "overwrite" in conflict.error["message"]

    await api.delete(f"/api/v1/flows/{flow['id']}")
    imported = await api.post("/api/v1/flows/import", json=doc)
    assert imported.status == 201
    assert (imported.body["name"], imported.body["namespace"], imported.body["yamlContent"]) == (
        "my-workflow", "production", HELLO,
    )
    assert imported.body["description"] == "greets"
    again = await api.get(f"/api/v1/flows/{imported.body['id']}/export")
    assert {k: v for k, v in again.body.items() if k != "exportedAt"} == {
        k: v for k, v in doc.items() if k != "exportedAt"
    }


async def test_import_overwrite_saves_new_revision(api: Api) -> None:
    flow = await create(api, HELLO)
    doc = (await api.get(f"/api/v1/flows/{flow['id']}/export")).body
    doc["yamlContent"] = TWO_TASKS
    reply = await api.post("/api/v1/flows/import?overwrite=true", json=doc)
    assert reply.status == 200 and reply.body["id"] == flow["id"] and reply.body["revision"] == 2


@pytest.mark.parametrize(
    "doc",
    [{"formatVersion": 2, "yamlContent": HELLO}, {"formatVersion": 1}, {"yamlContent": "tasks: ["}, {"yamlContent": 5}],
)
async def test_bad_import_documents_are_400(api: Api, doc: dict) -> None:
    reply = await api.post("/api/v1/flows/import", json=doc)
    assert reply.status == 400
    assert await flow_count(api) == 0


async def test_restore_is_a_new_revision(api: Api) -> None:
    flow = await create(api, HELLO)
    await api.put(f"/api/v1/flows/{flow['id']}", json={"yamlContent": TWO_TASKS})
    restored = await api.post(f"/api/v1/flows/{flow['id']}/revisions/1/restore")
    assert restored.status == 200
    assert restored.body["revision"] == 3 and restored.body["yamlContent"] == HELLO
    revisions = (await api.get(f"/api/v1/flows/{flow['id']}/revisions")).body
    assert [r["revision"] for r in revisions] == [3, 2, 1]
    assert [r["yamlContent"] for r in revisions] == [HELLO, TWO_TASKS, HELLO]


async def test_restore_of_missing_revision(api: Api) -> None:
    flow = await create(api, HELLO)
    assert (await api.post(f"/api/v1/flows/{flow['id']}/revisions/9/restore")).status == 404
    assert (await api.post(f"/api/v1/flows/{flow['id']}/revisions/x/restore")).status == 400
    assert (await api.post("/api/v1/flows/nope/revisions/1/restore")).status == 404
    assert len((await api.get(f"/api/v1/flows/{flow['id']}/revisions")).body) == 1


async def test_deleted_flow_keeps_no_revisions_endpoint(api: Api) -> None:
    flow = await create(api, HELLO)
    await api.delete(f"/api/v1/flows/{flow['id']}")
    assert (await api.get(f"/api/v1/flows/{flow['id']}/revisions")).status == 404
    assert (await api.get(f"/api/v1/flows/{flow['id']}/export")).status == 404
