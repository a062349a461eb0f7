"""data.group_by and data.aggregate: items grouped by a JMESPath key and summarised."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import ClassVar

from jmespath.parser import ParsedResult

from workflowdev.engine.plugin import JSON
from workflowdev.engine.plugin import Manifest
from workflowdev.engine.plugin import Plugin
from workflowdev.engine.plugin import TaskContext
from workflowdev.engine.plugin import TaskFailed
from workflowdev.plugins._toolkit import object_schema
from workflowdev.plugins._toolkit import read_choice
from workflowdev.plugins._toolkit import read_items
from workflowdev.plugins._toolkit import single_value
from workflowdev.plugins._toolkit import task_example
from workflowdev.plugins._toolkit import type_name
from workflowdev.plugins.data._common import AGGREGATE_OPERATIONS
from workflowdev.plugins.data._common import compile_expression
from workflowdev.plugins.data._common import expression_schema
from workflowdev.plugins.data._common import group_key
from workflowdev.plugins.data._common import in_thread
from workflowdev.plugins.data._common import one_kind
from workflowdev.plugins.data._common import read_expression
from workflowdev.plugins.data._common import search


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
        input_schema=object_schema(
            {
                "items": {"type": "array", "description": "The list to group."},
                "by": expression_schema("JMESPath expression giving each item's group key."),
            },
            ["items", "by"],
        ),
        output_schema=object_schema(
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
            task_example(
                "by_team",
                "data.group_by",
                """
                items:
                  - {user: ada, team: core}
                  - {user: linus, team: kernel}
                  - {user: grace, team: core}
                by: team
                """,
            ),
        ),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        return await in_thread(_group_by, properties)


def _grouped(items: list[JSON], parsed: ParsedResult, where: str) -> dict[str, list[tuple[int, JSON]]]:
    groups: dict[str, list[tuple[int, JSON]]] = {}
    for index, item in enumerate(items):
        key = group_key(search(parsed, item, where, f"items[{index}]"))
        groups.setdefault(key, []).append((index, item))
    return groups


def _group_by(properties: Mapping[str, JSON]) -> dict[str, JSON]:
    parsed = read_expression(properties, "by")
    groups = _grouped(read_items(properties, "items"), parsed, "by")
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
        input_schema=object_schema(
            {
                "items": {"type": "array", "description": "The list to aggregate."},
                "operation": {
                    "type": "string",
                    "enum": list(AGGREGATE_OPERATIONS),
                    "description": "What to compute.",
                },
                "field": expression_schema("JMESPath expression giving the value of each item; optional for count."),
                "group_by": expression_schema("JMESPath key: aggregate per group instead of over the whole list."),
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
        output_schema=single_value(
            "result",
            {
                "type": ["number", "string", "boolean", "null", "object"],
                "description": "The value; with group_by, an object of group key → value.",
            },
        ),
        examples=(
            task_example(
                "revenue_per_region",
                "data.aggregate",
                """
                items:
                  - {region: eu, amount: 120}
                  - {region: us, amount: 80.5}
                  - {region: eu, amount: 30}
                operation: sum
                field: amount
                group_by: region
                """,
            ),
            task_example(
                "distinct_customers",
                "data.aggregate",
                """
                items: [{customer: ada}, {customer: linus}, {customer: ada}, {}]
                operation: count_distinct
                field: customer
                """,
            ),
        ),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        return await in_thread(_aggregate, properties)


def _summarise(operation: str, values: list[tuple[int, JSON]], field: str | None) -> JSON:
    """`values` are (item index, value) pairs; with no field they are the items themselves."""
    if operation == "count":
        return len(values) if field is None else sum(1 for _, value in values if value is not None)
    present = [(index, value) for index, value in values if value is not None]
    if operation == "count_distinct":
        return len({json.dumps(value, sort_keys=True) for _, value in present})
    if operation in ("min", "max"):
        one_kind(present, f"field {field!r}")
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
    items = read_items(properties, "items")
    operation = read_choice(properties, "operation", AGGREGATE_OPERATIONS)
    field = properties.get("field")
    if field is None and operation != "count":
        raise TaskFailed(f"operation {operation} needs a field (a JMESPath expression giving each item's value)")
    parsed = compile_expression(field, "field") if field is not None else None

    def values(members: list[tuple[int, JSON]]) -> list[tuple[int, JSON]]:
        if parsed is None:
            return members
        return [(index, search(parsed, item, "field", f"items[{index}]")) for index, item in members]

    if properties.get("group_by") is None:
        return {"result": _summarise(operation, values(list(enumerate(items))), field)}
    groups = _grouped(items, compile_expression(properties["group_by"], "group_by"), "group_by")
    return {"result": {key: _summarise(operation, values(members), field) for key, members in groups.items()}}
