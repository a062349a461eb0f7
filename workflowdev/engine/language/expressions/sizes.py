"""Format strings measured before they run: `%` and `str.format` can turn a short template and a
small value into a huge text, so their result's length is estimated (within a small factor) and
refused before a byte of it exists.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from string import Formatter
from typing import TYPE_CHECKING
from typing import Any

from workflowdev.engine.language.expressions.errors import Refused

if TYPE_CHECKING:
    from workflowdev.engine.language.expressions.budget import Pass


_DIGITS = re.compile(r"\d+")
_FIELD_BASE = re.compile(r"[.\[]")
_PERCENT_FIELD = re.compile(
    r"%(?:\((?P<key>[^()]*)\))?[-#0 +]*(?P<width>\*|\d+)?(?:\.(?P<precision>\*|\d+))?[hlL]?"
    r"(?P<kind>[diouxXeEfFgGcrsa%])"
)


def _spec_number(digits: str | None) -> int:
    if not digits:
        return 0
    if digits == "*":
        raise Refused("a '*' width in a % format is not supported")
    return int(digits) if len(digits) <= 12 else 10**12


def percent_size(state: Pass, template: str, values: Any) -> int:
    """About the length of `template % values` (within a small factor), known before formatting."""
    positional = values if isinstance(values, tuple) else (values,)
    mapping = values if isinstance(values, Mapping) else None
    total = index = position = 0
    while (start := template.find("%", position)) != -1:
        field = _PERCENT_FIELD.match(template, start)
        if field is None:
            raise Refused(f"unsupported or malformed % format at position {start}")
        total += start - position
        position = field.end()
        if field["kind"] == "%":
            total += 1
            continue
        if field["key"] is not None:
            value = mapping.get(field["key"]) if mapping is not None else None
        else:
            value = positional[index] if index < len(positional) else None
            index += 1
        factor = 10 if field["kind"] in "ra" else 1
        total += _spec_number(field["width"]) + _spec_number(field["precision"])
        total += state.weight(value) * factor
        state.expect(total)
    return total + len(template) - position


def format_size(state: Pass, template: str, args: tuple[Any, ...], named: Any) -> int:
    """About the length of `template.format(…)` (within a small factor), known before formatting."""
    total = automatic = 0
    for literal, field, spec, conversion in Formatter().parse(template):
        total += len(literal)
        if field is None:
            continue
        if "{" in (spec or ""):
            raise Refused("format fields nested inside a format spec are not supported")
        total += sum(_spec_number(digits) for digits in _DIGITS.findall(spec or ""))
        base = _FIELD_BASE.split(field, maxsplit=1)[0]
        if base == "" or base.isdigit():
            position = automatic if base == "" else int(base)
            automatic += base == ""
            value = args[position] if position < len(args) else None
        else:
            value = named.get(base) if isinstance(named, Mapping) else None
        total += state.weight(value) * (10 if conversion in ("r", "a") else 1)
        state.expect(total)
    return total
