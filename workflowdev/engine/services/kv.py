"""The key-value store's rules: names, JSON values of any type, a size cap, TTLs, atomic increments.

Flows reach it through `ctx.kv` and the `kv()` expression function, both bound to the flow's
namespace by default; the API reaches it through the same service, so both obey the same rules.

Changes made through the API carry an actor and are audited (`kv.set`, `kv.delete`) in the
same transaction. Writes from flows are not audited one by one: a counter bumped by every
execution would flood the audit log. The execution that wrote is in its own task history.

Expired entries read as missing at once; `purge_expired` removes their rows later, from a
periodic sweep.
"""

from __future__ import annotations

import json
import math
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta
from typing import Any

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from workflowdev.engine.clock import Clock
from workflowdev.engine.clock import rfc3339
from workflowdev.engine.clock import utcnow
from workflowdev.engine.errors import Invalid
from workflowdev.engine.services import audit_trail
from workflowdev.engine.services.actor import Actor
from workflowdev.store import kv as store
from workflowdev.store.database import Database

MAX_VALUE_BYTES = 256 * 1024
"""Of a value's compact JSON encoding in UTF-8: the store is for small state, not for files."""
MAX_NAMESPACE_LENGTH = 128
MAX_KEY_LENGTH = 512
_UNADDRESSABLE = (".", "..")
"""Names HTTP clients rewrite as path segments, so the API could never reach such an entry."""


@dataclass(frozen=True, slots=True)
class Entry:
    namespace: str
    key: str
    value: Any
    updated_at: datetime
    expires_at: datetime | None

    def to_json(self) -> dict[str, Any]:
        return {
            "namespace": self.namespace,
            "key": self.key,
            "value": self.value,
            "updatedAt": rfc3339(self.updated_at),
            "expiresAt": rfc3339(self.expires_at),
        }


def check_name(kind: str, value: str, max_length: int) -> None:
    """A namespace or key must be usable as one URL path segment and readable in a log line."""
    if not isinstance(value, str):
        raise Invalid(f"kv {kind} must be text, got {_json_type(value)}", [{"path": kind, "message": "must be text"}])
    shown = value if len(value) <= 60 else value[:57] + "..."
    problem = None
    if not value:
        problem = "must not be empty"
    elif len(value) > max_length:
        problem = f"is {len(value)} characters long; the limit is {max_length}"
    elif "/" in value:
        problem = "must not contain '/'"
    elif value in _UNADDRESSABLE:
        problem = "must not be '.' or '..'"
    else:
        control = next((c for c in value if unicodedata.category(c) == "Cc"), None)
        if control is not None:
            problem = f"must not contain control characters (found U+{ord(control):04X})"
    if problem is not None:
        raise Invalid(f"kv {kind} {shown!r} {problem}", [{"path": kind, "message": problem}])


def check_names(namespace: str, key: str | None = None) -> None:
    check_name("namespace", namespace, MAX_NAMESPACE_LENGTH)
    if key is not None:
        check_name("key", key, MAX_KEY_LENGTH)


