"""The key-value store's rules: JSON values of any type, a size cap, TTLs, atomic increments.

Flows reach it through `ctx.kv` and the `kv()` expression function, both bound to the flow's
namespace by default; the API reaches it through the same service.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from workflowdev.engine.clock import Clock, utcnow
from workflowdev.engine.errors import Invalid
from workflowdev.store import kv as store
from workflowdev.store.database import Database

MAX_VALUE_BYTES = 256 * 1024


@dataclass(frozen=True, slots=True)
class Entry:
    namespace: str
    key: str
    value: Any
    updated_at: datetime
    expires_at: datetime | None


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
        if len(text.encode()) > self.max_value_bytes:
            raise Invalid(f"value is {len(text.encode())} bytes; the limit is {self.max_value_bytes}")
        return text

    def _expiry(self, now: datetime, ttl: float | None) -> datetime | None:
        if ttl is None:
            return None
        if not math.isfinite(ttl) or ttl <= 0:
            raise Invalid(f"ttl must be a positive number of seconds, got {ttl}")
        return now + timedelta(seconds=ttl)

    async def get_entry(self, namespace: str, key: str) -> Entry | None:
        async with self.db.read() as conn:
            row = await store.get(conn, namespace, key, self.clock())
        if row is None:
            return None
        return Entry(namespace, key, json.loads(row.value), row.updated_at, row.expires_at)

    async def set(self, namespace: str, key: str, value: Any, ttl: float | None = None) -> Entry:
        text = self._encode(value)
        now = self.clock()
        expires_at = self._expiry(now, ttl)
        async with self.db.write() as conn:
            await store.put(conn, namespace, key, text, now, expires_at)
        return Entry(namespace, key, value, now, expires_at)

    async def delete(self, namespace: str, key: str) -> bool:
        async with self.db.write() as conn:
            return await store.remove(conn, namespace, key, self.clock())

    async def list(self, namespace: str, prefix: str = "", limit: int = 1000, offset: int = 0) -> list[Any]:
        async with self.db.read() as conn:
            return list(await store.list_keys(conn, namespace, self.clock(), prefix=prefix, limit=limit, offset=offset))

    async def increment(self, namespace: str, key: str, by: float = 1) -> float:
        """Add `by` to a numeric value (missing counts as 0) in one locked transaction."""
        now = self.clock()
        async with self.db.write() as conn:
            row = await store.get(conn, namespace, key, now, for_update=True)
            current = json.loads(row.value) if row is not None else 0
            if isinstance(current, bool) or not isinstance(current, (int, float)):
                raise Invalid(f"kv {namespace}/{key} holds {type(current).__name__}, not a number")
            value = current + by
            if isinstance(value, float) and value.is_integer() and isinstance(by, int):
                value = int(value)
            await store.put(conn, namespace, key, self._encode(value), now, row.expires_at if row else None)
        return value


@dataclass(frozen=True, slots=True)
class FlowKV:
    """`ctx.kv`: the store as one flow sees it, its own namespace by default."""

    service: KVService
    namespace: str

    async def get(self, key: str, namespace: str | None = None) -> tuple[bool, Any]:
        entry = await self.service.get_entry(namespace or self.namespace, key)
        return (False, None) if entry is None else (True, entry.value)

    async def set(self, key: str, value: Any, namespace: str | None = None, ttl: float | None = None) -> None:
        await self.service.set(namespace or self.namespace, key, value, ttl)

    async def delete(self, key: str, namespace: str | None = None) -> bool:
        return await self.service.delete(namespace or self.namespace, key)

    async def list(self, namespace: str | None = None, prefix: str = "") -> list[str]:
        return [row.key for row in await self.service.list(namespace or self.namespace, prefix)]

    async def increment(self, key: str, by: float = 1, namespace: str | None = None) -> float:
        return await self.service.increment(namespace or self.namespace, key, by)
