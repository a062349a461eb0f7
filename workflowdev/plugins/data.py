"""data: query, reshape, parse, check and format JSON-like data inside a flow, with no code.

The flow has already rendered every property once; what these tasks receive is data and it is
never rendered again. Queries, conditions and keys are JMESPath (https://jmespath.org), a
language with no side effects that sees only the value it is given, and data.template fills
`$name` placeholders and nothing else. The text parsers bound the size and nesting of what they
read, because that text usually comes from outside (a download, a webhook, a file). Every task
does its work in a worker thread, so a large document does not hold up the server; a cancelled
task stops waiting at once and the thread finishes its bounded piece of work in the background.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
from collections.abc import Callable, Mapping
from typing import ClassVar, Final

import jmespath
from jmespath.exceptions import (
    EmptyExpressionError,
    IncompleteExpressionError,
    JMESPathError,
    LexerError,
    ParseError,
)
from jmespath.parser import ParsedResult
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from jsonschema.validators import validator_for
from referencing.exceptions import Unresolvable

from workflowdev.engine.plugin import JSON, Manifest, Plugin, TaskContext, TaskFailed, as_text
from workflowdev.plugins._data_formats import (
    MAX_ALIAS_NODES,
    MAX_DEPTH,
    MAX_TEXT_BYTES,
    format_csv,
    parse_csv,
    parse_json,
    parse_yaml,
    render_template,
    type_name,
)

__all__ = [
    "PLUGINS",
    "Aggregate",
    "CsvFormat",
    "CsvParse",
    "Filter",
    "GroupBy",
    "JsonParse",
    "Query",
    "Sort",
    "Template",
    "Transform",
    "Validate",
    "YamlParse",
]

AGGREGATE_OPERATIONS: Final = ("count", "sum", "avg", "min", "max", "count_distinct")
RAGGED_MODES: Final = ("error", "pad", "keep")
LINE_ENDINGS: Final = {"lf": "\n", "crlf": "\r\n"}
DEFAULT_MAX_ERRORS: Final = 20
MAX_MESSAGE_CHARS: Final = 500
"""A validation message quotes the offending value, which may be a whole document."""

_MIB: Final = MAX_TEXT_BYTES // (1024 * 1024)
_DELIMITER_SCHEMA: Final[dict[str, JSON]] = {
    "type": "string",
    "minLength": 1,
    "maxLength": 1,
    "pattern": '^[^"\\r\\n]$',
    "default": ",",
    "description": "The character between cells: `,` by default; `;`, a tab or `|` are common too.",
}


def _object(properties: dict[str, JSON], required: list[str], **extra: JSON) -> dict[str, JSON]:
    return {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
        **extra,
    }


def _expression(description: str) -> dict[str, JSON]:
    return {"type": "string", "minLength": 1, "description": description}


async def _in_thread(
    work: Callable[[Mapping[str, JSON]], dict[str, JSON]], properties: Mapping[str, JSON]
) -> dict[str, JSON]:
    return await asyncio.to_thread(work, properties)


# -- reading properties (an expression may have rendered a value of another type) ---------------


def _required(properties: Mapping[str, JSON], name: str) -> JSON:
    if name not in properties:
        raise TaskFailed(f"{name} is required")
    return properties[name]


def _list(properties: Mapping[str, JSON], name: str) -> list[JSON]:
    value = _required(properties, name)
    if not isinstance(value, list):
        raise TaskFailed(f"{name} must be a list, got {type_name(value)}")
    return value


def _text(properties: Mapping[str, JSON], name: str, default: str | None = None) -> str:
    value = properties.get(name, default) if default is not None else _required(properties, name)
    if not isinstance(value, str):
        raise TaskFailed(f"{name} must be text, got {type_name(value)}")
    return value


def _flag(properties: Mapping[str, JSON], name: str, default: bool) -> bool:
    value = properties.get(name, default)
    if not isinstance(value, bool):
        raise TaskFailed(f"{name} must be true or false, got {as_text(value)}")
    return value


def _choice(properties: Mapping[str, JSON], name: str, choices: tuple[str, ...], default: str | None = None) -> str:
    value = properties.get(name, default) if default is not None else _required(properties, name)
    if value not in choices:
        raise TaskFailed(f"{name} must be one of {', '.join(choices)}; got {as_text(value)}")
    return value


def _delimiter(properties: Mapping[str, JSON]) -> str:
    value = _text(properties, "delimiter", ",")
    if len(value) != 1 or value in '"\r\n':
        raise TaskFailed(f"delimiter must be one character other than a quote or a line break, got {value!r}")
    return value


# -- JMESPath -----------------------------------------------------------------------------------


def _compile(expression: JSON, where: str) -> ParsedResult:
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


def _search(parsed: ParsedResult, value: JSON, where: str, item: str | None = None) -> JSON:
    """Evaluate, turning the library's runtime errors (wrong argument types, unknown functions,
    `<` between text and a number) into a message naming the expression and the item."""
    try:
        return parsed.search(value)
    except (JMESPathError, TypeError) as exc:
        on = f" on {item}" if item else ""
        raise TaskFailed(f"JMESPath expression {parsed.expression!r} in {where} failed{on}: {exc}") from None


def _truthy(value: JSON) -> bool:
    """JMESPath's truth: false, null and empty text, lists and objects are false; 0 is true."""
    return not (value is None or value is False or value in ("", [], {}))


