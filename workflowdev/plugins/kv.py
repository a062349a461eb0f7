"""kv: the key-value store from inside a flow — state that outlives one execution.

Counters, cursors ("last id imported"), feature switches and small caches. Every task works in
the flow's own namespace unless it names another. The store keeps the rules (names, value size,
atomic increments); these tasks only translate properties into `ctx.kv` calls, and its errors
(a key with '/', a value over the limit, incrementing text) fail the task with the store's
message. Writes from flows are not audited one by one; the task history shows them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar
from typing import Final

from workflowdev.engine.plugin import DURATION_TEXT_SCHEMA
from workflowdev.engine.plugin import JSON
from workflowdev.engine.plugin import Manifest
from workflowdev.engine.plugin import Plugin
from workflowdev.engine.plugin import TaskContext
from workflowdev.engine.plugin import TaskFailed
from workflowdev.engine.plugin import as_text
from workflowdev.engine.plugin import parse_duration
from workflowdev.plugins._toolkit import object_schema
from workflowdev.plugins._toolkit import single_value
from workflowdev.plugins._toolkit import task_example

__all__ = ["PLUGINS", "Delete", "Get", "Increment", "List", "Set"]

MAX_LISTED_KEYS: Final = 1000
"""Mirrors the store's cap on one listing, so the manifest can say it."""

_NAME_PATTERN: Final = "^[^/\\u0000-\\u001f\\u007f-\\u009f]+$"
KEY_SCHEMA: Final[dict[str, JSON]] = {
    "type": "string",
    "minLength": 1,
    "maxLength": 512,
    "pattern": _NAME_PATTERN,
    "description": "The key: at most 512 characters, no '/' and no control characters.",
}
NAMESPACE_SCHEMA: Final[dict[str, JSON]] = {
    "type": "string",
    "minLength": 1,
    "maxLength": 128,
    "pattern": _NAME_PATTERN,
    "description": "The namespace to use instead of the flow's own.",
}


