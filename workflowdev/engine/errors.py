"""Domain errors: each carries the status and code the API answers with.

The engine raises these; one API middleware turns them into the JSON error of API.md. The
status is a plain number, so the engine still knows nothing of HTTP libraries.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from typing import ClassVar


class DomainError(Exception):
    status: ClassVar[int] = 400
    code: ClassVar[str] = "invalid"

    def __init__(self, message: str, details: Sequence[dict[str, Any]] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.details = list(details)
        self.headers: dict[str, str] = {}
        """Response headers the error needs (Retry-After on a 429)."""


class Invalid(DomainError):
    status = 400
    code = "invalid"


class NotFound(DomainError):
    status = 404
    code = "not_found"


class Conflict(DomainError):
    status = 409
    code = "conflict"


class Unauthorized(DomainError):
    status = 401
    code = "unauthorized"


class Forbidden(DomainError):
    status = 403
    code = "forbidden"


class Unavailable(DomainError):
    status = 503
    code = "unavailable"
