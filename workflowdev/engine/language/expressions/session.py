"""One call of the Renderer: the instant, the credentials and kv values read, the budgets left.

The names a template sees are built lazily and dropped at the end (`close`), because they hold
the session's own `kv` method and a cycle left to the garbage collector stalls the event loop.
"""

from __future__ import annotations

from collections.abc import Awaitable
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import datetime
from functools import cached_property
from typing import Any

from workflowdev.engine.language.expressions.budget import Limits
from workflowdev.engine.language.expressions.budget import Pass
from workflowdev.engine.language.expressions.budget import render_clock
from workflowdev.engine.language.expressions.credentials import CREDENTIALS_NAME
from workflowdev.engine.language.expressions.errors import ExpressionError
from workflowdev.engine.language.expressions.errors import Refused
from workflowdev.engine.language.expressions.errors import SafeResolverError
from workflowdev.engine.language.expressions.errors import reason
from workflowdev.engine.language.expressions.functions import bounded_range
from workflowdev.engine.language.expressions.functions import measured_dict
from workflowdev.engine.language.expressions.functions import random_uuid
from workflowdev.engine.secrets import SecretMasker

CredentialResolver = Callable[[str], Awaitable[str | None]]
KVReader = Callable[[str, str | None], Awaitable[Any]]


@dataclass(eq=False, repr=False)  # its repr would show the secrets it resolved
class Session:
    """One call of render_value or evaluate_condition: one instant, one set of credential and kv
    reads, one budget shared by all its strings."""

    limits: Limits
    clock: Callable[[], datetime]
    scope: Mapping[str, Any]
    credentials: CredentialResolver | None
    masker: SecretMasker | None
    kv: KVReader | None
    secrets: dict[str, str] = field(default_factory=dict, init=False)
    kv_values: dict[tuple[str, str | None], Any] = field(default_factory=dict, init=False)
    kv_missing: set[tuple[str, str | None]] = field(default_factory=set, init=False)
    seconds_left: float = field(init=False)
    iterations: int = field(default=0, init=False)
    allocated: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self.seconds_left = self.limits.max_seconds

    @cached_property
    def names(self) -> dict[str, Any]:
        """What a template sees; built on the first template, so plain values cost nothing."""
        instant = self.clock().astimezone(UTC)
        now = instant.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        return {
            **self.scope,
            "range": bounded_range,
            "dict": measured_dict,
            "now": lambda: now,
            "uuid": random_uuid,
            "kv": self._kv_lookup,
            CREDENTIALS_NAME: self.secrets,
        }

    def close(self) -> None:
        """Forget the names templates saw: they hold the session's own `kv` method, a cycle
        only the garbage collector could free. Every task renders once or more, and in a loop of
        100,000 tasks that garbage made the collector stall the event loop again and again."""
        self.__dict__.pop("names", None)

    def error(self, message: str) -> ExpressionError:
        return ExpressionError(self.masker.mask(message) if self.masker else message)

    def _kv_lookup(self, key: Any, namespace: Any = None) -> Any:
        if not isinstance(key, str) or not (namespace is None or isinstance(namespace, str)):
            raise Refused("kv() takes a key and an optional namespace, both text")
        if self.kv is None:
            raise Refused("kv() is not available here")
        read = (key, namespace)
        if read in self.kv_values:
            return self.kv_values[read]
        self.kv_missing.add(read)
        return None  # this pass is discarded; the key is read and the template rendered again

    async def read_kv(self, reads: Iterable[tuple[str, str | None]]) -> None:
        if self.kv is None:
            return
        for read in reads:
            if read in self.kv_values:
                continue
            if len(self.kv_values) >= self.limits.max_kv_lookups:
                raise self.error(
                    f"the expression reads more than the limit of {self.limits.max_kv_lookups} "
                    "kv keys"
                )
            key, namespace = read
            try:
                self.kv_values[read] = await self.kv(key, namespace)
            except ExpressionError:
                raise
            except Exception as error:  # noqa: BLE001 - the store's failure becomes the task's
                raise self.error(f"kv({key!r}) could not be read: {reason(error)}") from None

    async def resolve_credentials(self, names: Iterable[str]) -> None:
        for name in names:
            if name in self.secrets:
                continue
            try:
                value = await self.credentials(name) if self.credentials is not None else None
            except SafeResolverError as error:
                raise ExpressionError(f"credential {name} could not be read: {error}") from None
            except Exception as error:  # noqa: BLE001 - never echo what a resolver says
                raise ExpressionError(
                    f"credential {name} could not be read ({type(error).__name__})"
                ) from None
            if value is None:
                raise ExpressionError(f"credential {name} is not defined")
            self.secrets[name] = value
            if self.masker is not None:
                self.masker.add(value)

    def start_pass(self) -> Pass:
        deadline = render_clock() + self.seconds_left
        return Pass(self.limits, deadline, self.iterations, self.allocated)

    def finish_pass(self, state: Pass, elapsed: float) -> None:
        self.seconds_left -= elapsed
        if not self.kv_missing:
            self.iterations, self.allocated = state.iterations, state.allocated
