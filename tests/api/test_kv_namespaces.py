"""`GET /api/v1/kv`: which namespaces hold live keys, and how many — over real HTTP, on both databases."""

from __future__ import annotations

from datetime import timedelta

from tests.api.test_kv import KV
from tests.api.test_kv import put
from tests.conftest import Api
from tests.engine.flows_helpers import eventually
from workflowdev.engine.services.kv import KVService


async def test_namespaces_are_listed_by_name_with_their_key_counts(api: Api) -> None:
    for namespace, key in (("shop", "a"), ("shop", "b"), ("billing", "x"), ("zeta", "k"), ("shop", "c")):
        await put(api, namespace, key, 1)

    reply = await api.get(KV)

    assert reply.status == 200
    assert reply.body == [
        {"namespace": "billing", "keys": 1},
        {"namespace": "shop", "keys": 3},
        {"namespace": "zeta", "keys": 1},
    ]
    assert reply.headers["X-Total-Count"] == "3"


async def test_an_empty_store_lists_no_namespace(api: Api) -> None:
    reply = await api.get(KV)
    assert reply.status == 200 and reply.body == [] and reply.headers["X-Total-Count"] == "0"


async def test_namespaces_page_with_the_total_of_all(api: Api) -> None:
    for namespace in ("d", "a", "c", "b"):
        await put(api, namespace, "k", 1)

    page = await api.get(KV, params={"limit": 2, "offset": 1})

    assert [row["namespace"] for row in page.body] == ["b", "c"]
    assert page.headers["X-Total-Count"] == "4"
    assert (await api.get(KV, params={"limit": "0"})).status == 400
    assert (await api.get(KV, params={"offset": "-1"})).status == 400


async def test_expired_keys_are_not_counted_and_an_expired_namespace_is_not_listed(api: Api) -> None:
    await put(api, "cache", "short", 1, ttl=0.5)
    await put(api, "cache", "long", 2, ttl=3600)
    await put(api, "session", "token", "abc", ttl=0.5)
    await put(api, "config", "forever", 3)

    async def only_live_keys_listed() -> bool:
        reply = await api.get(KV)
        listed = [(row["namespace"], row["keys"]) for row in reply.body]
        return listed == [("cache", 1), ("config", 1)] and reply.headers["X-Total-Count"] == "2"

    await eventually(only_live_keys_listed, timeout=10, what="the short-lived keys to stop counting")


async def test_the_service_judges_expiry_by_its_own_clock(api: Api) -> None:
    await put(api, "cache", "short", 1, ttl=5)
    await put(api, "cache", "long", 2, ttl=3600)
    await put(api, "session", "token", "abc", ttl=5)
    kv = api.runtime.engine.kv
    later = KVService(kv.db, clock=lambda: kv.clock() + timedelta(seconds=10))

    assert [(row.namespace, row.keys) for row in await kv.namespaces()] == [("cache", 2), ("session", 1)]
    assert [(row.namespace, row.keys) for row in await later.namespaces()] == [("cache", 1)]
    assert (await kv.count_namespaces(), await later.count_namespaces()) == (2, 1)


async def test_deleting_the_last_key_removes_the_namespace(api: Api) -> None:
    await put(api, "gone", "only", 1)
    assert (await api.delete(f"{KV}/gone/only")).status == 204

    assert (await api.get(KV)).body == []


async def test_openapi_describes_the_namespace_listing(api: Api) -> None:
    document = (await api.get("/api/v1/openapi.json")).body

    operation = document["paths"][KV]["get"]
    assert operation["operationId"] == "kv.namespaces" and operation["x-required-role"] == "viewer"
    assert set(document["components"]["schemas"]["KVNamespace"]["required"]) == {"namespace", "keys"}
