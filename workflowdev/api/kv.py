"""The key-value store: entries addressed as /kv/{namespace}/{key}, any JSON value, optional ttl.

A value over the store's per-value limit is a 400 ("invalid", naming the limit), not a 413: 413
is the server-wide body limit, checked before anything is read, while the value limit is a rule
of the store, measured on the compact JSON it keeps and applied to flows' writes as well.

The key segment matches everything after the namespace, so a key with a '/' (literal or
percent-encoded) gets a 400 that says why, not a 404 for an unknown route.
"""

from __future__ import annotations

import math

from aiohttp import web

from workflowdev.api.actors import actor_of
from workflowdev.api.bodies import paging
from workflowdev.api.bodies import parse_seconds
from workflowdev.api.bodies import read_json
from workflowdev.api.docs import ERRORS
from workflowdev.api.docs import PAGING
from workflowdev.api.docs import TIMESTAMP
from workflowdev.api.docs import Schema
from workflowdev.api.docs import array
from workflowdev.api.docs import json_body
from workflowdev.api.docs import ok
from workflowdev.api.docs import ref
from workflowdev.api.keys import ENGINE
from workflowdev.api.replies import page_reply
from workflowdev.engine.clock import rfc3339
from workflowdev.engine.errors import Invalid
from workflowdev.engine.errors import NotFound
from workflowdev.engine.services.kv import MAX_KEY_LENGTH
from workflowdev.engine.services.kv import MAX_NAMESPACE_LENGTH
from workflowdev.engine.services.kv import MAX_VALUE_BYTES

routes = web.RouteTableDef()

ENTRY_PATH = r"/api/v1/kv/{namespace}/{key:[\s\S]+}"


def _names(request: web.Request) -> tuple[str, str]:
    """The entry's names, checked by the store (KVService) on every call."""
    return request.match_info["namespace"], request.match_info["key"]


def _ttl(request: web.Request) -> float | None:
    raw = request.query.get("ttl")
    if raw is None:
        return None
    ttl = parse_seconds(raw, "query parameter ttl")
    if not math.isfinite(ttl) or ttl <= 0:
        raise Invalid(f"query parameter ttl must be a positive number of seconds, got {raw!r}")
    return ttl


@routes.get("/api/v1/kv", name="kv.namespaces")
async def list_namespaces(request: web.Request) -> web.Response:
    """What the console browses first: the store has no other way to say which namespaces exist."""
    limit, offset = paging(request)
    kv = request.app[ENGINE].kv
    rows = await kv.namespaces(limit=limit, offset=offset)
    total = await kv.count_namespaces()
    body = [{"namespace": r.namespace, "keys": r.keys} for r in rows]
    return page_reply(body, total)


@routes.get("/api/v1/kv/{namespace}", name="kv.list")
async def list_keys(request: web.Request) -> web.Response:
    namespace = request.match_info["namespace"]
    limit, offset = paging(request)
    prefix = request.query.get("prefix", "")
    kv = request.app[ENGINE].kv
    rows = await kv.list(namespace, prefix, limit=limit, offset=offset)
    total = await kv.count(namespace, prefix)
    body = [{"key": r.key, "updatedAt": rfc3339(r.updated_at), "expiresAt": rfc3339(r.expires_at)} for r in rows]
    return page_reply(body, total)


@routes.get(ENTRY_PATH, name="kv.get")
async def get_entry(request: web.Request) -> web.Response:
    namespace, key = _names(request)
    entry = await request.app[ENGINE].kv.get_entry(namespace, key)
    if entry is None:
        raise NotFound(f"kv entry {namespace}/{key} not found (or expired)")
    return web.json_response(entry.to_json())


@routes.put(ENTRY_PATH, name="kv.set")
async def set_entry(request: web.Request) -> web.Response:
    namespace, key = _names(request)
    ttl = _ttl(request)
    value = await read_json(request)
    entry = await request.app[ENGINE].kv.set(namespace, key, value, ttl, actor=actor_of(request))
    return web.json_response(entry.to_json())


