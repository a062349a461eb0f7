"""What a trigger's `config` may say, and when a schedule fires next.

One checker for the API and for `triggers:` in a flow's YAML, so both refuse the same things
with the same words. Each problem is `(path inside config, message)`.

Schedules: five cron fields (minute … weekday), or six with SECONDS FIRST (`*/5 * * * * *`
fires every five seconds), evaluated in the trigger's IANA time zone. When clocks fall back,
the repeated wall-clock hour fires once: instants are only taken when their local wall-clock
time is later than the previous one's.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from collections.abc import Mapping
from datetime import datetime
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo
from zoneinfo import ZoneInfoNotFoundError

from workflowdev.engine.language import webhook_signature
from workflowdev.store.statuses import ENDED
from workflowdev.store.statuses import ExecutionStatus

TRIGGER_TYPES = ("webhook", "schedule", "flow")
TERMINAL_STATUSES = tuple(ENDED)
WEBHOOK_KEY = re.compile(r"^[A-Za-z0-9_-]{16,128}$")
MAX_CATCH_UP = 1000
"""Missed instants fired after downtime, at most; a per-second schedule down for a day is not
worth 86,400 executions."""

Problem = tuple[str, str]

_ALLOWED = {
    "webhook": {"key", "secret", "signature", "tolerance"},
    "schedule": {"cron", "timezone", "inputs", "catchUp"},
    "flow": {"upstreamFlowId", "statuses"},
}


def new_webhook_key() -> str:
    """43 URL-safe characters from the OS's CSPRNG."""
    return secrets.token_urlsafe(32)


def check_config(kind: str, config: Mapping[str, Any]) -> list[Problem]:
    """Problems with `config` for a trigger of type `kind` (the type itself is checked elsewhere)."""
    if kind not in _ALLOWED:
        return []
    problems = [(key, f"unknown setting for a {kind} trigger; allowed: {', '.join(sorted(_ALLOWED[kind]))}")
                for key in config if key not in _ALLOWED[kind]]
    if kind == "webhook":
        key = config.get("key")
        if key is not None and (not isinstance(key, str) or not WEBHOOK_KEY.match(key)):
            problems.append(("key", "must be 16 to 128 characters of A-Z, a-z, 0-9, '_' or '-'"))
        secret = config.get("secret")
        if secret is not None and (not isinstance(secret, str) or len(secret) < 8):
            problems.append(("secret", "must be a string of at least 8 characters"))
        problems += webhook_signature.config_problems(config)
    elif kind == "schedule":
        problems += _check_schedule(config)
    else:
        upstream = config.get("upstreamFlowId")
        if not isinstance(upstream, str) or not upstream:
            problems.append(("upstreamFlowId", "is required: the id of the flow whose executions fire this one"))
        statuses = config.get("statuses", [ExecutionStatus.SUCCESS])
        if not isinstance(statuses, list) or not statuses or any(s not in TERMINAL_STATUSES for s in statuses):
            problems.append(("statuses", f"must be a non-empty list of {', '.join(TERMINAL_STATUSES)}"))
    return problems


def _check_schedule(config: Mapping[str, Any]) -> list[Problem]:
    problems: list[Problem] = []
    cron = config.get("cron")
    if not isinstance(cron, str) or not cron.strip():
        problems.append(("cron", "is required, e.g. '0 * * * *' (hourly) or '*/5 * * * * *' (every 5 s)"))
    elif (message := cron_problem(cron)) is not None:
        problems.append(("cron", message))
    timezone = config.get("timezone", "UTC")
    if not isinstance(timezone, str) or zone(timezone) is None:
        problems.append(("timezone", f"unknown time zone {timezone!r}; use an IANA name such as Europe/Paris"))
    if not isinstance(config.get("inputs", {}), dict):
        problems.append(("inputs", "must be an object of the flow's inputs"))
    if not isinstance(config.get("catchUp", False), bool):
        problems.append(("catchUp", "must be true or false"))
    return problems


def cron_problem(cron: str) -> str | None:
    fields = cron.split()
    if len(fields) not in (5, 6):
        return f"a cron expression has 5 fields, or 6 with seconds first; {cron!r} has {len(fields)}"
    from croniter import croniter  # loaded by the first schedule, not by every start

    if not croniter.is_valid(cron, second_at_beginning=len(fields) == 6):
        return f"invalid cron expression {cron!r}"
    return None


def zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def instants_after(cron: str, timezone: str, after: datetime) -> Iterator[datetime]:
    """The schedule's instants strictly after `after`, as aware datetimes in UTC, forever.

    Wall-clock times only ever increase, so a repeated hour at a DST fall-back fires once.
    """
    from croniter import croniter

    tz = zone(timezone) or ZoneInfo("UTC")
    seconds_first = len(cron.split()) == 6
    local_start = after.astimezone(tz)
    iterator = croniter(cron, local_start, second_at_beginning=seconds_first)
    last_wall = local_start.replace(tzinfo=None)
    while True:
        candidate: datetime = iterator.get_next(datetime)
        wall = candidate.replace(tzinfo=None)
        if wall <= last_wall:
            continue
        last_wall = wall
        yield candidate.astimezone(ZoneInfo("UTC")).replace(fold=0)


def next_instant(cron: str, timezone: str, after: datetime) -> datetime:
    return next(instants_after(cron, timezone, after))


def instants_due(cron: str, timezone: str, *, since: datetime, until: datetime, limit: int) -> list[datetime]:
    """The latest `limit` instants in [since, until], oldest first, each wall-clock time once.

    Walks back from `until`, so a schedule that was down for a long time costs `limit` steps,
    not one step per missed instant.
    """
    from croniter import croniter

    tz = zone(timezone) or ZoneInfo("UTC")
    seconds_first = len(cron.split()) == 6
    iterator = croniter(cron, until.astimezone(tz) + timedelta(microseconds=1), second_at_beginning=seconds_first)
    found: dict[datetime, datetime] = {}
    while len(found) < limit:
        candidate: datetime = iterator.get_prev(datetime)
        utc = candidate.astimezone(ZoneInfo("UTC")).replace(fold=0)
        if utc < since:
            break
        found[candidate.replace(tzinfo=None, fold=0)] = utc  # a repeated wall time keeps its first occurrence
    return sorted(found.values())