class KVService:
    def __init__(self, db: Database, clock: Clock = utcnow, max_value_bytes: int = MAX_VALUE_BYTES) -> None:
        self.db = db
        self.clock = clock
        self.max_value_bytes = max_value_bytes

    def _encode(self, value: Any) -> str:
        try:
            text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise Invalid(f"value is not JSON: {exc}") from None
        except RecursionError:
            raise Invalid("value is not JSON: it nests too deeply") from None
        size = len(text.encode())
        if size > self.max_value_bytes:
            raise Invalid(
                f"value is {size} bytes as JSON; the limit per kv value is {self.max_value_bytes} bytes",
                [{"path": "value", "message": f"larger than {self.max_value_bytes} bytes"}],
            )
        return text

    @staticmethod
    def _expiry(now: datetime, ttl: float | None) -> datetime | None:
        if ttl is None:
            return None
        if isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or not math.isfinite(ttl) or ttl <= 0:
            raise Invalid(f"ttl must be a positive number of seconds, got {ttl!r}")
        try:
            return now + timedelta(seconds=ttl)
        except OverflowError:
            raise Invalid(f"ttl {ttl:g} seconds is too large") from None

    async def get_entry(self, namespace: str, key: str) -> Entry | None:
        """The live entry, or None when it is missing or expired."""
        check_names(namespace, key)
        async with self.db.read() as conn:
            row = await store.get(conn, namespace, key, self.clock())
        if row is None:
            return None
        return Entry(namespace, key, json.loads(row.value), row.updated_at, row.expires_at)

    async def set(
        self, namespace: str, key: str, value: Any, ttl: float | None = None, *, actor: Actor | None = None
    ) -> Entry:
        """Create or replace; the entry takes the new ttl, or none (it no longer expires)."""
        check_names(namespace, key)
        text = self._encode(value)
        now = self.clock()
        expires_at = self._expiry(now, ttl)
        async with self.db.write() as conn:
            await store.put(conn, namespace, key, text, now, expires_at)
            if actor is not None:
                details = {"namespace": namespace, "key": key, "expiresAt": rfc3339(expires_at)}
                await self._audit(conn, actor, "kv.set", namespace, key, {**details, "bytes": len(text.encode())})
        return Entry(namespace, key, value, now, expires_at)

    async def delete(self, namespace: str, key: str, *, actor: Actor | None = None) -> bool:
        """Remove a live entry; False (and nothing audited) when there was none."""
        check_names(namespace, key)
        async with self.db.write() as conn:
            deleted = await store.remove(conn, namespace, key, self.clock())
            if deleted and actor is not None:
                await self._audit(conn, actor, "kv.delete", namespace, key, {"namespace": namespace, "key": key})
        return deleted

    async def list(self, namespace: str, prefix: str = "", limit: int = 1000, offset: int = 0) -> Sequence[Row[Any]]:
        """Live keys in key order: rows of (key, updated_at, expires_at)."""
        check_names(namespace)
        _check_prefix(prefix)
        async with self.db.read() as conn:
            return await store.list_keys(conn, namespace, self.clock(), prefix=prefix, limit=limit, offset=offset)

    async def count(self, namespace: str, prefix: str = "") -> int:
        check_names(namespace)
        _check_prefix(prefix)
        async with self.db.read() as conn:
            return await store.count_keys(conn, namespace, self.clock(), prefix=prefix)

    async def namespaces(self, limit: int = 1000, offset: int = 0) -> Sequence[Row[Any]]:
        """Namespaces holding live keys, by name: rows of (namespace, keys). Expired keys do not count."""
        async with self.db.read() as conn:
            return await store.list_namespaces(conn, self.clock(), limit=limit, offset=offset)

    async def count_namespaces(self) -> int:
        async with self.db.read() as conn:
            return await store.count_namespaces(conn, self.clock())

    async def increment(self, namespace: str, key: str, by: float = 1) -> float:
        """Add `by` to a numeric value (missing or expired counts as 0), atomically.

        The row is created if missing and locked (`store.lock_for_update`), so concurrent
        increments queue on it instead of losing updates, on SQLite and PostgreSQL alike. A
        live entry keeps its expiry: a counter with a ttl counts within its window.
        """
        check_names(namespace, key)
        if isinstance(by, bool) or not isinstance(by, (int, float)) or not math.isfinite(by):
            raise Invalid(f"increment must be a finite number, got {by!r}")
        now = self.clock()
        async with self.db.write() as conn:
            row = await store.lock_for_update(conn, namespace, key, "0", now)
            live = row.expires_at is None or row.expires_at > now
            current = json.loads(row.value) if live else 0
            if isinstance(current, bool) or not isinstance(current, (int, float)):
                raise Invalid(
                    f"kv {namespace}/{key} holds {_json_type(current)}, not a number; it cannot be incremented"
                )
            value = current + by
            if isinstance(value, float) and value.is_integer() and isinstance(by, int):
                value = int(value)
            await store.put(conn, namespace, key, self._encode(value), now, row.expires_at if live else None)
        return value

    async def purge_expired(self) -> int:
        """Delete the rows of expired entries (they already read as missing); returns how many."""
        async with self.db.write() as conn:
            return await store.purge_expired(conn, self.clock())

    async def _audit(
        self, conn: AsyncConnection, actor: Actor, action: str, namespace: str, key: str, details: dict[str, Any]
    ) -> None:
        # The resource id is cut to the column's size; the details keep the full names.
        await audit_trail.record(conn, actor, action, "kv", f"{namespace}/{key}", details, self.clock())


def _check_prefix(prefix: str) -> None:
    if not isinstance(prefix, str):
        problem = f"must be text, got {_json_type(prefix)}"
        raise Invalid(f"kv prefix {problem}", [{"path": "prefix", "message": problem}])


def _json_type(value: Any) -> str:
    names = {
        type(None): "null", bool: "a boolean", int: "a number", float: "a number",
        str: "text", list: "an array", dict: "an object",
    }
    return names.get(type(value), type(value).__name__)