class Get(Plugin):
    """Read one value; a missing key is an answer (`found: false`), not a failure."""

    manifest: ClassVar[Manifest] = Manifest(
        id="kv.get",
        name="Read a kv value",
        category="kv",
        description=(
            "Reads `key` from the key-value store. When the key is missing or has expired, "
            "`found` is false and `value` is `default` (null unless given), so a first run can "
            "start from a sensible value. The expression function `kv('key')` reads the same "
            "store inline."
        ),
        input_schema=object_schema(
            {
                "key": KEY_SCHEMA,
                "namespace": NAMESPACE_SCHEMA,
                "default": {"description": "The value to return when the key is missing; any JSON."},
            },
            ["key"],
        ),
        output_schema=object_schema(
            {
                "value": {"description": "The stored value, exactly as stored; else `default`."},
                "found": {"type": "boolean", "description": "Whether the key exists and has not expired."},
            },
            ["value", "found"],
        ),
        examples=(
            task_example(
                "last_import",
                "kv.get",
                """
                key: orders.last_id
                default: 0
                """,
            ),
        ),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        found, value = await ctx.kv.get(properties["key"], properties.get("namespace"))
        return {"value": value if found else properties.get("default"), "found": found}


class Set(Plugin):
    """Store one value, replacing what was there."""

    manifest: ClassVar[Manifest] = Manifest(
        id="kv.set",
        name="Store a kv value",
        category="kv",
        description=(
            "Stores `value` (any JSON: null, a number, text, a list, an object) under `key`, "
            "replacing any previous value. With `ttl` the entry expires after that long; without, "
            "it never expires (a previous ttl is dropped). The value's compact JSON may be at "
            "most 256 KiB."
        ),
        input_schema=object_schema(
            {
                "key": KEY_SCHEMA,
                "value": {"description": "What to store; any JSON value, null included."},
                "namespace": NAMESPACE_SCHEMA,
                "ttl": {
                    "anyOf": [DURATION_TEXT_SCHEMA, {"type": "number", "exclusiveMinimum": 0}],
                    "description": (
                        "How long the entry lives: 30s, 10m, 2h, 1d, ISO 8601 (PT1H) or a number "
                        "of seconds. Must be more than zero."
                    ),
                },
            },
            ["key", "value"],
        ),
        output_schema=object_schema({}, []),
        examples=(
            task_example(
                "remember_cursor",
                "kv.set",
                """
                key: orders.last_id
                value: 1042
                """,
            ),
            task_example(
                "cache_token",
                "kv.set",
                """
                key: api.token
                value: {token: abc123, scope: read}
                ttl: 1h
                """,
            ),
        ),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        ttl = properties.get("ttl")
        seconds = None
        if ttl is not None:
            try:
                seconds = parse_duration(ttl)
            except ValueError as exc:
                raise TaskFailed(f"ttl: {exc}") from None
            if seconds <= 0:
                raise TaskFailed(f"ttl must be more than zero, got {as_text(ttl)}")
        await ctx.kv.set(properties["key"], properties["value"], properties.get("namespace"), seconds)
        return {}


class Delete(Plugin):
    """Remove one key; deleting a missing key succeeds, and says so."""

    manifest: ClassVar[Manifest] = Manifest(
        id="kv.delete",
        name="Delete a kv value",
        category="kv",
        description=(
            "Removes `key` from the key-value store. A missing key is not an error: `deleted` "
            "tells whether there was anything to remove."
        ),
        input_schema=object_schema({"key": KEY_SCHEMA, "namespace": NAMESPACE_SCHEMA}, ["key"]),
        output_schema=single_value(
            "deleted", {"type": "boolean", "description": "True when a live entry was removed."}
        ),
        examples=(task_example("forget_cursor", "kv.delete", "key: orders.last_id"),),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        return {"deleted": await ctx.kv.delete(properties["key"], properties.get("namespace"))}


class List(Plugin):
    """The keys of a namespace, optionally only those starting with a prefix."""

    manifest: ClassVar[Manifest] = Manifest(
        id="kv.list",
        name="List kv keys",
        category="kv",
        description=(
            "Lists the live keys of the namespace in key order, only those starting with "
            f"`prefix` when given (case-sensitive). At most {MAX_LISTED_KEYS} keys: when more "
            "match, the task fails rather than return a cut list; use a longer prefix."
        ),
        input_schema=object_schema(
            {
                "namespace": NAMESPACE_SCHEMA,
                "prefix": {"type": "string", "default": "", "description": "Only keys starting with this text."},
            },
            [],
        ),
        output_schema=single_value(
            "keys",
            {
                "type": "array",
                "items": {"type": "string"},
                "maxItems": MAX_LISTED_KEYS,
                "description": "The matching keys, in key order.",
            },
        ),
        examples=(task_example("pending_jobs", "kv.list", "prefix: job."),),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        return {"keys": await ctx.kv.list(properties.get("namespace"), properties.get("prefix", ""))}


class Increment(Plugin):
    """Add to a counter atomically: concurrent executions never lose a count."""

    manifest: ClassVar[Manifest] = Manifest(
        id="kv.increment",
        name="Increment a kv counter",
        category="kv",
        description=(
            "Adds `by` (default 1; negative to decrement, fractions allowed) to the number under "
            "`key` and returns the new value. A missing or expired key counts as 0. Atomic: "
            "concurrent executions incrementing the same key each count once. A key holding "
            "anything but a number fails the task. A counter keeps the ttl it was set with."
        ),
        input_schema=object_schema(
            {
                "key": KEY_SCHEMA,
                "by": {"type": "number", "default": 1, "description": "How much to add."},
                "namespace": NAMESPACE_SCHEMA,
            },
            ["key"],
        ),
        output_schema=single_value("value", {"type": "number", "description": "The value after the increment."}),
        examples=(
            task_example("count_run", "kv.increment", "key: runs.total"),
            task_example(
                "take_stock",
                "kv.increment",
                """
                key: stock.widgets
                by: -3
                """,
            ),
        ),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        by = properties.get("by", 1)
        return {"value": await ctx.kv.increment(properties["key"], by, properties.get("namespace"))}


PLUGINS: Final[list[type[Plugin]]] = [Get, Set, Delete, List, Increment]
