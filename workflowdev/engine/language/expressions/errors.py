"""What can go wrong in an expression, and the words an operator reads about it.

Kept apart from the machinery so that callers (the runner, the credential service) can name the
errors without importing Jinja2's sandbox, and so every module of the package reports the same way.
"""

from __future__ import annotations

from jinja2.exceptions import SecurityError
from jinja2.exceptions import TemplateError


class SafeResolverError(Exception):
    """A credential lookup failure whose message holds no secret and may be shown as is."""


class ExpressionError(Exception):
    """An expression could not be rendered. The message is for the operator and holds no secret."""


class Refused(Exception):
    """A limit or a rule stopped the render; the message says which."""


def quoted(source: str) -> str:
    return repr(source if len(source) <= 120 else source[:117] + "...")


def reason(error: Exception) -> str:
    if isinstance(error, Refused):
        return str(error)
    if isinstance(error, SecurityError):
        return f"not allowed: {error.message}"
    if isinstance(error, TemplateError):
        return error.message or type(error).__name__
    if isinstance(error, RecursionError):
        return "it nests or recurses too deeply"
    if isinstance(error, MemoryError):
        return "it ran out of memory"
    return f"{type(error).__name__}: {error}"
