"""What the retention policy keeps: per namespace, how long executions, logs and audit stay.

One parser serves every source of settings: a TOML `[retention]` table (with
`[retention.namespaces.NAME]` tables) and the environment's one-line form
`executions_days=30;logs_days=7;payments:executions_days=400`. A key a namespace does not set
is the default's; 0 turns a rule off there (the default's rules are all 0: nothing is purged
until someone says what may go). Audit entries belong to no namespace, so `audit_days` is only
a default.

This module imports nothing heavy: the settings read it, and `workflowdev --help` should not
wait for SQLAlchemy.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from dataclasses import replace
from datetime import timedelta
from typing import Any

DAY_KEYS = ("executions_days", "logs_days", "audit_days")
KEYS = (*DAY_KEYS, "executions_keep_last")
MAX_DAYS = 36_500
"""A hundred years: more is a typo, and timedelta arithmetic past year 9999 would fail."""
MAX_KEEP_LAST = 1_000_000
MAX_NAMESPACES = 1_000
"""Namespaces with a policy of their own: each is one more scan per background pass."""


@dataclass(frozen=True, slots=True)
class Policy:
    """The rules of one namespace. None: that rule keeps everything.

    An ended execution goes when every rule that is set lets it go: older than
    `executions_age` and not among the `executions_keep_last` newest of its flow.
    """

    executions_age: timedelta | None = None
    executions_keep_last: int | None = None
    logs_age: timedelta | None = None
    audit_age: timedelta | None = None

    @property
    def purges_executions(self) -> bool:
        return self.executions_age is not None or self.executions_keep_last is not None


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    default: Policy = field(default_factory=Policy)
    namespaces: Mapping[str, Policy] = field(default_factory=dict)

    @property
    def enabled(self) -> bool:
        policies = (self.default, *self.namespaces.values())
        return any(p.purges_executions or p.logs_age or p.audit_age for p in policies)


def parse_retention(raw: Any) -> RetentionPolicy:
    """A policy from a TOML table or the environment's string; ValueError says what is wrong."""
    if isinstance(raw, RetentionPolicy):
        return raw
    if isinstance(raw, Mapping):
        return _from_table(raw)
    if isinstance(raw, str):
        return _from_line(raw)
    raise ValueError(f"expected a [retention] table or key=value pairs separated by ';', got {raw!r}")


def _from_table(table: Mapping[str, Any]) -> RetentionPolicy:
    overrides = table.get("namespaces", {})
    if not isinstance(overrides, Mapping) or not all(isinstance(v, Mapping) for v in overrides.values()):
        raise ValueError("namespaces must hold one table per namespace: [retention.namespaces.NAME]")
    default_values = {k: v for k, v in table.items() if k != "namespaces"}
    return _build(default_values, {str(name): dict(values) for name, values in overrides.items()})


def _from_line(line: str) -> RetentionPolicy:
    default_values: dict[str, Any] = {}
    overrides: dict[str, dict[str, Any]] = {}
    for part in (p.strip() for p in line.split(";")):
        if not part:
            continue
        key, equals, value = part.partition("=")
        if not equals:
            raise ValueError(f"expected key=value or namespace:key=value, got {part!r}")
        namespace, colon, key = key.rpartition(":")
        target = overrides.setdefault(namespace.strip(), {}) if colon else default_values
        if colon and not namespace.strip():
            raise ValueError(f"a namespace is missing before ':' in {part!r}")
        target[key.strip()] = value.strip()
    return _build(default_values, overrides)


def _build(default_values: Mapping[str, Any], overrides: Mapping[str, Mapping[str, Any]]) -> RetentionPolicy:
    if len(overrides) > MAX_NAMESPACES:
        raise ValueError(f"at most {MAX_NAMESPACES} namespaces may have a policy of their own, got {len(overrides)}")
    default = _policy(default_values, Policy(), "")
    namespaces: dict[str, Policy] = {}
    for name, values in overrides.items():
        if "audit_days" in values:
            raise ValueError(f"audit_days is not per namespace (audit entries have none), in namespace {name!r}")
        namespaces[name] = _policy(values, default, f" in namespace {name!r}")
    return RetentionPolicy(default, namespaces)


def _policy(values: Mapping[str, Any], base: Policy, where: str) -> Policy:
    unknown = sorted(set(values) - set(KEYS))
    if unknown:
        raise ValueError(f"unknown key {unknown[0]!r}{where}: use {', '.join(KEYS)}")
    changes: dict[str, Any] = {}
    for key, raw in values.items():
        limit = MAX_KEEP_LAST if key == "executions_keep_last" else MAX_DAYS
        number = _count(key, raw, limit, where)
        if key == "executions_keep_last":
            changes[key] = number or None
        else:
            changes[key.replace("_days", "_age")] = timedelta(days=number) if number else None
    return replace(base, **changes)


def _count(key: str, raw: Any, limit: int, where: str) -> int:
    """A whole number from 0 (the rule off) to `limit`; TOML gives ints, the environment text."""
    if isinstance(raw, bool) or not isinstance(raw, (int, str)):
        raise ValueError(f"{key}{where} must be a whole number, got {raw!r}")
    try:
        number = int(raw)
    except ValueError:
        raise ValueError(f"{key}{where} must be a whole number, got {raw!r}") from None
    if not 0 <= number <= limit:
        raise ValueError(f"{key}{where} must be between 0 (off) and {limit:,}, got {number}")
    return number
