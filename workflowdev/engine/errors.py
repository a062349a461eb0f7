"""Domain errors: each carries the status and code the API answers with.

The engine raises these; one API middleware turns them into the JSON error of API.md. The
status is a plain number, so the engine still knows nothing of HTTP libraries.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from typing import ClassVar
from typing import TypeVar

T = TypeVar("T")


class DomainError(Exception):
    """Subclasses say their answer in the class line: `class Gone(DomainError, status=410, code="gone")`."""

    status: ClassVar[int] = 400
    code: ClassVar[str] = "invalid"

    def __init_subclass__(cls, *, status: int | None = None, code: str | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if status is not None:
            cls.status = status
        if code is not None:
            cls.code = code

    def __init__(self, message: str, details: Sequence[dict[str, Any]] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.details = list(details)
        self.headers: dict[str, str] = {}
        """Response headers the error needs (Retry-After on a 429)."""


class Invalid(DomainError, status=400, code="invalid"):
    """The request breaks a rule; `details` points at each offending field."""


class NotFound(DomainError, status=404, code="not_found"):
    """What the request names does not exist."""


class Conflict(DomainError, status=409, code="conflict"):
    """The request is sound but clashes with the current state (a name taken, an execution over)."""


class Unauthorized(DomainError, status=401, code="unauthorized"):
    """Who is asking is unknown: no credentials, or wrong ones."""


class Forbidden(DomainError, status=403, code="forbidden"):
    """Who is asking is known, and may not do this."""


class Unavailable(DomainError, status=503, code="unavailable"):
    """This node cannot serve the request as it stands (say, it holds another master key)."""


def must_exist(found: T | None, noun: str, key: str) -> T:
    """`found`, or NotFound "<noun> <key> not found": every lookup by id misses in the same words."""
    if found is None:
        raise NotFound(f"{noun} {key} not found")
    return found
