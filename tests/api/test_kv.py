"""The key-value endpoints of API.md, over real HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func
from sqlalchemy import select
from yarl import URL

from tests.api.test_flows import RFC3339
from tests.conftest import Api
from tests.engine.flows_helpers import eventually
from workflowdev.engine.services.kv import KVService
from workflowdev.store import audit
from workflowdev.store.models import KVEntry

KV = "/api/v1/kv"


JSON_HEADERS = {"Content-Type": "application/json"}


async def put(api: Api, namespace: str, key: str, value: Any, **query: Any) -> Any:
    # Encoded here: aiohttp's `json=None` would send no body at all rather than `null`.
    reply = await api.put(f"{KV}/{namespace}/{key}", data=json.dumps(value), headers=JSON_HEADERS, params=query)
    assert reply.status == 200, reply.body
    return reply.body


async def raw(api: Api, method: str, path: str, **kwargs: Any) -> Any:
    """A request whose path goes out exactly as written (percent-escapes and all)."""
    async with api.session.request(method, URL(api.base_url + path, encoded=True), **kwargs) as resp:
        return resp.status, await resp.json(content_type=None)


def parse(timestamp: str) -> datetime:
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00"))


async def test_put_then_get_returns_the_entry(api: Api) -> None:
    created = await put(api, "shop", "orders.last_id", 1042)

    assert created["namespace"] == "shop" and created["key"] == "orders.last_id"
    assert created["value"] == 1042 and created["expiresAt"] is None
    assert RFC3339.match(created["updatedAt"])
    fetched = await api.get(f"{KV}/shop/orders.last_id")
    assert fetched.status == 200 and fetched.body == created


@pytest.mark.parametrize(
    "value",
    [None, 0, False, "", 1.5, -7, 10**30, "Zoë ☕", [], {}, [0, None, False, ""], {"a": [1, {"b": None}], "c": True}],
    ids=repr,
)
async def test_json_values_of_every_type_round_trip_exactly(api: Api, value: Any) -> None:
    created = await put(api, "types", "v", value)
    fetched = await api.get(f"{KV}/types/v")

    # json.dumps tells 0 from false and 1.0 from 1, which == does not.
    assert json.dumps(created["value"]) == json.dumps(fetched.body["value"]) == json.dumps(value)


async def test_put_replaces_the_value_and_its_ttl(api: Api) -> None:
    first = await put(api, "ns", "k", "old", ttl=60)
    assert first["expiresAt"] is not None
    assert parse(first["expiresAt"]) - parse(first["updatedAt"]) == timedelta(seconds=60)

    second = await put(api, "ns", "k", {"new": True})

    assert second["value"] == {"new": True} and second["expiresAt"] is None
    assert (await api.get(f"{KV}/ns/k")).body["value"] == {"new": True}


async def test_ttl_expiry_makes_the_entry_missing(api: Api) -> None:
    await put(api, "cache", "token", "abc", ttl=1)
    await put(api, "cache", "stays", "x")
    assert (await api.get(f"{KV}/cache/token")).status == 200

    async def gone() -> bool:
        return (await api.get(f"{KV}/cache/token")).status == 404

    await eventually(gone, timeout=10, what="the entry to expire")
    listed = await api.get(f"{KV}/cache")
    assert [row["key"] for row in listed.body] == ["stays"] and listed.headers["X-Total-Count"] == "1"
    assert (await api.delete(f"{KV}/cache/token")).status == 404


async def test_fractional_ttl_is_accepted(api: Api) -> None:
    created = await put(api, "ns", "k", 1, ttl="2.5")
    assert parse(created["expiresAt"]) - parse(created["updatedAt"]) == timedelta(seconds=2.5)


async def test_namespaces_are_separate(api: Api) -> None:
    await put(api, "a", "k", "in a")
    await put(api, "b", "k", "in b")

    assert (await api.get(f"{KV}/a/k")).body["value"] == "in a"
    assert (await api.get(f"{KV}/b/k")).body["value"] == "in b"
    assert (await api.delete(f"{KV}/a/k")).status == 204
    assert (await api.get(f"{KV}/b/k")).status == 200


async def test_delete_is_204_then_404(api: Api) -> None:
    await put(api, "ns", "k", 1)

    deleted = await api.delete(f"{KV}/ns/k")

    assert deleted.status == 204 and deleted.body is None
    missing = await api.get(f"{KV}/ns/k")
    assert missing.status == 404 and missing.error["code"] == "not_found"
    assert "ns/k" in missing.error["message"]
    assert (await api.delete(f"{KV}/ns/k")).status == 404


async def test_list_is_in_key_order_with_paging_and_total(api: Api) -> None:
    for key in ("c", "a", "b", "d"):
        await put(api, "ns", key, key)
    await put(api, "other", "z", 0)

    everything = await api.get(f"{KV}/ns")
    page = await api.get(f"{KV}/ns", params={"limit": 2, "offset": 1})

    assert [row["key"] for row in everything.body] == ["a", "b", "c", "d"]
    assert set(everything.body[0]) == {"key", "updatedAt", "expiresAt"}
    assert RFC3339.match(everything.body[0]["updatedAt"]) and everything.body[0]["expiresAt"] is None
    assert [row["key"] for row in page.body] == ["b", "c"]
    assert page.headers["X-Total-Count"] == "4"


async def test_list_of_an_empty_namespace_is_an_empty_array(api: Api) -> None:
    reply = await api.get(f"{KV}/nothing-here")
    assert reply.status == 200 and reply.body == [] and reply.headers["X-Total-Count"] == "0"


async def test_list_prefix_is_literal_and_case_sensitive(api: Api) -> None:
    for key in ("job.1", "job.2", "jobs", "Job.3", "job%x", "job_y", "jobAz"):
        await put(api, "ns", key, 1)

    async def keys(prefix: str) -> list[str]:
        reply = await api.get(f"{KV}/ns", params={"prefix": prefix})
        assert reply.headers["X-Total-Count"] == str(len(reply.body))
        return [row["key"] for row in reply.body]

    assert await keys("job.") == ["job.1", "job.2"]
    assert await keys("Job") == ["Job.3"]
    assert await keys("job%") == ["job%x"]
    assert await keys("job_") == ["job_y"]


async def test_keys_with_unicode_and_spaces_round_trip(api: Api) -> None:
    await put(api, "ns", "café ☕ menu", "ok")

    assert (await api.get(f"{KV}/ns/café ☕ menu")).body["key"] == "café ☕ menu"
    assert [row["key"] for row in (await api.get(f"{KV}/ns")).body] == ["café ☕ menu"]


@pytest.mark.parametrize(
    ("path", "words"),
    [
        (f"{KV}/ns/a%2Fb", "'/'"),
        (f"{KV}/ns/a%2fb", "'/'"),
        (f"{KV}/ns/a/b", "'/'"),
        (f"{KV}/a%2Fb/k", "'/'"),
        (f"{KV}/ns/line%0Abreak", "control character"),
        (f"{KV}/ns/nul%00", "NUL character"),
        (f"{KV}/ns/del%7F", "control character"),
        (f"{KV}/tab%09ns/k", "control character"),
        (f"{KV}/ns/" + "k" * 513, "limit is 512"),
        (f"{KV}/" + "n" * 129 + "/k", "limit is 128"),
        (f"{KV}/ns/%2E%2E", "'.' or '..'"),
    ],
)
@pytest.mark.parametrize("method", ["PUT", "GET", "DELETE"])
async def test_bad_namespace_or_key_is_400_and_stores_nothing(api: Api, method: str, path: str, words: str) -> None:
    status, body = await raw(api, method, path, json="value")

    assert status == 400, body
    assert body["error"]["code"] == "invalid" and words in body["error"]["message"]
    rows = await count_rows(api)
    assert rows == 0


async def test_bad_namespace_in_a_listing_is_400(api: Api) -> None:
    status, body = await raw(api, "GET", f"{KV}/bad%0Ans")
    assert status == 400 and "control character" in body["error"]["message"]


async def count_rows(api: Api) -> int:
    assert api.runtime.db is not None
    async with api.runtime.db.read() as conn:
        return int((await conn.execute(select(func.count()).select_from(KVEntry.__table__))).scalar_one())


async def test_value_limit_is_on_the_stored_json_and_over_it_is_400(api: Api) -> None:
    limit = api.runtime.engine.kv.max_value_bytes
    fits = "x" * (limit - 2)  # the two quotes make it exactly `limit` bytes of JSON

    assert (await api.put(f"{KV}/ns/big", json=fits)).status == 200
    reply = await api.put(f"{KV}/ns/big", json=fits + "x")

    assert reply.status == 400 and reply.error["code"] == "invalid"
    assert f"limit per kv value is {limit} bytes" in reply.error["message"]
    assert (await api.get(f"{KV}/ns/big")).body["value"] == fits


async def test_the_limit_counts_utf8_bytes_not_characters(api: Api) -> None:
    limit = api.runtime.engine.kv.max_value_bytes
    reply = await api.put(f"{KV}/ns/wide", json="é" * (limit // 2))  # 2 bytes each, plus quotes

    assert reply.status == 400 and str(limit + 2) in reply.error["message"]
    assert await count_rows(api) == 0


@pytest.mark.parametrize("ttl", ["0", "-1", "abc", "nan", "inf", ""])
async def test_bad_ttl_is_400_and_stores_nothing(api: Api, ttl: str) -> None:
    reply = await api.put(f"{KV}/ns/k", json=1, params={"ttl": ttl})

    assert reply.status == 400 and "ttl" in reply.error["message"]
    assert await count_rows(api) == 0


async def test_huge_ttl_is_400(api: Api) -> None:
    reply = await api.put(f"{KV}/ns/k", json=1, params={"ttl": "1e300"})
    assert reply.status == 400 and "too large" in reply.error["message"]


async def test_malformed_empty_or_non_json_bodies_are_refused(api: Api) -> None:
    headers = {"Content-Type": "application/json"}
    malformed = await api.put(f"{KV}/ns/k", data="{nope", headers=headers)
    empty = await api.put(f"{KV}/ns/k", data="", headers=headers)
    text = await api.put(f"{KV}/ns/k", data="1", headers={"Content-Type": "text/plain"})

    assert malformed.status == 400 and "malformed JSON" in malformed.error["message"]
    assert empty.status == 400
    assert text.status == 415
    assert await count_rows(api) == 0


async def test_paging_parameters_are_checked(api: Api) -> None:
    assert (await api.get(f"{KV}/ns", params={"limit": "0"})).status == 400
    assert (await api.get(f"{KV}/ns", params={"offset": "-1"})).status == 400


async def test_set_and_delete_are_audited_and_failures_are_not(api: Api) -> None:
    await put(api, "ns", "k", {"secret-ish": "not logged"}, ttl=60)
    await api.put(f"{KV}/ns/k", json="x" * (api.runtime.engine.kv.max_value_bytes + 1))
    assert (await api.delete(f"{KV}/ns/k")).status == 204
    assert (await api.delete(f"{KV}/ns/k")).status == 404

    assert api.runtime.db is not None
    async with api.runtime.db.read() as conn:
        entries = [e for e in await audit.list_entries(conn) if e.resource_type == "kv"]

    assert [e.action for e in entries] == ["kv.delete", "kv.set"]
    for entry in entries:
        assert (entry.resource_id, entry.actor) == ("ns/k", "anonymous")
        assert entry.details["namespace"] == "ns" and entry.details["key"] == "k"
        assert entry.remote_addr == "127.0.0.1"
    assert "not logged" not in json.dumps(entries[1].details)


async def test_purge_expired_removes_only_expired_rows(api: Api) -> None:
    kv = api.runtime.engine.kv
    await put(api, "ns", "short", 1, ttl=1)
    await put(api, "ns", "long", 2, ttl=3600)
    await put(api, "ns", "forever", 3)
    later = KVService(kv.db, clock=lambda: kv.clock() + timedelta(seconds=5))

    assert await later.purge_expired() == 1
    assert await count_rows(api) == 2
    assert await later.purge_expired() == 0
    assert [row["key"] for row in (await api.get(f"{KV}/ns")).body] == ["forever", "long"]


async def test_fifty_concurrent_increments_of_a_missing_key_count_fifty(api: Api) -> None:
    """Every one of them may find the key missing: they must not both insert, nor lose a count."""
    kv = api.runtime.engine.kv

    results = await asyncio.gather(*(kv.increment("ns", "hits") for _ in range(50)))

    assert sorted(results) == list(range(1, 51))
    assert (await api.get(f"{KV}/ns/hits")).body["value"] == 50


async def test_openapi_describes_the_kv_endpoints(api: Api) -> None:
    paths = (await api.get("/api/v1/openapi.json")).body["paths"]

    assert set(paths[f"{KV}/{{namespace}}/{{key}}"]) == {"get", "put", "delete"}
    assert set(paths[f"{KV}/{{namespace}}"]) == {"get"}
