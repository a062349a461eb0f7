"""The Plugins endpoints: every manifest, the categories, one by id."""

from __future__ import annotations

from jsonschema import Draft202012Validator

from tests.conftest import Api
from workflowdev.plugins import builtin_plugins


async def test_lists_every_builtin_with_its_manifest(api: Api) -> None:
    reply = await api.get("/api/v1/plugins")
    assert reply.status == 200
    builtin = {p.manifest.id for p in builtin_plugins()}
    assert len(builtin) == 83  # the catalogue of PLUGINS.md
    assert {m["id"] for m in reply.body} >= builtin
    for manifest in (m for m in reply.body if m["id"] in builtin):
        assert set(manifest) == {"id", "name", "category", "description", "inputSchema", "outputSchema", "examples"}
        Draft202012Validator.check_schema(manifest["inputSchema"])
        assert manifest["description"] and manifest["examples"]


async def test_categories_count_their_plugins(api: Api) -> None:
    plugins = (await api.get("/api/v1/plugins")).body
    categories = (await api.get("/api/v1/plugins/categories")).body
    assert {c["name"]: c["count"] for c in categories} == {
        name: sum(1 for p in plugins if p["category"] == name) for name in {p["category"] for p in plugins}
    }
    assert all(c["description"] for c in categories)
    only_util = (await api.get("/api/v1/plugins?category=util")).body
    assert only_util and {p["category"] for p in only_util} == {"util"}
    assert (await api.get("/api/v1/plugins?category=nope")).status == 400


async def test_one_plugin_by_id(api: Api) -> None:
    reply = await api.get("/api/v1/plugins/util.log")
    assert reply.status == 200 and reply.body["id"] == "util.log"
    assert reply.body["inputSchema"]["properties"]["message"]
    missing = await api.get("/api/v1/plugins/util.nope")
    assert missing.status == 404 and missing.error["code"] == "not_found"
