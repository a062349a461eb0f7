"""What one pass hands back: a lone expression's native value, checked to be plain data a task can
take, or the rendered text, measured while it grows.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from jinja2.runtime import StrictUndefined
from jinja2.runtime import Undefined
from markupsafe import Markup

from workflowdev.engine.language.expressions.budget import CHECK_EVERY
from workflowdev.engine.language.expressions.budget import CONTAINERS
from workflowdev.engine.language.expressions.budget import FUNCTION_VALUE
from workflowdev.engine.language.expressions.budget import LAZY
from workflowdev.engine.language.expressions.budget import Pass
from workflowdev.engine.language.expressions.errors import Refused


def native(value: Any, state: Pass, deep: bool) -> Any:
    """A lone expression's value as a task receives it."""
    if isinstance(value, Undefined):
        if isinstance(value, StrictUndefined):
            value._fail_with_undefined_error()
        return None  # the missing `else` of `{{ x if cond }}`
    if isinstance(value, Markup):
        return str(value)
    if isinstance(value, LAZY):
        value, deep = state.built(list(value)), True
    if callable(value):
        raise Refused(FUNCTION_VALUE)
    if deep:
        _check_plain(value, state)
    return value


def _check_plain(value: Any, state: Pass) -> None:
    """Refuse what no task can take: a missing value, a function or a lazy sequence inside."""
    stack, seen, visits = [value], set(), 0
    while stack:
        node = stack.pop()
        if isinstance(node, (str, int, float)) or node is None:
            continue
        if isinstance(node, Undefined):
            if isinstance(node, StrictUndefined):
                node._fail_with_undefined_error()
            raise Refused("the value holds an undefined part (an `if` without `else`?)")
        if isinstance(node, CONTAINERS):
            if id(node) not in seen:
                seen.add(id(node))
                stack.extend(node.values() if isinstance(node, dict) else node)
        elif isinstance(node, LAZY):
            raise Refused("the value holds a lazy sequence (map, select, …): add `| list`")
        elif callable(node):
            raise Refused(FUNCTION_VALUE)
        visits += 1
        if visits % CHECK_EVERY == 0:
            state.tick()


def joined(chunks: Iterable[str], state: Pass) -> str:
    """The rendered text, measured in characters while it grows and in UTF-8 bytes at the end
    (strings built along the way are measured in characters, which is cheaper)."""
    limit = state.limits.max_output_bytes
    too_large = f"the rendered text is larger than the limit of {limit} bytes"
    parts: list[str] = []
    size = 0
    for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise Refused(too_large)
        state.tick()
        parts.append(chunk)
    text = "".join(parts)
    if len(text) * 4 > limit and len(text.encode("utf-8", "surrogatepass")) > limit:
        raise Refused(too_large)
    return text