def _group_key(value: JSON) -> str:
    """Object keys are text: strings as they are, anything else (1, true, null) as JSON text."""
    return value if isinstance(value, str) else as_text(value)


def _ordering_kind(value: JSON, what: str) -> str:
    """Values that order sensibly among themselves: numbers, text, or booleans (false first)."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "text"
    raise TaskFailed(f"{what} is {type_name(value)}; only numbers, text and booleans can be ordered")


def _one_kind(values: list[tuple[int, JSON]], label: str) -> None:
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


# -- queries over data --------------------------------------------------------------------------


class Query(Plugin):
    """Pick, reshape or compute from a value with one JMESPath expression."""

    manifest: ClassVar[Manifest] = Manifest(
        id="data.jmespath",
        name="Query with JMESPath",
        category="data",
        description=(
            "Evaluates a JMESPath expression (https://jmespath.org) against `data` and returns "
            "the result: pick fields (`user.name`), filter (``items[?price > `10`]``), project "
            "(`items[*].id`), build objects (`{id: id, total: sum(lines[*].amount)}`), sort "
            "(`sort_by(items, &date)`). A path that does not exist gives null, not an error. "
            "A syntax error fails the task naming the column; so does a function given the wrong "
            "type (`sum` over text) or `<`/`>` between text and a number."
        ),
        input_schema=_object(
            {
                "data": {"description": "The value to query: any JSON, usually a task's output."},
                "expression": _expression("The JMESPath expression, evaluated against `data`."),
            },
            ["data", "expression"],
        ),
        output_schema=_object(
            {"result": {"description": "What the expression evaluates to; null when nothing matches."}},
            ["result"],
        ),
        examples=(
            "- name: expensive_names\n"
            "  type: data.jmespath\n"
            "  properties:\n"
            "    data: {items: [{name: pen, price: 2}, {name: lamp, price: 40}, {name: desk, price: 150}]}\n"
            '    expression: "items[?price > `10`].name"\n',
        ),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        return await _in_thread(_query, properties)


def _query(properties: Mapping[str, JSON]) -> dict[str, JSON]:
    parsed = _compile(_required(properties, "expression"), "expression")
    return {"result": _search(parsed, _required(properties, "data"), "expression")}


class Transform(Plugin):
    """Build new objects field by field, one JMESPath expression per output field."""

    manifest: ClassVar[Manifest] = Manifest(
        id="data.transform",
        name="Transform records",
        category="data",
        description=(
            "Maps `data` (a list of items, or one object) through `fields`: each output field is "
            "a JMESPath expression evaluated against the item, so `{id: id, email: contact.email, "
            "total: sum(lines[*].amount)}` renames, flattens and computes. A list gives a list of "
            "the same length and order; an object gives an object. With `keep: true` each item's "
            "own fields are kept and the computed ones added or replaced (items must be objects). "
            "Expressions are JMESPath, not `{{ }}`: values are data and are never rendered again."
        ),
        input_schema=_object(
            {
                "data": {
                    "type": ["array", "object"],
                    "description": "A list of items to transform one by one, or a single object.",
                },
                "fields": {
                    "type": "object",
                    "minProperties": 1,
                    "additionalProperties": {"type": "string", "minLength": 1},
                    "description": "Output field name → JMESPath expression evaluated against each item.",
                },
                "keep": {
                    "type": "boolean",
                    "default": False,
                    "description": "Keep each item's own fields and add the computed ones (false: only the computed ones).",
                },
            },
            ["data", "fields"],
        ),
        output_schema=_object(
            {
                "result": {
                    "type": ["array", "object"],
                    "description": "The transformed list (same order) or object, as `data` was.",
                }
            },
            ["result"],
        ),
        examples=(
            "- name: order_summaries\n"
            "  type: data.transform\n"
            "  properties:\n"
            "    data:\n"
            "      - {id: 7, customer: {name: Ada}, lines: [{amount: 5}, {amount: 7.5}]}\n"
            "      - {id: 8, customer: {name: Linus}, lines: [{amount: 20}]}\n"
            "    fields:\n"
            "      order: id\n"
            "      who: customer.name\n"
            "      total: sum(lines[*].amount)\n",
        ),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        return await _in_thread(_transform, properties)


def _transform(properties: Mapping[str, JSON]) -> dict[str, JSON]:
    fields = _required(properties, "fields")
    if not isinstance(fields, dict) or not fields:
        raise TaskFailed(f"fields must be an object of field name → JMESPath expression, got {as_text(fields)}")
    compiled = {name: _compile(expression, f"fields.{name}") for name, expression in fields.items()}
    keep = _flag(properties, "keep", False)

    def one(item: JSON, where: str) -> dict[str, JSON]:
        if keep and not isinstance(item, dict):
            raise TaskFailed(f"{where} is {type_name(item)}; keep: true needs objects")
        out: dict[str, JSON] = dict(item) if keep else {}
        for name, parsed in compiled.items():
            out[name] = _search(parsed, item, f"fields.{name}", where)
        return out

    data = _required(properties, "data")
    if isinstance(data, list):
        return {"result": [one(item, f"data[{index}]") for index, item in enumerate(data)]}
    if isinstance(data, dict):
        return {"result": one(data, "data")}
    raise TaskFailed(f"data must be a list or an object, got {type_name(data)}")


class Filter(Plugin):
    """Keep the items of a list for which a JMESPath condition holds."""

    manifest: ClassVar[Manifest] = Manifest(
        id="data.filter",
        name="Filter a list",
        category="data",
        description=(
            "Keeps the items of `items` for which the JMESPath expression `where` is true, in "
            "their order. `where` is evaluated against each item, as inside `[? ]`: "
            "``price > `10` ``, `status == 'open' && contains(tags, 'vip')`, `!archived`. "
            "JMESPath truth applies: false, null and empty text, lists and objects are false, "
            "everything else (0 included) is true. A missing field is null, so its item is "
            "dropped; comparing text with a number with `<`/`>` fails the task naming the item."
        ),
        input_schema=_object(
            {
                "items": {"type": "array", "description": "The list to filter."},
                "where": _expression("JMESPath condition evaluated against each item; kept when true."),
            },
            ["items", "where"],
        ),
        output_schema=_object(
            {
                "result": {"type": "array", "description": "The items kept, in their original order."},
                "count": {"type": "integer", "minimum": 0, "description": "How many items were kept."},
            },
            ["result", "count"],
        ),
        examples=(
            "- name: big_open_orders\n"
            "  type: data.filter\n"
            "  properties:\n"
            "    items:\n"
            "      - {id: 1, status: open, total: 120}\n"
            "      - {id: 2, status: closed, total: 300}\n"
            "      - {id: 3, status: open, total: 15}\n"
            "    where: \"status == 'open' && total > `100`\"\n",
        ),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        return await _in_thread(_filter, properties)


def _filter(properties: Mapping[str, JSON]) -> dict[str, JSON]:
    parsed = _compile(_required(properties, "where"), "where")
    kept = [
        item
        for index, item in enumerate(_list(properties, "items"))
        if _truthy(_search(parsed, item, "where", f"items[{index}]"))
    ]
    return {"result": kept, "count": len(kept)}


class Sort(Plugin):
    """Order a list by one or more keys, stably, with missing keys last."""

    manifest: ClassVar[Manifest] = Manifest(
        id="data.sort",
        name="Sort a list",
        category="data",
        description=(
            "Sorts `items` by the keys in `by`, each a JMESPath expression evaluated against the "
            'item (a field name such as `price` is one; quote names with dashes: `"first-name"`). '
            "The first key decides, the next ones break ties; equal items keep their order. "
            "Without `by` the items themselves are the key. `reverse` sorts descending. Items whose "
            "key is null or missing always come last, in either direction. Keys must be numbers, "
            "text (compared by code point) or booleans, one type per key: a key that is a number "
            "in one item and text in another fails the task naming both items."
        ),
        input_schema=_object(
            {
                "items": {"type": "array", "description": "The list to sort."},
                "by": {
                    "anyOf": [
                        {"type": "string", "minLength": 1},
                        {"type": "array", "items": {"type": "string", "minLength": 1}, "minItems": 1},
                    ],
                    "description": "A JMESPath key, or a list of them (most significant first). Default: the item itself.",
                },
                "reverse": {"type": "boolean", "default": False, "description": "Sort descending (nulls stay last)."},
            },
            ["items"],
        ),
        output_schema=_object(
            {"result": {"type": "array", "description": "The same items, sorted."}},
            ["result"],
        ),
        examples=(
            "- name: newest_first\n"
            "  type: data.sort\n"
            "  properties:\n"
            "    items:\n"
            "      - {name: b.txt, modified: '2024-05-02', size: 10}\n"
            "      - {name: a.txt, modified: '2024-05-03', size: 7}\n"
            "      - {name: c.txt, size: 1}\n"
            "      - {name: d.txt, modified: '2024-05-02', size: 99}\n"
            "    by: [modified, size]\n"
            "    reverse: true\n",
        ),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        return await _in_thread(_sort, properties)


def _sort(properties: Mapping[str, JSON]) -> dict[str, JSON]:
    items = _list(properties, "items")
    by = properties.get("by", "@")
    expressions = [by] if isinstance(by, str) else by
    if not isinstance(expressions, list) or not expressions:
        raise TaskFailed(f"by must be a JMESPath expression or a list of them, got {as_text(by)}")
    reverse = _flag(properties, "reverse", False)
    keys: list[list[JSON]] = [[] for _ in items]
    for position, expression in enumerate(expressions):
        where = f"by[{position}]" if isinstance(by, list) else "by"
        parsed = _compile(expression, where)
        column = [(index, _search(parsed, item, where, f"items[{index}]")) for index, item in enumerate(items)]
        label = "the item" if expression == "@" else f"sort key {expression!r}"
        _one_kind([(index, value) for index, value in column if value is not None], label)
        for index, value in column:
            keys[index].append(value)
    order = list(range(len(items)))
    for position in reversed(range(len(expressions))):  # stable passes, least significant key first
        present = [index for index in order if keys[index][position] is not None]
        present.sort(key=lambda index: keys[index][position], reverse=reverse)
        order = present + [index for index in order if keys[index][position] is None]
    return {"result": [items[index] for index in order]}


class GroupBy(Plugin):
    """Split a list into groups that share a key."""

    manifest: ClassVar[Manifest] = Manifest(
        id="data.group_by",
        name="Group a list",
        category="data",
        description=(
            "Groups `items` by the JMESPath expression `by`, evaluated against each item. "
            "`groups` maps each key to its items (in their order) and `counts` to how many there "
            "are; keys appear in the order they are first met. Keys are text, because object keys "
            "are: text stays as it is, other values are written as JSON (`1`, `true`, and `null` "
            "for items where the key is missing)."
        ),
        input_schema=_object(
            {
                "items": {"type": "array", "description": "The list to group."},
                "by": _expression("JMESPath expression giving each item's group key."),
            },
            ["items", "by"],
        ),
        output_schema=_object(
            {
                "groups": {
                    "type": "object",
                    "additionalProperties": {"type": "array"},
                    "description": "Group key → the items with that key, in their original order.",
                },
                "counts": {
                    "type": "object",
                    "additionalProperties": {"type": "integer", "minimum": 1},
                    "description": "Group key → number of items in the group.",
                },
            },
            ["groups", "counts"],
        ),
        examples=(
            "- name: by_team\n"
            "  type: data.group_by\n"
            "  properties:\n"
            "    items:\n"
            "      - {user: ada, team: core}\n"
            "      - {user: linus, team: kernel}\n"
            "      - {user: grace, team: core}\n"
            "    by: team\n",
        ),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        return await _in_thread(_group_by, properties)


def _grouped(items: list[JSON], parsed: ParsedResult, where: str) -> dict[str, list[tuple[int, JSON]]]:
    groups: dict[str, list[tuple[int, JSON]]] = {}
    for index, item in enumerate(items):
        key = _group_key(_search(parsed, item, where, f"items[{index}]"))
        groups.setdefault(key, []).append((index, item))
    return groups


def _group_by(properties: Mapping[str, JSON]) -> dict[str, JSON]:
    parsed = _compile(_required(properties, "by"), "by")
    groups = _grouped(_list(properties, "items"), parsed, "by")
    return {
        "groups": {key: [item for _, item in members] for key, members in groups.items()},
        "counts": {key: len(members) for key, members in groups.items()},
    }


class Aggregate(Plugin):
    """One summary number (or value) over a list, for the whole list or per group."""

    manifest: ClassVar[Manifest] = Manifest(
        id="data.aggregate",
        name="Aggregate a list",
        category="data",
        description=(
            "Computes `operation` over `field` (a JMESPath expression evaluated against each item) "
            "of `items`: count, sum, avg, min, max or count_distinct. Null and missing values are "
            "skipped; `count` without a field counts the items. sum and avg need numbers (a sum of "
            "integers stays an integer); min and max take numbers or text, not both. Over no "
            "values, sum and the counts give 0, avg/min/max give null. With `group_by` (a "
            "JMESPath key, as in data.group_by) the result is an object of key → value instead "
            "of one value."
        ),
        input_schema=_object(
            {
                "items": {"type": "array", "description": "The list to aggregate."},
                "operation": {
                    "type": "string",
                    "enum": list(AGGREGATE_OPERATIONS),
                    "description": "What to compute.",
                },
                "field": _expression("JMESPath expression giving the value of each item; optional for count."),
                "group_by": _expression("JMESPath key: aggregate per group instead of over the whole list."),
            },
            ["items", "operation"],
            **{
                "if": {
                    "properties": {"operation": {"enum": [op for op in AGGREGATE_OPERATIONS if op != "count"]}},
                    "required": ["operation"],
                },
                "then": {"required": ["field"]},
            },
        ),
        output_schema=_object(
            {
                "result": {
                    "type": ["number", "string", "boolean", "null", "object"],
                    "description": "The value; with group_by, an object of group key → value.",
                }
            },
            ["result"],
        ),
        examples=(
            "- name: revenue_per_region\n"
            "  type: data.aggregate\n"
            "  properties:\n"
            "    items:\n"
            "      - {region: eu, amount: 120}\n"
            "      - {region: us, amount: 80.5}\n"
            "      - {region: eu, amount: 30}\n"
            "    operation: sum\n"
            "    field: amount\n"
            "    group_by: region\n",
            "- name: distinct_customers\n"
            "  type: data.aggregate\n"
            "  properties:\n"
            "    items: [{customer: ada}, {customer: linus}, {customer: ada}, {}]\n"
            "    operation: count_distinct\n"
            "    field: customer\n",
        ),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        return await _in_thread(_aggregate, properties)


def _summarise(operation: str, values: list[tuple[int, JSON]], field: str | None) -> JSON:
    """`values` are (item index, value) pairs; with no field they are the items themselves."""
    if operation == "count":
        return len(values) if field is None else sum(1 for _, value in values if value is not None)
    present = [(index, value) for index, value in values if value is not None]
    if operation == "count_distinct":
        return len({json.dumps(value, sort_keys=True) for _, value in present})
    if operation in ("min", "max"):
        _one_kind(present, f"field {field!r}")
        if not present:
            return None
        pick = min if operation == "min" else max
        return pick((value for _, value in present), key=lambda value: value)
    for index, value in present:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TaskFailed(f"{operation} needs numbers, but field {field!r} of items[{index}] is {type_name(value)}")
    numbers = [value for _, value in present]
    if all(isinstance(number, int) for number in numbers):
        total: float = sum(numbers)  # exact, however large
    else:
        try:
            total = math.fsum(numbers)
        except OverflowError:
            total = math.inf
        if not math.isfinite(total):
            raise TaskFailed(f"the sum of field {field!r} is too large for a number")
    if operation != "avg":
        return total
    try:
        return total / len(numbers) if numbers else None
    except OverflowError:  # an integer sum beyond what a float can hold
        raise TaskFailed(f"the average of field {field!r} is too large for a number") from None


def _aggregate(properties: Mapping[str, JSON]) -> dict[str, JSON]:
    items = _list(properties, "items")
    operation = _choice(properties, "operation", AGGREGATE_OPERATIONS)
    field = properties.get("field")
    if field is None and operation != "count":
        raise TaskFailed(f"operation {operation} needs a field (a JMESPath expression giving each item's value)")
    parsed = _compile(field, "field") if field is not None else None

    def values(members: list[tuple[int, JSON]]) -> list[tuple[int, JSON]]:
        if parsed is None:
            return members
        return [(index, _search(parsed, item, "field", f"items[{index}]")) for index, item in members]

    if properties.get("group_by") is None:
        return {"result": _summarise(operation, values(list(enumerate(items))), field)}
    groups = _grouped(items, _compile(properties["group_by"], "group_by"), "group_by")
    return {"result": {key: _summarise(operation, values(members), field) for key, members in groups.items()}}


# -- text formats -------------------------------------------------------------------------------


class CsvParse(Plugin):
    """Read CSV text into rows, strictly by default."""

    manifest: ClassVar[Manifest] = Manifest(
        id="data.csv_parse",
        name="Parse CSV",
        category="data",
        description=(
            "Reads CSV text (RFC 4180 quoting; a quoted cell may hold the delimiter, quotes as "
            '`""` and line breaks). With `header: true` (default) the first row names the '
            "columns and each row becomes an object; a column named twice fails the task. With "
            "`header: false` each row is a list of cells. Cells stay text unless `infer_types` "
            "is on (then integers, decimals, true/false become JSON values and empty cells null; "
            "numbers with leading zeros such as 007 stay text). A row with a different number of "
            "cells fails the task naming its line, unless `ragged` is `pad` (missing cells become "
            "null; without a header, rows are padded to the widest) or `keep` (short rows stay "
            "short); a row longer than the header always fails. Blank lines are skipped unless "
            f"`skip_empty` is false. A leading byte-order mark is ignored. At most {_MIB} MiB."
        ),
        input_schema=_object(
            {
                "text": {"type": "string", "description": "The CSV text."},
                "delimiter": _DELIMITER_SCHEMA,
                "header": {
                    "type": "boolean",
                    "default": True,
                    "description": "The first row holds column names: rows become objects (false: lists).",
                },
                "skip_empty": {
                    "type": "boolean",
                    "default": True,
                    "description": "Skip lines with no text in any cell.",
                },
                "ragged": {
                    "type": "string",
                    "enum": list(RAGGED_MODES),
                    "default": "error",
                    "description": "Rows whose length differs: fail (error), fill with null (pad), or leave short (keep).",
                },
                "infer_types": {
                    "type": "boolean",
                    "default": False,
                    "description": "Turn numbers, true/false and empty cells into JSON values (false: all cells are text).",
                },
            },
            ["text"],
        ),
        output_schema=_object(
            {
                "rows": {
                    "type": "array",
                    "items": {"type": ["object", "array"]},
                    "description": "Objects keyed by column name with a header, else lists of cells.",
                },
                "count": {"type": "integer", "minimum": 0, "description": "Number of rows (the header not counted)."},
                "columns": {
                    "type": "array",
                    "items": {"type": "string"},
                    "description": "The header's column names in order; empty without a header.",
                },
            },
            ["rows", "count", "columns"],
        ),
        examples=(
            "- name: read_prices\n"
            "  type: data.csv_parse\n"
            "  properties:\n"
            "    text: |\n"
            "      sku,name,price\n"
            '      A1,"Pen, blue",2.50\n'
            "      B7,Lamp,40\n"
            "    infer_types: true\n",
            "- name: read_semicolons\n"
            "  type: data.csv_parse\n"
            "  properties:\n"
            '    text: "1;ok\\n2;late;retry\\n"\n'
            "    delimiter: ';'\n"
            "    header: false\n"
            "    ragged: pad\n",
        ),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        return await _in_thread(_csv_parse, properties)


def _csv_parse(properties: Mapping[str, JSON]) -> dict[str, JSON]:
    rows, columns = parse_csv(
        _text(properties, "text"),
        delimiter=_delimiter(properties),
        header=_flag(properties, "header", True),
        skip_empty=_flag(properties, "skip_empty", True),
        ragged=_choice(properties, "ragged", RAGGED_MODES, "error"),  # type: ignore[arg-type]
        infer_types=_flag(properties, "infer_types", False),
    )
    return {"rows": rows, "count": len(rows), "columns": columns}


class CsvFormat(Plugin):
    """Write rows as CSV text, safe to open in a spreadsheet by default."""

    manifest: ClassVar[Manifest] = Manifest(
        id="data.csv_format",
        name="Format CSV",
        category="data",
        description=(
            "Writes `rows` as CSV text with RFC 4180 quoting. Rows are all objects or all lists. "
            "For objects, `columns` picks and orders the columns (default: every key, in the order "
            "first met) and a missing key is an empty cell; lists are written as they are, and "
            "`columns` then only names the header. null is an empty cell; numbers and booleans are "
            "written as JSON writes them; nested lists and objects as compact JSON. Formula "
            "injection: with `escape_formulas` (default true) a text cell starting with = + - @, "
            "a tab or a carriage return gets a leading `'` so a spreadsheet shows it instead of "
            "running it; text that is just a number (`-5`, `+3.2`) and JSON numbers are left "
            f"alone. Lines end with LF unless `line_ending` is crlf. At most {_MIB} MiB of text."
        ),
        input_schema=_object(
            {
                "rows": {
                    "type": "array",
                    "items": {"type": ["object", "array"]},
                    "description": "The rows: all objects (keyed by column) or all lists of cells.",
                },
                "columns": {
                    "type": "array",
                    "items": {"type": "string"},
                    "description": "Column names, in order: which keys of object rows to write, and the header.",
                },
                "delimiter": _DELIMITER_SCHEMA,
                "header": {
                    "type": "boolean",
                    "default": True,
                    "description": "Write a header line of column names first (lists need `columns` for it).",
                },
                "escape_formulas": {
                    "type": "boolean",
                    "default": True,
                    "description": "Prefix text cells starting with = + - @ (a formula in a spreadsheet) with '.",
                },
                "line_ending": {
                    "type": "string",
                    "enum": list(LINE_ENDINGS),
                    "default": "lf",
                    "description": "lf (\\n) or crlf (\\r\\n, as RFC 4180 and some Windows tools want).",
                },
            },
            ["rows"],
        ),
        output_schema=_object(
            {"text": {"type": "string", "description": "The CSV text, ending with a line break unless empty."}},
            ["text"],
        ),
        examples=(
            "- name: report_csv\n"
            "  type: data.csv_format\n"
            "  properties:\n"
            "    rows:\n"
            "      - {sku: A1, name: 'Pen, blue', price: 2.5}\n"
            "      - {sku: B7, name: '=HYPERLINK(\"http://evil.test\")', price: 40}\n"
            "    columns: [sku, price, name]\n",
        ),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        return await _in_thread(_csv_format, properties)


def _csv_format(properties: Mapping[str, JSON]) -> dict[str, JSON]:
    columns = properties.get("columns")
    if columns is not None and not (isinstance(columns, list) and all(isinstance(name, str) for name in columns)):
        raise TaskFailed(f"columns must be a list of column names, got {as_text(columns)}")
    text = format_csv(
        _list(properties, "rows"),
        columns=columns,
        delimiter=_delimiter(properties),
        header=_flag(properties, "header", True),
        escape_formulas=_flag(properties, "escape_formulas", True),
        line_ending=LINE_ENDINGS[_choice(properties, "line_ending", tuple(LINE_ENDINGS), "lf")],
    )
    return {"text": text}


class JsonParse(Plugin):
    """Decode JSON text into a value, strictly and within bounds."""

    manifest: ClassVar[Manifest] = Manifest(
        id="data.json_parse",
        name="Parse JSON",
        category="data",
        description=(
            "Decodes JSON text (a file's content, a body that was not served as JSON) into a "
            "value. Strict JSON: invalid text fails the task with the line and column of the "
            "fault; NaN and Infinity are refused. At most "
            f"{_MIB} MiB of text and {MAX_DEPTH} levels of nesting."
        ),
        input_schema=_object(
            {"text": {"type": "string", "description": "The JSON text."}},
            ["text"],
        ),
        output_schema=_object(
            {"value": {"description": "The decoded value: object, list, text, number, boolean or null."}},
            ["value"],
        ),
        examples=(
            "- name: decode\n"
            "  type: data.json_parse\n"
            "  properties:\n"
            '    text: \'{"id": 42, "tags": ["a", "b"], "paid": true}\'\n',
        ),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        return await _in_thread(_json_parse, properties)


def _json_parse(properties: Mapping[str, JSON]) -> dict[str, JSON]:
    return {"value": parse_json(_text(properties, "text"))}


class YamlParse(Plugin):
    """Decode YAML text into JSON-like values, refusing documents built to exhaust the server."""

    manifest: ClassVar[Manifest] = Manifest(
        id="data.yaml_parse",
        name="Parse YAML",
        category="data",
        description=(
            "Decodes YAML text with a safe loader (no object construction) into JSON-like values. "
            'Dates stay text, mapping keys become text (`1:` gives "1"), a key written twice '
            "fails, and tags without a JSON form (!!binary, !!set, !!timestamp, custom tags) fail. "
            "Invalid YAML fails with the line and column. Anchors and aliases work, but aliases "
            f"may repeat at most {MAX_ALIAS_NODES} values in all and nesting is limited to "
            f"{MAX_DEPTH} levels, so alias bombs fail at once; at most {_MIB} MiB of text. Text "
            "holding several documents (`---`) fails unless `all` is true, which returns a list "
            "of them; empty text gives null (a list of none with `all`)."
        ),
        input_schema=_object(
            {
                "text": {"type": "string", "description": "The YAML text."},
                "all": {
                    "type": "boolean",
                    "default": False,
                    "description": "Read every document of a multi-document stream into a list.",
                },
            },
            ["text"],
        ),
        output_schema=_object(
            {"value": {"description": "The document's value, or the list of documents with `all`."}},
            ["value"],
        ),
        examples=(
            "- name: read_config\n"
            "  type: data.yaml_parse\n"
            "  properties:\n"
            "    text: |\n"
            "      defaults: &defaults {retries: 3, timeout: 30}\n"
            "      services:\n"
            "        api: {<<: *defaults, timeout: 10}\n"
            "        worker: *defaults\n",
            "- name: read_documents\n"
            "  type: data.yaml_parse\n"
            "  properties:\n"
            '    text: "---\\nname: a\\n---\\nname: b\\n"\n'
            "    all: true\n",
        ),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        return await _in_thread(_yaml_parse, properties)


def _yaml_parse(properties: Mapping[str, JSON]) -> dict[str, JSON]:
    return {"value": parse_yaml(_text(properties, "text"), all_documents=_flag(properties, "all", False))}


# -- checking and rendering ---------------------------------------------------------------------


class Validate(Plugin):
    """Check a value against a JSON Schema, failing the task or reporting the errors."""

    manifest: ClassVar[Manifest] = Manifest(
        id="data.validate",
        name="Validate against a JSON Schema",
        category="data",
        description=(
            "Checks `data` against `schema`, a JSON Schema (2020-12 unless the schema's `$schema` "
            "names another draft). The schema itself is checked first: an invalid schema fails "
            "the task. Formats (email, date, …) are checked where a checker is available. Only "
            "`$ref`s inside the schema are followed, never the network. With `fail: true` "
            "(default) invalid data fails the task, naming the first errors; with `fail: false` "
            "the task succeeds and reports `valid` and `errors`, each with a JSON path "
            "(`$.items[2].price`) and a message."
        ),
        input_schema=_object(
            {
                "data": {"description": "The value to check: any JSON."},
                "schema": {
                    "type": ["object", "boolean"],
                    "description": "The JSON Schema that `data` must match.",
                },
                "fail": {
                    "type": "boolean",
                    "default": True,
                    "description": "Fail the task when the data is invalid (false: report it in the outputs).",
                },
                "max_errors": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": 1000,
                    "default": DEFAULT_MAX_ERRORS,
                    "description": "At most this many errors are reported.",
                },
            },
            ["data", "schema"],
        ),
        output_schema=_object(
            {
                "valid": {"type": "boolean", "description": "Whether the data matches the schema."},
                "errors": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "path": {"type": "string", "description": "JSON path of the offending value."},
                            "message": {"type": "string", "description": "What is wrong with it."},
                        },
                        "required": ["path", "message"],
                        "additionalProperties": False,
                    },
                    "description": "The first `max_errors` errors; empty when valid.",
                },
            },
            ["valid", "errors"],
        ),
        examples=(
            "- name: check_order\n"
            "  type: data.validate\n"
            "  properties:\n"
            "    data: {id: 7, email: ada@example.test, lines: [{sku: A1, qty: 0}]}\n"
            "    schema:\n"
            "      type: object\n"
            "      required: [id, lines]\n"
            "      properties:\n"
            "        id: {type: integer}\n"
            "        lines:\n"
            "          type: array\n"
            "          items: {type: object, properties: {qty: {type: integer, minimum: 1}}}\n"
            "    fail: false\n",
        ),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        return await _in_thread(_validate, properties)


def _clip(message: str) -> str:
    return message if len(message) <= MAX_MESSAGE_CHARS else message[: MAX_MESSAGE_CHARS - 1] + "…"


def _validate(properties: Mapping[str, JSON]) -> dict[str, JSON]:
    schema = _required(properties, "schema")
    if not isinstance(schema, (dict, bool)):
        raise TaskFailed(f"schema must be a JSON Schema (an object or a boolean), got {type_name(schema)}")
    max_errors = properties.get("max_errors", DEFAULT_MAX_ERRORS)
    if isinstance(max_errors, bool) or not isinstance(max_errors, int) or max_errors < 1:
        raise TaskFailed(f"max_errors must be a positive integer, got {as_text(max_errors)}")
    fail = _flag(properties, "fail", True)
    cls = validator_for(schema, default=Draft202012Validator) if isinstance(schema, dict) else Draft202012Validator
    try:
        cls.check_schema(schema)
    except SchemaError as exc:
        raise TaskFailed(
            f"the schema is not a valid JSON Schema: {_clip(exc.message)} (at {exc.json_path} in the schema)"
        ) from None
    validator = cls(schema, format_checker=cls.FORMAT_CHECKER)
    try:
        found = list(itertools.islice(validator.iter_errors(_required(properties, "data")), max_errors + 1))
    except Unresolvable as exc:
        raise TaskFailed(
            f"the schema has a $ref that cannot be resolved ({exc}); only references inside the schema are followed"
        ) from None
    except RecursionError:
        raise TaskFailed("the schema refers to itself without end (a $ref loop)") from None
    errors = [{"path": error.json_path, "message": _clip(error.message)} for error in found[:max_errors]]
    if errors and fail:
        listed = "; ".join(f"{error['path']}: {error['message']}" for error in errors[:3])
        more = " (and more)" if len(found) > 3 else ""
        raise TaskFailed(f"the data does not match the schema: {listed}{more}")
    return {"valid": not errors, "errors": errors}


class Template(Plugin):
    """Fill `$name` placeholders in a text with values: a template step with no code in it."""

    manifest: ClassVar[Manifest] = Manifest(
        id="data.template",
        name="Fill a text template",
        category="data",
        description=(
            "Substitutes placeholders in `template` with `values`: `$name` or `${name}`, and in "
            "braces a dotted path into the values, `${order.lines.0.sku}` (a number picks a list "
            "item). `$$` writes a literal `$`. Text values are inserted as they are; others as "
            'compact JSON (`42`, `true`, `null`, `{"a":1}`). Nothing else happens: no '
            "expressions, loops or code, and values are never read as templates, so data cannot "
            "inject placeholders. This is why it does not use `{{ }}`: the flow renders those "
            "before the task runs. Note that the flow resolves `${NAME}` in capitals as the "
            "credential NAME, so name values in lower case or write `$NAME`. With `strict` "
            "(default) a placeholder without a value, or a `$` that starts none, fails the "
            "task naming them; with `strict: false` they are left as written. The text is "
            f"limited to {_MIB} MiB."
        ),
        input_schema=_object(
            {
                "template": {
                    "type": "string",
                    "description": "The text with `$name` / `${path.to.value}` placeholders.",
                },
                "values": {
                    "type": "object",
                    "default": {},
                    "description": "The values the placeholders name; nested objects and lists are reached with dotted paths.",
                },
                "strict": {
                    "type": "boolean",
                    "default": True,
                    "description": "Fail on a placeholder without a value (false: leave it as written).",
                },
            },
            ["template"],
        ),
        output_schema=_object(
            {"text": {"type": "string", "description": "The template with its placeholders filled in."}},
            ["text"],
        ),
        examples=(
            "- name: greeting\n"
            "  type: data.template\n"
            "  properties:\n"
            '    template: "Hello $name, order ${order.id} ships ${order.lines.0.sku} for $$${order.total}."\n'
            "    values: {name: Ada, order: {id: 7, total: 12.5, lines: [{sku: A1}]}}\n",
        ),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        return await _in_thread(_template, properties)


def _template(properties: Mapping[str, JSON]) -> dict[str, JSON]:
    values = properties.get("values", {})
    if not isinstance(values, dict):
        raise TaskFailed(f"values must be an object, got {type_name(values)}")
    text = render_template(_text(properties, "template"), values, strict=_flag(properties, "strict", True))
    return {"text": text}


PLUGINS: Final[list[type[Plugin]]] = [
    Query,
    Transform,
    Filter,
    Sort,
    GroupBy,
    Aggregate,
    CsvParse,
    CsvFormat,
    JsonParse,
    YamlParse,
    Validate,
    Template,
]
"""data.*: JMESPath queries, list operations, CSV/JSON/YAML text, JSON Schema checks, templates."""
