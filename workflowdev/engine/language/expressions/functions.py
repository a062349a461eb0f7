"""The functions a template may call besides `now()` and `kv()` (which belong to one session):
each bounded by the running pass, since `range(10**9)` or `dict(...)` are ways to build as much
as any operator.
"""

from __future__ import annotations

import uuid
from datetime import UTC
from datetime import datetime
from typing import Any

from workflowdev.engine.language.expressions.budget import active
from workflowdev.engine.language.expressions.errors import Refused


def utc_now() -> datetime:
    return datetime.now(UTC)


def bounded_range(*args: int) -> range:
    numbers = range(*args)
    limit = active().limits.max_iterations
    try:
        size = len(numbers)
    except OverflowError:
        size = limit + 1
    if size > limit:
        raise Refused(f"range() of more than {limit} numbers is over the loop limit")
    return numbers


def measured_dict(*args: Any, **kwargs: Any) -> dict[Any, Any]:
    return active().literal(dict(*args, **kwargs))  # type: ignore[no-any-return]


def random_uuid() -> str:
    return str(uuid.uuid4())
