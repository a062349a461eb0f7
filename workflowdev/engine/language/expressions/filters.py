"""The filters a template may use: Jinja2's own, each charged to the pass budgets, with the ones
that could multiply their input (padding, `replace`, `join`, `indent`, …) measured before they
run, plus `tojson` and `fromjson`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Mapping
from functools import update_wrapper
from typing import Any

from jinja2 import pass_environment
from jinja2 import pass_eval_context
from jinja2.environment import Environment
from jinja2.filters import do_batch
from jinja2.filters import do_center
from jinja2.filters import do_format
from jinja2.filters import do_indent
from jinja2.filters import do_replace
from jinja2.filters import do_wordwrap
from jinja2.filters import make_attrgetter
from jinja2.filters import sync_do_join
from jinja2.filters import sync_do_slice
from jinja2.nodes import EvalContext
from jinja2.runtime import Undefined
from markupsafe import soft_str

from workflowdev.engine.language.expressions.budget import LAZY
from workflowdev.engine.language.expressions.budget import active
from workflowdev.engine.language.expressions.errors import Refused
from workflowdev.engine.language.expressions.sizes import percent_size


def _charged(function: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a filter so that what it makes is charged to the render's budgets."""

    def charged(*args: Any, **kwargs: Any) -> Any:
        return active().built(function(*args, **kwargs))

    return update_wrapper(charged, function)  # keeps Jinja's pass_context & co. markers


def _timed(function: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a filter that picks one of its inputs: nothing is built, only the clock counts."""

    def timed(*args: Any, **kwargs: Any) -> Any:
        active().tick()
        return function(*args, **kwargs)

    return update_wrapper(timed, function)


def expect_replace(text: str, old: str, new: str, count: int | None) -> None:
    hits = text.count(old) if old else len(text) + 1
    if count is not None and count >= 0:
        hits = min(hits, count)
    active().expect(len(text) + hits * max(len(new) - len(old), 0))


def expect_join(separator: str, items: list[Any]) -> None:
    state = active()
    state.expect(sum(map(state.weight, items)) + len(separator) * max(len(items) - 1, 0))


def _center(value: Any, width: int = 80) -> str:
    active().expect(width)
    return do_center(value, width)


def _indent(s: Any, width: int | str = 4, first: bool = False, blank: bool = False) -> str:
    text = soft_str(s)
    state = active()
    if not isinstance(width, str):
        state.expect(width)
    unit = len(width) if isinstance(width, str) else width
    state.expect(len(text) + (text.count("\n") + 1) * unit)
    return do_indent(text, width, first, blank)


@pass_eval_context
def _replace(eval_ctx: EvalContext, s: Any, old: Any, new: Any, count: int | None = None) -> str:
    expect_replace(soft_str(s), soft_str(old), soft_str(new), count)
    return do_replace(eval_ctx, s, old, new, count)


def _format(value: Any, *args: Any, **kwargs: Any) -> str:
    state = active()
    state.expect(percent_size(state, soft_str(value), kwargs or args))
    return do_format(value, *args, **kwargs)


@pass_eval_context
def _join(
    eval_ctx: EvalContext, value: Iterable[Any], d: str = "", attribute: str | int | None = None
) -> str:
    if attribute is not None:
        value = map(make_attrgetter(eval_ctx.environment, attribute), value)
    items = list(value)
    expect_join(soft_str(d), items)
    return sync_do_join(eval_ctx, items, d)


@pass_environment
def _wordwrap(
    environment: Environment,
    s: Any,
    width: int = 79,
    break_long_words: bool = True,
    wrapstring: str | None = None,
    break_on_hyphens: bool = True,
) -> str:
    text = soft_str(s)
    joiner = environment.newline_sequence if wrapstring is None else soft_str(wrapstring)
    spaces = len(text) - len("".join(text.split()))
    breaks = spaces + text.count("-") + len(text) // max(width, 1) + 1
    active().expect(len(text) + breaks * len(joiner))
    return do_wordwrap(environment, s, width, break_long_words, wrapstring, break_on_hyphens)


def _batch(value: Iterable[Any], linecount: int, fill_with: Any = None) -> Iterator[list[Any]]:
    if fill_with is not None:
        state = active()
        state.expect(linecount * (state.weight(fill_with) + 2))
    return do_batch(value, linecount, fill_with)


def _slice(value: Any, slices: int, fill_with: Any = None) -> Iterator[list[Any]]:
    state = active()
    state.expect(slices * (1 if fill_with is None else state.weight(fill_with) + 2))
    return sync_do_slice(value, slices, fill_with)


@pass_environment
def _sum(
    environment: Environment,
    iterable: Iterable[Any],
    attribute: str | int | None = None,
    start: Any = 0,
) -> Any:
    """Like Jinja's sum, but each addition is measured like the `+` operator."""
    if attribute is not None:
        iterable = map(make_attrgetter(environment, attribute), iterable)
    state = active()
    total = start
    for item in iterable:
        total = state.binop("+", total, item)
    return total


def _json_default(value: Any) -> Any:
    if isinstance(value, Undefined):
        value._fail_with_undefined_error()
    if isinstance(value, LAZY):
        return list(value)
    raise Refused(f"tojson: a {type(value).__name__} value cannot be written as JSON")


def _tojson(value: Any, indent: int | None = None) -> str:
    """Compact JSON as an API expects it: key order kept, non-ASCII kept, no HTML escaping."""
    if indent is not None and not 0 <= indent <= 16:
        raise Refused("tojson: indent must be between 0 and 16")
    separators = (",", ":") if indent is None else (",", ": ")
    try:
        return json.dumps(
            value,
            ensure_ascii=False,
            allow_nan=False,
            indent=indent,
            separators=separators,
            default=_json_default,
        )
    except ValueError as error:
        raise Refused(f"tojson: {error}") from None


def _fromjson(value: Any) -> Any:
    if not isinstance(value, str):
        raise Refused(f"fromjson expects text, not {type(value).__name__}")
    try:
        return json.loads(value)
    except json.JSONDecodeError as error:
        raise Refused(
            f"fromjson: not valid JSON ({error.msg} at line {error.lineno}, column {error.colno})"
        ) from None


_REMOVED_FILTERS = frozenset({"urlize"})
_PICKING_FILTERS = frozenset({"attr", "d", "default", "first", "last", "max", "min", "random"})
_BOUNDED_FILTERS: dict[str, Callable[..., Any]] = {
    "batch": _batch,
    "center": _center,
    "format": _format,
    "fromjson": _fromjson,
    "indent": _indent,
    "join": _join,
    "replace": _replace,
    "slice": _slice,
    "sum": _sum,
    "tojson": _tojson,
    "wordwrap": _wordwrap,
}


def metered_filters(
    jinja_filters: Mapping[str, Callable[..., Any]],
) -> dict[str, Callable[..., Any]]:
    """The sandbox's filters: Jinja's, with the bounded ones above in their place, each wrapped
    so that what it builds (or only the time it takes, for those that pick) is charged."""
    builtin = {**jinja_filters, **_BOUNDED_FILTERS}
    return {
        name: (_timed if name in _PICKING_FILTERS else _charged)(function)
        for name, function in builtin.items()
        if name not in _REMOVED_FILTERS
    }
