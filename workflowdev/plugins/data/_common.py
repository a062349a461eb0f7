"""What the data task types share: JMESPath compiled and searched with messages that name the
property, ordering rules, and the work moved off the event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from collections.abc import Mapping
from typing import Final

import jmespath
from jmespath.exceptions import EmptyExpressionError
from jmespath.exceptions import IncompleteExpressionError
from jmespath.exceptions import JMESPathError
from jmespath.exceptions import LexerError
from jmespath.exceptions import ParseError
from jmespath.parser import ParsedResult

from workflowdev.engine.plugin import JSON
from workflowdev.engine.plugin import TaskFailed
from workflowdev.engine.plugin import as_text
from workflowdev.plugins._data_formats import MAX_TEXT_BYTES
from workflowdev.plugins._toolkit import read_required
from workflowdev.plugins._toolkit import type_name

AGGREGATE_OPERATIONS: Final = ("count", "sum", "avg", "min", "max", "count_distinct")
RAGGED_MODES: Final = ("error", "pad", "keep")
LINE_ENDINGS: Final = {"lf": "\n", "crlf": "\r\n"}
DEFAULT_MAX_ERRORS: Final = 20
MAX_MESSAGE_CHARS: Final = 500
"""A validation message quotes the offending value, which may be a whole document."""

MIB: Final = MAX_TEXT_BYTES // (1024 * 1024)
DELIMITER_SCHEMA: Final[dict[str, JSON]] = {
    "type": "string",
    "minLength": 1,
    "maxLength": 1,
    "pattern": '^[^"\\r\\n]$',
    "default": ",",
    "description": "The character between cells: `,` by default; `;`, a tab or `|` are common too.",
}


def expression_schema(description: str) -> dict[str, JSON]:
    return {"type": "string", "minLength": 1, "description": description}


async def in_thread(
    work: Callable[[Mapping[str, JSON]], dict[str, JSON]], properties: Mapping[str, JSON]
) -> dict[str, JSON]:
    return await asyncio.to_thread(work, properties)


# -- JMESPath -----------------------------------------------------------------------------------


def compile_expression(expression: JSON, where: str) -> ParsedResult:
    """Compile once per task, failing with the expression and the column of the fault."""
    if not isinstance(expression, str):
        raise TaskFailed(f"{where} must be a JMESPath expression (text), got {type_name(expression)}")
    try:
        return jmespath.compile(expression)
    except EmptyExpressionError:
        raise TaskFailed(f"{where} is empty; it must be a JMESPath expression") from None
    except ParseError as exc:
        if isinstance(exc, IncompleteExpressionError):
            detail, column = "the expression ends too early", len(expression) + 1
        elif isinstance(exc, LexerError):
            detail, column = exc.message, exc.lexer_position + 1
        else:
            detail, column = exc.msg, exc.lex_position + 1
        raise TaskFailed(
            f"invalid JMESPath expression in {where}, {expression!r}, at column {column}: {detail}"
        ) from None


def read_expression(properties: Mapping[str, JSON], name: str) -> ParsedResult:
    """The required property `name`, a JMESPath expression, compiled."""
    return compile_expression(read_required(properties, name), name)


def search(parsed: ParsedResult, value: JSON, where: str, item: str | None = None) -> JSON:
    """Evaluate, turning the library's runtime errors (wrong argument types, unknown functions,
    `<` between text and a number) into a message naming the expression and the item."""
    try:
        return parsed.search(value)
    except (JMESPathError, TypeError) as exc:
        on = f" on {item}" if item else ""
        raise TaskFailed(f"JMESPath expression {parsed.expression!r} in {where} failed{on}: {exc}") from None


def truthy(value: JSON) -> bool:
    """JMESPath's truth: false, null and empty text, lists and objects are false; 0 is true."""
    return not (value is None or value is False or value in ("", [], {}))


def group_key(value: JSON) -> str:
    """Object keys are text: strings as they are, anything else (1, true, null) as JSON text."""
    return value if isinstance(value, str) else as_text(value)


_ORDERED_KINDS: Final = ("a boolean", "a number", "text")
"""The type names (`type_name`) of values that order sensibly among themselves (false first)."""


def _ordering_kind(value: JSON, what: str) -> str:
    """`value`'s type name, when values of that type can be ordered among themselves."""
    kind = type_name(value)
    if kind not in _ORDERED_KINDS:
        raise TaskFailed(f"{what} is {kind}; only numbers, text and booleans can be ordered")
    return kind


def one_kind(values: list[tuple[int, JSON]], label: str) -> None:
    """All non-null values of one key must be of one kind; say which two items disagree."""
    first: tuple[int, str] | None = None
    for index, value in values:
        kind = _ordering_kind(value, f"{label} of items[{index}]")
        if first is None:
            first = (index, kind)
        elif kind != first[1]:
            raise TaskFailed(
                f"{label} is {first[1]} in items[{first[0]}] but {kind} in items[{index}]; "
                "make them one type first (for instance with to_number() or to_string())"
            )
