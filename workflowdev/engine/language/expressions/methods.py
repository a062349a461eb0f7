"""Methods of built-in values a template may call: an allow-list, with the ones that build text
from their arguments (padding, `replace`, `join`, `expandtabs`) measured before they run.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterable
from functools import partial
from typing import Any

from workflowdev.engine.language.expressions.budget import active
from workflowdev.engine.language.expressions.filters import expect_join
from workflowdev.engine.language.expressions.filters import expect_replace


def _padded(name: str) -> Callable[..., str]:
    def pad(text: str, width: int, *fill: str) -> str:
        active().expect(width)
        result: str = getattr(str, name)(text, width, *fill)
        return result

    return pad


def _expandtabs(text: str, tabsize: int = 8) -> str:
    active().expect(len(text) + text.count("\t") * tabsize)
    return str.expandtabs(text, tabsize)


def _text_replace(text: str, old: str, new: str, count: int = -1) -> str:
    expect_replace(text, old, new, count)
    return str.replace(text, old, new, count)


def _text_join(separator: str, iterable: Iterable[Any]) -> str:
    items = list(iterable)
    expect_join(separator, items)
    return str.join(separator, items)


_TEXT_METHODS = frozenset(
    "capitalize casefold count endswith find index isalnum isalpha isascii isdecimal isdigit "
    "isidentifier islower isnumeric isprintable isspace istitle isupper lower lstrip partition "
    "removeprefix removesuffix rfind rindex rpartition rsplit rstrip split splitlines startswith "
    "strip swapcase title upper".split()
)
_BOUNDED_TEXT_METHODS: dict[str, Callable[..., str]] = {
    "center": _padded("center"),
    "ljust": _padded("ljust"),
    "rjust": _padded("rjust"),
    "zfill": _padded("zfill"),
    "expandtabs": _expandtabs,
    "replace": _text_replace,
    "join": _text_join,
}
_SEQUENCE_METHODS = frozenset({"count", "index", "copy"})
_DICT_METHODS = frozenset({"copy", "get", "items", "keys", "values"})
BUILTIN_VALUES = (str, list, tuple, dict, int, float, complex)


def allowed_method(method: Any) -> Callable[..., Any] | None:
    """What to run for a method of a built-in value, or None when the method is refused.

    An allow-list, because the dangerous ones are ordinary-looking: `str.translate` with a
    table mapping one letter to a megabyte, `int.to_bytes(10**9)`.
    """
    owner, name = method.__self__, method.__name__
    if isinstance(owner, str):
        if name in _TEXT_METHODS:
            return method  # type: ignore[no-any-return]
        bounded = _BOUNDED_TEXT_METHODS.get(name)
        return partial(bounded, owner) if bounded is not None else None
    if isinstance(owner, dict):
        return method if name in _DICT_METHODS else None  # type: ignore[no-any-return]
    if isinstance(owner, (list, tuple)):
        return method if name in _SEQUENCE_METHODS else None  # type: ignore[no-any-return]
    return None
