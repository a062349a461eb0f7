"""data.query, data.transform, data.filter and data.sort: JMESPath over lists and objects."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from workflowdev.engine.plugin import JSON
from workflowdev.engine.plugin import Manifest
from workflowdev.engine.plugin import Plugin
from workflowdev.engine.plugin import TaskContext
from workflowdev.engine.plugin import TaskFailed
from workflowdev.engine.plugin import as_text
from workflowdev.plugins._toolkit import flag_schema
from workflowdev.plugins._toolkit import object_schema
from workflowdev.plugins._toolkit import read_flag
from workflowdev.plugins._toolkit import read_items
from workflowdev.plugins._toolkit import read_required
from workflowdev.plugins._toolkit import single_value
from workflowdev.plugins._toolkit import task_example
from workflowdev.plugins._toolkit import type_name
from workflowdev.plugins.data._common import compile_expression
from workflowdev.plugins.data._common import expression_schema
from workflowdev.plugins.data._common import in_thread
from workflowdev.plugins.data._common import one_kind
from workflowdev.plugins.data._common import read_expression
from workflowdev.plugins.data._common import search
from workflowdev.plugins.data._common import truthy

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
        input_schema=object_schema(
            {
                "data": {"description": "The value to query: any JSON, usually a task's output."},
                "expression": expression_schema("The JMESPath expression, evaluated against `data`."),
            },
            ["data", "expression"],
        ),
        output_schema=single_value(
            "result", {"description": "What the expression evaluates to; null when nothing matches."}
        ),
        examples=(
            task_example(
                "expensive_names",
                "data.jmespath",
                """
                data: {items: [{name: pen, price: 2}, {name: lamp, price: 40}, {name: desk, price: 150}]}
                expression: "items[?price > `10`].name"
                """,
            ),
        ),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        return await in_thread(_query, properties)


def _query(properties: Mapping[str, JSON]) -> dict[str, JSON]:
    parsed = read_expression(properties, "expression")
    return {"result": search(parsed, read_required(properties, "data"), "expression")}


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
        input_schema=object_schema(
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
                "keep": flag_schema(
                    False, "Keep each item's own fields and add the computed ones (false: only the computed ones)."
                ),
            },
            ["data", "fields"],
        ),
        output_schema=single_value(
            "result",
            {
                "type": ["array", "object"],
                "description": "The transformed list (same order) or object, as `data` was.",
            },
        ),
        examples=(
            task_example(
                "order_summaries",
                "data.transform",
                """
                data:
                  - {id: 7, customer: {name: Ada}, lines: [{amount: 5}, {amount: 7.5}]}
                  - {id: 8, customer: {name: Linus}, lines: [{amount: 20}]}
                fields:
                  order: id
                  who: customer.name
                  total: sum(lines[*].amount)
                """,
            ),
        ),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        return await in_thread(_transform, properties)


def _transform(properties: Mapping[str, JSON]) -> dict[str, JSON]:
    fields = read_required(properties, "fields")
    if not isinstance(fields, dict) or not fields:
        raise TaskFailed(f"fields must be an object of field name → JMESPath expression, got {as_text(fields)}")
    compiled = {name: compile_expression(expression, f"fields.{name}") for name, expression in fields.items()}
    keep = read_flag(properties, "keep", False)

    def one(item: JSON, where: str) -> dict[str, JSON]:
        if keep and not isinstance(item, dict):
            raise TaskFailed(f"{where} is {type_name(item)}; keep: true needs objects")
        out: dict[str, JSON] = dict(item) if keep else {}
        for name, parsed in compiled.items():
            out[name] = search(parsed, item, f"fields.{name}", where)
        return out

    data = read_required(properties, "data")
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
        input_schema=object_schema(
            {
                "items": {"type": "array", "description": "The list to filter."},
                "where": expression_schema("JMESPath condition evaluated against each item; kept when true."),
            },
            ["items", "where"],
        ),
        output_schema=object_schema(
            {
                "result": {"type": "array", "description": "The items kept, in their original order."},
                "count": {"type": "integer", "minimum": 0, "description": "How many items were kept."},
            },
            ["result", "count"],
        ),
        examples=(
            task_example(
                "big_open_orders",
                "data.filter",
                """
                items:
                  - {id: 1, status: open, total: 120}
                  - {id: 2, status: closed, total: 300}
                  - {id: 3, status: open, total: 15}
                where: "status == 'open' && total > `100`"
                """,
            ),
        ),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        return await in_thread(_filter, properties)


def _filter(properties: Mapping[str, JSON]) -> dict[str, JSON]:
    parsed = read_expression(properties, "where")
    kept = [
        item
        for index, item in enumerate(read_items(properties, "items"))
        if truthy(search(parsed, item, "where", f"items[{index}]"))
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
        input_schema=object_schema(
            {
                "items": {"type": "array", "description": "The list to sort."},
                "by": {
                    "anyOf": [
                        {"type": "string", "minLength": 1},
                        {"type": "array", "items": {"type": "string", "minLength": 1}, "minItems": 1},
                    ],
                    "description": "A JMESPath key, or a list of them (most significant first). Default: the item itself.",
                },
                "reverse": flag_schema(False, "Sort descending (nulls stay last)."),
            },
            ["items"],
        ),
        output_schema=single_value("result", {"type": "array", "description": "The same items, sorted."}),
        examples=(
            task_example(
                "newest_first",
                "data.sort",
                """
                items:
                  - {name: b.txt, modified: '2024-05-02', size: 10}
                  - {name: a.txt, modified: '2024-05-03', size: 7}
                  - {name: c.txt, size: 1}
                  - {name: d.txt, modified: '2024-05-02', size: 99}
                by: [modified, size]
                reverse: true
                """,
            ),
        ),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        return await in_thread(_sort, properties)


def _sort(properties: Mapping[str, JSON]) -> dict[str, JSON]:
    items = read_items(properties, "items")
    by = properties.get("by", "@")
    expressions = [by] if isinstance(by, str) else by
    if not isinstance(expressions, list) or not expressions:
        raise TaskFailed(f"by must be a JMESPath expression or a list of them, got {as_text(by)}")
    reverse = read_flag(properties, "reverse", False)
    keys: list[list[JSON]] = [[] for _ in items]
    for position, expression in enumerate(expressions):
        where = f"by[{position}]" if isinstance(by, list) else "by"
        parsed = compile_expression(expression, where)
        column = [(index, search(parsed, item, where, f"items[{index}]")) for index, item in enumerate(items)]
        label = "the item" if expression == "@" else f"sort key {expression!r}"
        one_kind([(index, value) for index, value in column if value is not None], label)
        for index, value in column:
            keys[index].append(value)
    order = list(range(len(items)))
    for position in reversed(range(len(expressions))):  # stable passes, least significant key first
        present = [index for index in order if keys[index][position] is not None]
        present.sort(key=lambda index: keys[index][position], reverse=reverse)
        order = present + [index for index in order if keys[index][position] is None]
    return {"result": [items[index] for index in order]}
