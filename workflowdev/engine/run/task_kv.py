"""`ctx.kv`: the key-value store as one run sees it, in the run's terms.

A run reaches the store through `KeyValues`, which the kv service implements one room up; what
the store refuses (a key with '/', a value over the limit, incrementing text) becomes a task
failure here, with the store's own message.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from typing import Protocol

from workflowdev.engine.errors import Invalid
from workflowdev.engine.plugin import TaskFailed
from workflowdev.engine.secrets import SecretMasker

MAX_LISTED_KEYS = 1000
"""What `ctx.kv.list` returns at most; a flow that matches more must narrow its prefix."""


class StoredValue(Protocol):
    value: Any


class KeyRow(Protocol):
    key: str


class KeyValues(Protocol):
    async def get_entry(self, namespace: str, key: str) -> StoredValue | None: ...

    async def set(self, namespace: str, key: str, value: Any, ttl: float | None = None) -> Any: ...

    async def delete(self, namespace: str, key: str) -> bool: ...

    async def list(self, namespace: str, prefix: str = "", limit: int = 1000) -> Sequence[KeyRow]: ...

    async def increment(self, namespace: str, key: str, by: float = 1) -> float: ...


@dataclass(frozen=True, slots=True)
class FlowKV:
    """`ctx.kv`: the store as one flow sees it, its own namespace by default.

    Bad input (a key with '/', a value over the limit, incrementing text) fails the task with
    the store's own message, as a TaskFailed rather than as an engine error.

    Values a flow writes pass through its run's masker: any viewer may read the store, so a
    credential written there is kept as `***`, like everywhere else a run's values are shown.
    A secret that several flows need belongs in the credential store, not in kv.
    """

    service: KeyValues
    namespace: str
    masker: SecretMasker

    def _namespace(self, namespace: str | None) -> str:
        return self.namespace if namespace is None else namespace

    async def get(self, key: str, namespace: str | None = None) -> tuple[bool, Any]:
        try:
            entry = await self.service.get_entry(self._namespace(namespace), key)
        except Invalid as exc:
            raise TaskFailed(exc.message) from None
        return (False, None) if entry is None else (True, entry.value)

    async def set(self, key: str, value: Any, namespace: str | None = None, ttl: float | None = None) -> None:
        try:
            await self.service.set(
                self._namespace(namespace), self.masker.mask(key), self.masker.mask_json(value), ttl
            )
        except Invalid as exc:
            raise TaskFailed(exc.message) from None

    async def delete(self, key: str, namespace: str | None = None) -> bool:
        try:
            return await self.service.delete(self._namespace(namespace), key)
        except Invalid as exc:
            raise TaskFailed(exc.message) from None

    async def list(self, namespace: str | None = None, prefix: str = "") -> list[str]:
        """Every matching key, or a failure when more than MAX_LISTED_KEYS match (never a cut list)."""
        namespace = self._namespace(namespace)
        try:
            rows = await self.service.list(namespace, prefix, limit=MAX_LISTED_KEYS + 1)
        except Invalid as exc:
            raise TaskFailed(exc.message) from None
        if len(rows) > MAX_LISTED_KEYS:
            raise TaskFailed(
                f"more than {MAX_LISTED_KEYS} keys of namespace {namespace} match prefix {prefix!r}; "
                "use a longer prefix"
            )
        return [row.key for row in rows]

    async def increment(self, key: str, by: float = 1, namespace: str | None = None) -> float:
        try:
            return await self.service.increment(self._namespace(namespace), key, by)
        except Invalid as exc:
            raise TaskFailed(exc.message) from None