@routes.delete(ENTRY_PATH, name="kv.delete")
async def delete_entry(request: web.Request) -> web.Response:
    namespace, key = _names(request)
    if not await request.app[ENGINE].kv.delete(namespace, key, actor=actor_of(request)):
        raise NotFound(f"kv entry {namespace}/{key} not found (or expired)")
    return web.Response(status=204)


NAME_RULE = "not empty, no '/', no control characters, not '.' or '..'"


def _name_param(name: str, max_length: int) -> Schema:
    """The path segment `name`: namespaces and keys follow one naming rule, each with its own length limit."""
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": f"The {name}: {NAME_RULE}; at most {max_length} characters.",
        "schema": {"type": "string", "minLength": 1, "maxLength": max_length},
    }


NAMESPACE_PARAM = _name_param("namespace", MAX_NAMESPACE_LENGTH)
KEY_PARAM = _name_param("key", MAX_KEY_LENGTH)
NULLABLE_TIMESTAMP: Schema = {"type": ["string", "null"], "format": "date-time"}

SCHEMAS: dict[str, Schema] = {
    "KVEntry": {
        "type": "object",
        "required": ["namespace", "key", "value", "updatedAt", "expiresAt"],
        "properties": {
            "namespace": {"type": "string"},
            "key": {"type": "string"},
            "value": {"description": "Any JSON value, exactly as it was stored."},
            "updatedAt": TIMESTAMP,
            "expiresAt": {**NULLABLE_TIMESTAMP, "description": "null: the entry does not expire."},
        },
    },
    "KVNamespace": {
        "type": "object",
        "required": ["namespace", "keys"],
        "properties": {
            "namespace": {"type": "string"},
            "keys": {"type": "integer", "minimum": 1, "description": "How many live keys it holds."},
        },
    },
    "KVKey": {
        "type": "object",
        "required": ["key", "updatedAt", "expiresAt"],
        "properties": {"key": {"type": "string"}, "updatedAt": TIMESTAMP, "expiresAt": NULLABLE_TIMESTAMP},
    },
}
OPERATIONS: dict[str, Schema] = {
    "kv.namespaces": {
        "summary": "List the namespaces holding live keys, by name, with their key counts",
        "description": "Expired keys are not counted; a namespace whose keys all expired is not listed.",
        "parameters": PAGING,
        "responses": {**ok(array(ref("KVNamespace"))), **ERRORS},
    },
    "kv.list": {
        "summary": "List the live keys of a namespace, in key order",
        "parameters": [
            NAMESPACE_PARAM,
            {
                "name": "prefix",
                "in": "query",
                "description": "Only keys starting with this text (case-sensitive).",
                "schema": {"type": "string"},
            },
            *PAGING,
        ],
        "responses": {**ok(array(ref("KVKey"))), **ERRORS},
    },
    "kv.get": {
        "summary": "An entry; 404 when it is missing or expired",
        "parameters": [NAMESPACE_PARAM, KEY_PARAM],
        "responses": {**ok(ref("KVEntry")), **ERRORS},
    },
    "kv.set": {
        "summary": "Create or replace an entry; the body is its value",
        "description": (
            f"The body is any JSON value (null, a number, text, an array, an object). Its compact "
            f"JSON may be at most {MAX_VALUE_BYTES} bytes; a larger value "
            "is a 400. Without `ttl` the entry does not expire, even if it had a ttl before."
        ),
        "parameters": [
            NAMESPACE_PARAM,
            KEY_PARAM,
            {
                "name": "ttl",
                "in": "query",
                "description": "Seconds until the entry expires (a positive number, fractions allowed).",
                "schema": {"type": "number", "exclusiveMinimum": 0},
            },
        ],
        "requestBody": json_body({"description": "Any JSON value."}),
        "responses": {**ok(ref("KVEntry")), **ERRORS},
    },
    "kv.delete": {
        "summary": "Delete an entry; 404 when it is missing or expired",
        "parameters": [NAMESPACE_PARAM, KEY_PARAM],
        "responses": {**ok(None, "204", "Deleted"), **ERRORS},
    },
}
