"""data.*: queries, list operations, CSV/JSON/YAML text, JSON Schema checks and templates.

Unit tests call each plugin's `run` directly; the flow tests at the end chain them through the
real server, where values travel as task outputs and must never be rendered a second time.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from tests.conftest import Api
from tests.engine.flows_helpers import outputs
from tests.engine.flows_helpers import run
from tests.engine.flows_helpers import tasks_by_name
from workflowdev.engine.plugin import JSON
from workflowdev.engine.plugin import Plugin
from workflowdev.engine.plugin import TaskFailed
from workflowdev.plugins._data_formats import MAX_ALIAS_NODES
from workflowdev.plugins._data_formats import MAX_DEPTH
from workflowdev.plugins._data_formats import MAX_TEXT_BYTES
from workflowdev.plugins.data import PLUGINS
from workflowdev.plugins.data import Aggregate
from workflowdev.plugins.data import CsvFormat
from workflowdev.plugins.data import CsvParse
from workflowdev.plugins.data import Filter
from workflowdev.plugins.data import GroupBy
from workflowdev.plugins.data import JsonParse
from workflowdev.plugins.data import Query
from workflowdev.plugins.data import Sort
from workflowdev.plugins.data import Template
from workflowdev.plugins.data import Transform
from workflowdev.plugins.data import Validate
from workflowdev.plugins.data import YamlParse

from .test_util import FakeContext


async def call(plugin: type[Plugin], **properties: JSON) -> Mapping[str, JSON]:
    return await plugin().run(FakeContext(), properties)


async def fails(plugin: type[Plugin], **properties: JSON) -> str:
    with pytest.raises(TaskFailed) as caught:
        await call(plugin, **properties)
    return str(caught.value)


# -- the manifests' own promises ----------------------------------------------------------------

EXAMPLES = [
    pytest.param(plugin, example, id=f"{plugin.manifest.id}[{number}]")
    for plugin in PLUGINS
    for number, example in enumerate(plugin.manifest.examples)
]


def test_the_twelve_data_task_types() -> None:
    assert [plugin.manifest.id for plugin in PLUGINS] == [
        "data.jmespath",
        "data.transform",
        "data.filter",
        "data.sort",
        "data.group_by",
        "data.aggregate",
        "data.csv_parse",
        "data.csv_format",
        "data.json_parse",
        "data.yaml_parse",
        "data.validate",
        "data.template",
    ]


@pytest.mark.parametrize(("plugin", "example"), EXAMPLES)
async def test_every_example_runs_and_returns_what_the_output_schema_says(plugin: type[Plugin], example: str) -> None:
    (task,) = yaml.safe_load(example)
    assert task["type"] == plugin.manifest.id and "{{" not in example
    properties = task.get("properties", {})
    assert list(Draft202012Validator(plugin.manifest.input_schema).iter_errors(properties)) == []

    result = await plugin().run(FakeContext(), properties)

    assert list(Draft202012Validator(plugin.manifest.output_schema).iter_errors(result)) == []
    json.dumps(result, allow_nan=False)


def test_aggregate_schema_requires_a_field_except_for_count() -> None:
    validator = Draft202012Validator(Aggregate.manifest.input_schema)

    assert validator.is_valid({"items": [], "operation": "count"})
    assert not validator.is_valid({"items": [], "operation": "sum"})
    assert validator.is_valid({"items": [], "operation": "sum", "field": "amount"})


# -- data.jmespath ------------------------------------------------------------------------------

ORDERS = [
    {"id": 1, "status": "open", "total": 120, "tags": ["vip"]},
    {"id": 2, "status": "closed", "total": 300, "tags": []},
    {"id": 3, "status": "open", "total": 15},
]


@pytest.mark.parametrize(
    ("expression", "result"),
    [
        ("[?status == 'open'].id", [1, 3]),
        ("max_by(@, &total).id", 2),
        ("sum([*].total)", 435),
        ("[0].{ref: id, vip: contains(tags, 'vip')}", {"ref": 1, "vip": True}),
        ("[5].id", None),
        ("[0].no_such_field", None),
    ],
)
async def test_jmespath_evaluates_against_data(expression: str, result: JSON) -> None:
    assert await call(Query, data=ORDERS, expression=expression) == {"result": result}


@pytest.mark.parametrize(
    ("expression", "column", "detail"),
    [
        ("items[?price >", 15, "ends too early"),
        ("a ~ b", 3, "Unknown token ~"),
        ("a..b", 3, "Expecting"),
        ('foo["x', 5, 'Unclosed " delimiter'),
    ],
)
async def test_jmespath_syntax_errors_name_the_expression_and_column(expression: str, column: int, detail: str) -> None:
    message = await fails(Query, data={}, expression=expression)

    assert repr(expression) in message
    assert f"at column {column}:" in message
    assert detail in message


@pytest.mark.parametrize(
    ("expression", "detail"),
    [
        ("sum([*].status)", "invalid type"),
        ("nope(@)", "Unknown function"),
        ("[?status > `1`]", "not supported"),
        ("length(@, @)", "Expected 1 argument"),
    ],
)
async def test_jmespath_runtime_errors_name_the_expression(expression: str, detail: str) -> None:
    message = await fails(Query, data=ORDERS, expression=expression)

    assert f"JMESPath expression {expression!r} in expression failed" in message
    assert detail in message


async def test_jmespath_refuses_an_empty_or_non_text_expression() -> None:
    assert "expression is empty" in await fails(Query, data={}, expression="")
    assert "must be a JMESPath expression (text), got a number" in await fails(Query, data={}, expression=5)


# -- data.transform -----------------------------------------------------------------------------


async def test_transform_maps_each_item_in_order() -> None:
    out = await call(Transform, data=ORDERS, fields={"ref": "id", "big": "total > `100`", "n": "length(tags || `[]`)"})

    assert out == {
        "result": [
            {"ref": 1, "big": True, "n": 1},
            {"ref": 2, "big": True, "n": 0},
            {"ref": 3, "big": False, "n": 0},
        ]
    }


async def test_transform_of_one_object_gives_one_object() -> None:
    out = await call(Transform, data={"a": {"b": 2}}, fields={"b": "a.b", "missing": "x.y"})

    assert out == {"result": {"b": 2, "missing": None}}


async def test_transform_keep_adds_and_replaces_fields() -> None:
    out = await call(
        Transform, data=[{"id": 1, "total": 5}], fields={"total": "to_string(total)", "n": "`1`"}, keep=True
    )

    assert out == {"result": [{"id": 1, "total": "5", "n": 1}]}


async def test_transform_errors_name_the_field_and_item() -> None:
    message = await fails(Transform, data=[{"a": 1}, "text"], fields={"x": "a"}, keep=True)
    assert "data[1] is text; keep: true needs objects" in message

    message = await fails(Transform, data=[{"a": 1}, {"a": "x"}], fields={"double": "sum([a])"})
    assert "in fields.double failed on data[1]" in message

    assert "fields.x" in await fails(Transform, data={}, fields={"x": "a["})
    assert "data must be a list or an object, got a number" in await fails(Transform, data=3, fields={"x": "a"})
    assert "fields must be an object" in await fails(Transform, data={}, fields={})


# -- data.filter --------------------------------------------------------------------------------


async def test_filter_keeps_matching_items_in_order() -> None:
    out = await call(Filter, items=ORDERS, where="status == 'open' && total > `10`")

    assert out == {"result": [ORDERS[0], ORDERS[2]], "count": 2}


async def test_filter_uses_jmespath_truth() -> None:
    items = [0, 1, "", "a", [], [0], {}, {"k": None}, None, False, True]

    out = await call(Filter, items=items, where="@")

    assert out == {"result": [0, 1, "a", [0], {"k": None}, True], "count": 6}


async def test_filter_drops_items_without_the_field() -> None:
    out = await call(Filter, items=ORDERS, where="tags[0] == 'vip'")

    assert out["result"] == [ORDERS[0]]


async def test_filter_errors_name_the_item_and_refuse_non_lists() -> None:
    message = await fails(Filter, items=[{"n": 1}, {"n": "two"}], where="n > `0`")
    assert "failed on items[1]" in message

    assert "items must be a list, got an object" in await fails(Filter, items={"a": 1}, where="@")
    assert "invalid JMESPath expression in where" in await fails(Filter, items=[], where="a ==")


# -- data.sort ----------------------------------------------------------------------------------

FILES = [
    {"name": "b", "size": 10, "kind": "doc"},
    {"name": "a", "size": None, "kind": "img"},
    {"name": "c", "size": 3, "kind": "doc"},
    {"name": "d", "kind": "img"},
    {"name": "e", "size": 3, "kind": "img"},
]


def names(result: Mapping[str, JSON]) -> list[str]:
    return [item["name"] for item in result["result"]]


async def test_sort_by_one_key_is_stable_with_nulls_last() -> None:
    assert names(await call(Sort, items=FILES, by="size")) == ["c", "e", "b", "a", "d"]


async def test_sort_reverse_keeps_nulls_last_and_ties_in_order() -> None:
    assert names(await call(Sort, items=FILES, by="size", reverse=True)) == ["b", "c", "e", "a", "d"]


async def test_sort_by_several_keys() -> None:
    out = await call(Sort, items=FILES, by=["kind", "size", "name"])

    assert names(out) == ["c", "b", "e", "a", "d"]


async def test_sort_without_a_key_sorts_the_items_themselves() -> None:
    assert await call(Sort, items=["pear", "Apple", "apple"]) == {"result": ["Apple", "apple", "pear"]}
    assert await call(Sort, items=[True, False, None, True], reverse=True) == {"result": [True, True, False, None]}
    assert await call(Sort, items=[2.5, -1, 10]) == {"result": [-1, 2.5, 10]}


async def test_sort_refuses_mixed_key_types_naming_both_items() -> None:
    message = await fails(Sort, items=[{"v": 1}, {"v": None}, {"v": "2"}], by="v")

    assert "sort key 'v' is a number in items[0] but text in items[2]" in message


async def test_sort_refuses_keys_that_do_not_order() -> None:
    message = await fails(Sort, items=[{"v": [1]}, {"v": [0]}], by="v")

    assert "sort key 'v' of items[0] is a list; only numbers, text and booleans can be ordered" in message


async def test_sort_names_the_bad_expression_in_a_list_of_keys() -> None:
    assert "invalid JMESPath expression in by[1]" in await fails(Sort, items=[], by=["a", "b["])


# -- data.group_by ------------------------------------------------------------------------------


async def test_group_by_keeps_first_seen_order_and_counts() -> None:
    out = await call(GroupBy, items=FILES, by="kind")

    assert list(out["groups"]) == ["doc", "img"]
    assert [item["name"] for item in out["groups"]["img"]] == ["a", "d", "e"]
    assert out["counts"] == {"doc": 2, "img": 3}


async def test_group_by_writes_non_text_keys_as_json() -> None:
    items = [{"k": 1}, {"k": True}, {}, {"k": "1"}, {"k": 1.5}]

    out = await call(GroupBy, items=items, by="k")

    assert out["counts"] == {"1": 2, "true": 1, "null": 1, "1.5": 1}


# -- data.aggregate -----------------------------------------------------------------------------

SALES = [
    {"region": "eu", "amount": 120, "customer": "ada"},
    {"region": "us", "amount": 80.5, "customer": "linus"},
    {"region": "eu", "amount": 30, "customer": "ada"},
    {"region": "eu", "customer": "grace"},
]


@pytest.mark.parametrize(
    ("operation", "field", "result"),
    [
        ("count", None, 4),
        ("count", "amount", 3),
        ("sum", "amount", 230.5),
        ("avg", "amount", 230.5 / 3),
        ("min", "amount", 30),
        ("max", "amount", 120),
        ("min", "customer", "ada"),
        ("max", "customer", "linus"),
        ("count_distinct", "customer", 3),
    ],
)
async def test_aggregate_operations(operation: str, field: str | None, result: JSON) -> None:
    properties: dict[str, JSON] = {"items": SALES, "operation": operation}
    if field is not None:
        properties["field"] = field

    assert await call(Aggregate, **properties) == {"result": result}


async def test_aggregate_sum_of_integers_stays_an_integer() -> None:
    out = await call(Aggregate, items=[{"n": 10**20}, {"n": 1}], operation="sum", field="n")

    assert out == {"result": 10**20 + 1}


@pytest.mark.parametrize(
    ("operation", "result"),
    [("sum", 0), ("count", 0), ("count_distinct", 0), ("avg", None), ("min", None), ("max", None)],
)
async def test_aggregate_over_no_values(operation: str, result: JSON) -> None:
    assert await call(Aggregate, items=[{}], operation=operation, field="n") == {"result": result}


async def test_aggregate_per_group() -> None:
    out = await call(Aggregate, items=SALES, operation="sum", field="amount", group_by="region")

    assert out == {"result": {"eu": 150, "us": 80.5}}


async def test_aggregate_count_distinct_compares_whole_values() -> None:
    items = [{"v": {"a": 1, "b": 2}}, {"v": {"b": 2, "a": 1}}, {"v": [1]}, {"v": 1}, {"v": True}]

    assert await call(Aggregate, items=items, operation="count_distinct", field="v") == {"result": 4}


@pytest.mark.parametrize(
    ("operation", "items", "message"),
    [
        ("sum", [{"n": 1}, {"n": "2"}], "sum needs numbers, but field 'n' of items[1] is text"),
        ("avg", [{"n": True}], "avg needs numbers, but field 'n' of items[0] is a boolean"),
        ("max", [{"n": 1}, {"n": "a"}], "field 'n' is a number in items[0] but text in items[1]"),
        ("sum", [{"n": 1e308}, {"n": 1e308}], "too large"),
    ],
)
async def test_aggregate_refuses_values_it_cannot_combine(operation: str, items: JSON, message: str) -> None:
    assert message in await fails(Aggregate, items=items, operation=operation, field="n")


async def test_aggregate_needs_a_field_and_a_known_operation() -> None:
    assert "operation avg needs a field" in await fails(Aggregate, items=[], operation="avg")
    assert "operation must be one of count, sum" in await fails(Aggregate, items=[], operation="median", field="n")


# -- data.csv_parse -----------------------------------------------------------------------------


async def test_csv_parse_with_a_header_gives_objects_of_text() -> None:
    text = 'sku,name,price\nA1,"Pen, ""blue""",2.50\nB7,"two\nlines",\n'

    out = await call(CsvParse, text=text)

    assert out == {
        "rows": [
            {"sku": "A1", "name": 'Pen, "blue"', "price": "2.50"},
            {"sku": "B7", "name": "two\nlines", "price": ""},
        ],
        "count": 2,
        "columns": ["sku", "name", "price"],
    }


async def test_csv_parse_without_a_header_gives_lists() -> None:
    out = await call(CsvParse, text="1\tx\r\n2\ty\r\n", delimiter="\t", header=False)

    assert out == {"rows": [["1", "x"], ["2", "y"]], "count": 2, "columns": []}


async def test_csv_parse_infers_types_only_when_asked() -> None:
    text = "a,b,c,d,e,f,g\n007,-12,3.5,1e3,true,,NaN\n"

    out = await call(CsvParse, text=text, infer_types=True)

    assert out["rows"] == [{"a": "007", "b": -12, "c": 3.5, "d": 1000.0, "e": True, "f": None, "g": "NaN"}]
    assert (await call(CsvParse, text=text))["rows"][0]["b"] == "-12"


async def test_csv_parse_skips_blank_lines_and_a_byte_order_mark() -> None:
    out = await call(CsvParse, text="\ufeffa,b\n\n1,2\n  \n,\n3,4\n")

    assert out["columns"] == ["a", "b"]
    assert out["rows"] == [{"a": "1", "b": "2"}, {"a": "3", "b": "4"}]


async def test_csv_parse_can_keep_empty_rows() -> None:
    out = await call(CsvParse, text="a,b\n1,2\n,\n", skip_empty=False)

    assert out["rows"] == [{"a": "1", "b": "2"}, {"a": "", "b": ""}]


async def test_csv_parse_fails_on_a_ragged_row_naming_its_line() -> None:
    text = 'a,b,c\n1,"multi\nline",3\n\n4,5\n'

    message = await fails(CsvParse, text=text)

    assert "line 5 has 2 cells but the header has 3 columns" in message
    assert "ragged: pad or keep" in message


async def test_csv_parse_without_header_compares_with_the_first_row() -> None:
    message = await fails(CsvParse, text="1,2\n3\n", header=False)

    assert "line 2 has 1 cell but the first row has 2 cells" in message


async def test_csv_parse_pads_short_rows_with_null() -> None:
    with_header = await call(CsvParse, text="a,b,c\n1\n2,3,4\n", ragged="pad")
    without = await call(CsvParse, text="1\n2,3,4\n5,6\n", header=False, ragged="pad")

    assert with_header["rows"] == [{"a": "1", "b": None, "c": None}, {"a": "2", "b": "3", "c": "4"}]
    assert without["rows"] == [["1", None, None], ["2", "3", "4"], ["5", "6", None]]


async def test_csv_parse_keeps_short_rows_short() -> None:
    with_header = await call(CsvParse, text="a,b\n1\n", ragged="keep")
    without = await call(CsvParse, text="1\n2,3\n", header=False, ragged="keep")

    assert with_header["rows"] == [{"a": "1"}]
    assert without["rows"] == [["1"], ["2", "3"]]


@pytest.mark.parametrize("ragged", ["error", "pad", "keep"])
async def test_csv_parse_a_row_longer_than_the_header_always_fails(ragged: str) -> None:
    message = await fails(CsvParse, text="a,b\n1,2\n1,2,3\n", ragged=ragged)

    assert "line 3 has 3 cells but the header has only 2 columns" in message


async def test_csv_parse_refuses_a_column_named_twice() -> None:
    message = await fails(CsvParse, text="id,name,id\n1,2,3\n")

    assert "the header (line 1) names column 'id' twice: columns 1 and 3" in message


async def test_csv_parse_refuses_bad_quoting_with_the_line() -> None:
    message = await fails(CsvParse, text='a,b\n1,2\n3,"x"y\n')

    assert message.startswith("invalid CSV at line 3:")


async def test_csv_parse_refuses_a_bad_delimiter_and_oversized_text() -> None:
    assert "delimiter must be one character" in await fails(CsvParse, text="a", delimiter='"')
    assert "delimiter must be one character" in await fails(CsvParse, text="a", delimiter=";;")
    assert "larger than the limit" in await fails(CsvParse, text="x" * (MAX_TEXT_BYTES + 1))


async def test_csv_parse_of_empty_text() -> None:
    assert await call(CsvParse, text="") == {"rows": [], "count": 0, "columns": []}


# -- data.csv_format ----------------------------------------------------------------------------


async def test_csv_format_objects_with_every_key_in_first_seen_order() -> None:
    rows = [{"b": 1, "a": "x"}, {"a": "y, z", "c": None}, {"c": {"n": [1, True]}, "b": 2.5}]

    out = await call(CsvFormat, rows=rows)

    assert out == {"text": 'b,a,c\n1,x,\n,"y, z",\n2.5,,"{""n"":[1,true]}"\n'}


async def test_csv_format_columns_pick_and_order() -> None:
    out = await call(CsvFormat, rows=[{"a": 1, "b": 2, "c": 3}], columns=["c", "a", "zz"], delimiter=";")

    assert out == {"text": "c;a;zz\n3;1;\n"}


async def test_csv_format_lists_need_columns_for_a_header() -> None:
    assert await call(CsvFormat, rows=[[1, "a"], [2]], header=False) == {"text": "1,a\n2\n"}
    assert await call(CsvFormat, rows=[[1, "a"]], columns=["n", "s"]) == {"text": "n,s\n1,a\n"}
    assert "give columns to name the header" in await fails(CsvFormat, rows=[[1, "a"]])


@pytest.mark.parametrize(
    ("cell", "written"),
    [
        ("=SUM(A1:A2)", "'=SUM(A1:A2)"),
        ("+1+2", "'+1+2"),
        ("-2+3", "'-2+3"),
        ("@cmd", "'@cmd"),
        ("\tx", "'\tx"),
        ("-5", "-5"),
        ("+3.25", "+3.25"),
        ("a=b", "a=b"),
        (-5, "-5"),
    ],
)
async def test_csv_format_escapes_formulas_by_default(cell: JSON, written: str) -> None:
    out = await call(CsvFormat, rows=[[cell]], header=False)

    assert out["text"].rstrip("\n").strip('"') == written


async def test_csv_format_can_leave_formulas_alone_and_end_lines_with_crlf() -> None:
    out = await call(CsvFormat, rows=[{"f": "=1+1"}], escape_formulas=False, line_ending="crlf")

    assert out == {"text": "f\r\n=1+1\r\n"}


async def test_csv_format_refuses_mixed_or_scalar_rows() -> None:
    assert "rows[1] is a list but rows[0] is an object" in await fails(CsvFormat, rows=[{"a": 1}, [1]])
    assert "rows[0] is a number; each row must be an object or a list" in await fails(CsvFormat, rows=[3])


async def test_csv_format_output_reads_back_unchanged() -> None:
    rows = [{"id": "1", "note": 'says "hi",\nthen leaves', "empty": ""}, {"id": "2", "note": "plain", "empty": ""}]

    text = (await call(CsvFormat, rows=rows))["text"]

    assert (await call(CsvParse, text=text))["rows"] == rows


async def test_csv_format_of_no_rows() -> None:
    assert await call(CsvFormat, rows=[]) == {"text": ""}
    assert await call(CsvFormat, rows=[], columns=["a", "b"]) == {"text": "a,b\n"}


# -- data.json_parse ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ('{"a": [1, 2.5, null, true, "é"]}', {"a": [1, 2.5, None, True, "é"]}),
        ("  42 ", 42),
        ('"x"', "x"),
        ("null", None),
    ],
)
async def test_json_parse_decodes(text: str, value: JSON) -> None:
    assert await call(JsonParse, text=text) == {"value": value}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"a": 1,\n  "b" 2}', "invalid JSON at line 2, column 7: Expecting ':' delimiter"),
        ("", "invalid JSON at line 1, column 1: Expecting value"),
        ("[1, 2,]", "invalid JSON at line 1, column 7"),
        ('{"a": NaN}', "NaN is not a JSON number"),
        ("[-Infinity]", "-Infinity is not a JSON number"),
    ],
)
async def test_json_parse_refuses_invalid_json_with_the_position(text: str, message: str) -> None:
    assert message in await fails(JsonParse, text=text)


async def test_json_parse_bounds_nesting_and_size() -> None:
    at_limit = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    assert (await call(JsonParse, text=at_limit))["value"] is not None

    for depth in (MAX_DEPTH + 1, 100_000):
        message = await fails(JsonParse, text="[" * depth + "]" * depth)
        assert f"nested deeper than {MAX_DEPTH} levels" in message

    assert "larger than the limit of 10 MiB" in await fails(JsonParse, text=" " * MAX_TEXT_BYTES + "1")


async def test_json_parse_refuses_non_text() -> None:
    assert "text must be text, got an object" in await fails(JsonParse, text={"a": 1})


# -- data.yaml_parse ----------------------------------------------------------------------------


async def test_yaml_parse_gives_json_like_values() -> None:
    text = "when: 2024-05-01\nat: 2024-05-01T10:00:00Z\n2: two\ntrue: yes\nnull: ~\nratio: 0.5\neq: =\n"

    out = await call(YamlParse, text=text)

    assert out == {
        "value": {
            "when": "2024-05-01",
            "at": "2024-05-01T10:00:00Z",
            "2": "two",
            "true": True,
            "null": None,
            "ratio": 0.5,
            "eq": "=",
        }
    }


async def test_yaml_parse_follows_anchors_and_merge_keys() -> None:
    text = "base: &b {retries: 3, timeout: 30}\napi: {<<: *b, timeout: 10}\nworker: *b\n"

    out = await call(YamlParse, text=text)

    assert out["value"]["api"] == {"retries": 3, "timeout": 10}
    assert out["value"]["worker"] == {"retries": 3, "timeout": 30}


async def test_yaml_parse_documents() -> None:
    text = "---\na: 1\n---\n- 2\n"

    assert "holds 2 YAML documents; set all: true" in await fails(YamlParse, text=text)
    assert await call(YamlParse, text=text, all=True) == {"value": [{"a": 1}, [2]]}
    assert await call(YamlParse, text="") == {"value": None}
    assert await call(YamlParse, text="# only a comment\n", all=True) == {"value": []}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: [1, 2\nb: 3\n", "invalid YAML at line 2, column 2"),
        ("a: 1\n  b: 2\n", "invalid YAML at line 2, column 4"),
        ("a: 1\nb: 2\na: 3\n", "invalid YAML at line 3, column 1: found duplicate key 'a'"),
        ("a: !!binary aGk=\n", "YAML tag tag:yaml.org,2002:binary at line 1, column 4 is not supported"),
        ("a: !!python/object:os.system {}\n", "YAML tag tag:yaml.org,2002:python/object:os.system at line 1"),
        ("a: !!set {x, y}\n", "tag:yaml.org,2002:set"),
        ("a: !custom 1\n", "YAML tag !custom"),
        ("x: .nan\n", "is not a JSON number"),
        ("x: -.inf\n", "is not a JSON number"),
        ("a: &a [1, *a]\n", "alias *a at line 1, column 11 refers to a value that contains it"),
        ("a: *nowhere\n", "alias *nowhere at line 1, column 4 names no anchor before it"),
    ],
)
async def test_yaml_parse_refuses_what_json_cannot_hold(text: str, message: str) -> None:
    assert message in await fails(YamlParse, text=text)


async def test_yaml_parse_refuses_an_alias_bomb() -> None:
    levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    levels += [f"a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * 10)}]" for n in range(1, 10)]

    message = await fails(YamlParse, text="\n".join(levels))  # 10**10 values once expanded

    assert f"YAML aliases would repeat more than {MAX_ALIAS_NODES} values" in message


async def test_yaml_parse_allows_moderate_sharing() -> None:
    text = "base: &b [1, 2, 3]\n" + "".join(f"k{n}: *b\n" for n in range(100))

    out = await call(YamlParse, text=text)

    assert out["value"]["k99"] == [1, 2, 3]


async def test_yaml_parse_bounds_nesting() -> None:
    assert (await call(YamlParse, text="[" * MAX_DEPTH + "]" * MAX_DEPTH))["value"] is not None
    message = await fails(YamlParse, text="[" * 150 + "]" * 150)
    assert f"nested deeper than {MAX_DEPTH} levels at line 1, column {MAX_DEPTH + 1}" in message
    assert "nest" in await fails(YamlParse, text="[" * 100_000 + "]" * 100_000)


# -- data.validate ------------------------------------------------------------------------------

ORDER_SCHEMA = {
    "type": "object",
    "required": ["id", "lines"],
    "properties": {
        "id": {"type": "integer"},
        "email": {"type": "string", "format": "email"},
        "lines": {
            "type": "array",
            "items": {"type": "object", "properties": {"qty": {"type": "integer", "minimum": 1}}},
        },
    },
}


async def test_validate_accepts_matching_data() -> None:
    out = await call(Validate, data={"id": 1, "email": "a@b.test", "lines": [{"qty": 2}]}, schema=ORDER_SCHEMA)

    assert out == {"valid": True, "errors": []}


async def test_validate_reports_every_error_with_its_path() -> None:
    data = {"id": "7", "email": "not-an-email", "lines": [{"qty": 1}, {"qty": 0}]}

    out = await call(Validate, data=data, schema=ORDER_SCHEMA, fail=False)

    assert out["valid"] is False
    assert sorted(error["path"] for error in out["errors"]) == ["$.email", "$.id", "$.lines[1].qty"]
    assert {"path": "$.lines[1].qty", "message": "0 is less than the minimum of 1"} in out["errors"]


async def test_validate_fails_the_task_by_default_naming_the_first_errors() -> None:
    message = await fails(Validate, data={"lines": "none"}, schema=ORDER_SCHEMA)

    assert message.startswith("the data does not match the schema: ")
    assert "'id' is a required property" in message
    assert "$.lines: 'none' is not of type 'array'" in message


async def test_validate_caps_the_errors_and_their_length() -> None:
    out = await call(Validate, data=["x" * 2000] * 50, schema={"items": {"type": "integer"}}, fail=False, max_errors=5)

    assert len(out["errors"]) == 5
    assert all(len(error["message"]) <= 500 for error in out["errors"])


async def test_validate_checks_the_schema_first() -> None:
    message = await fails(Validate, data=1, schema={"type": "integr"})

    assert message.startswith("the schema is not a valid JSON Schema:")
    assert "$.type" in message


async def test_validate_honours_the_schemas_draft() -> None:
    draft7 = {"$schema": "http://json-schema.org/draft-07/schema#", "items": [{"type": "integer"}]}

    assert (await call(Validate, data=["x"], schema=draft7, fail=False))["valid"] is False
    assert (await call(Validate, data=[1, "x"], schema=draft7, fail=False))["valid"] is True


async def test_validate_with_boolean_schemas() -> None:
    assert (await call(Validate, data={"any": 1}, schema=True))["valid"] is True
    assert "False schema does not allow" in await fails(Validate, data=1, schema=False)


async def test_validate_follows_only_references_inside_the_schema() -> None:
    local = {"$defs": {"n": {"type": "integer"}}, "items": {"$ref": "#/$defs/n"}}
    assert (await call(Validate, data=[1, "x"], schema=local, fail=False))["errors"][0]["path"] == "$[1]"

    remote = {"$ref": "https://example.test/schema.json"}
    assert "a $ref that cannot be resolved" in await fails(Validate, data=1, schema=remote)

    assert "refers to itself without end" in await fails(Validate, data=1, schema={"$ref": "#"})


# -- data.template ------------------------------------------------------------------------------


async def test_template_fills_placeholders() -> None:
    values = {"name": "Zoë", "order": {"id": 7, "lines": [{"sku": "A1"}], "paid": True, "note": None}}
    template = "Hi $name! ${order.id}/${order.lines.0.sku} paid=${order.paid} note=${order.note} $$5 ${order.lines}"

    out = await call(Template, template=template, values=values)

    assert out == {"text": 'Hi Zoë! 7/A1 paid=true note=null $5 [{"sku":"A1"}]'}


async def test_template_never_expands_placeholders_inside_values() -> None:
    out = await call(Template, template="$a", values={"a": "$b {{ 7*7 }} ${b}", "b": "secret"})

    assert out == {"text": "$b {{ 7*7 }} ${b}"}


async def test_template_strict_names_every_missing_value() -> None:
    message = await fails(Template, template="$a ${b.c} ${list.3} $a", values={"b": {}, "list": [1]})

    assert "the template names values that are not given: a, b.c, list.3 (values: b, list)" in message


async def test_template_strict_refuses_a_stray_dollar_with_its_position() -> None:
    message = await fails(Template, template="line one\ncosts $5", values={})

    assert "a $ that starts no placeholder at line 2, column 7: write $$ for a literal $" in message


async def test_template_lenient_leaves_unknown_placeholders() -> None:
    out = await call(Template, template="$a $missing ${x.y} $5", values={"a": 1}, strict=False)

    assert out == {"text": "1 $missing ${x.y} $5"}


async def test_template_bounds_the_text_it_builds() -> None:
    big = "x" * (1024 * 1024)

    message = await fails(Template, template="$v" * 11, values={"v": big})

    assert "larger than the limit of 10 MiB" in message


async def test_template_refuses_values_that_are_not_an_object() -> None:
    assert "values must be an object, got a list" in await fails(Template, template="x", values=[1])


# -- through the engine -------------------------------------------------------------------------


async def run_ok(api: Api, yaml_text: str) -> dict[str, Any]:
    body = await run(api, yaml_text)
    assert body["execution"]["status"] == "SUCCESS", [(t["taskName"], t["error"]) for t in body["tasks"]]
    return {name: outputs(runs[-1]) for name, runs in tasks_by_name(body).items()}


CHAIN = """
name: sales-report
namespace: shop
tasks:
  - name: parse
    type: data.csv_parse
    properties:
      infer_types: true
      text: |
        region,amount,note
        eu,120,"first, big"
        us,80.5,"said ""hi"" twice"
        eu,30,small
        us,5,tiny
  - name: big
    type: data.filter
    properties:
      items: "{{ outputs.parse.rows }}"
      where: "amount > `20`"
  - name: per_region
    type: data.aggregate
    properties:
      items: "{{ outputs.big.result }}"
      operation: sum
      field: amount
      group_by: region
  - name: ranked
    type: data.sort
    properties:
      items: "{{ outputs.big.result }}"
      by: amount
      reverse: true
  - name: table
    type: data.csv_format
    properties:
      rows: "{{ outputs.ranked.result }}"
      columns: [region, amount, note]
"""


async def test_csv_parse_filter_aggregate_sort_format_through_a_flow(api: Api) -> None:
    out = await run_ok(api, CHAIN)

    assert out["parse"]["count"] == 4
    assert out["parse"]["rows"][1] == {"region": "us", "amount": 80.5, "note": 'said "hi" twice'}
    assert out["big"]["count"] == 3
    assert out["per_region"] == {"result": {"eu": 150, "us": 80.5}}
    assert out["table"] == {
        "text": 'region,amount,note\neu,120,"first, big"\nus,80.5,"said ""hi"" twice"\neu,30,small\n'
    }


async def test_data_from_outputs_is_never_rendered_again(api: Api) -> None:
    """The author's text is rendered once; what a task produced stays exactly as produced."""
    flow = """
name: no-double-render
namespace: shop
tasks:
  - name: decode
    type: data.json_parse
    properties:
      text: '{% raw %}{"orders": [{"id": 1, "note": "{{ 7 * 7 }}"}, {"id": 2, "note": "$other ${lower}"}]}{% endraw %}'
  - name: notes
    type: data.jmespath
    properties:
      data: "{{ outputs.decode.value }}"
      expression: "orders[*].note"
  - name: ids
    type: data.jmespath
    properties:
      data: "{{ outputs.decode.value }}"
      expression: "orders[?id > `1`].id"
  - name: message
    type: data.template
    properties:
      template: "notes: ${first} / $second; ids: $ids"
      values:
        first: "{{ outputs.notes.result[0] }}"
        second: "{{ outputs.notes.result[1] }}"
        ids: "{{ outputs.ids.result }}"
        other: must not appear
"""
    out = await run_ok(api, flow)

    assert out["notes"] == {"result": ["{{ 7 * 7 }}", "$other ${lower}"]}
    assert out["ids"] == {"result": [2]}
    assert out["message"] == {"text": "notes: {{ 7 * 7 }} / $other ${lower}; ids: [2]"}


async def test_yaml_parse_then_validate_fails_the_flow_with_the_errors(api: Api) -> None:
    flow = """
name: config-check
namespace: shop
tasks:
  - name: config
    type: data.yaml_parse
    properties:
      text: |
        port: eighty
        hosts: [a, b]
  - name: check
    type: data.validate
    properties:
      data: "{{ outputs.config.value }}"
      schema:
        type: object
        properties:
          port: {type: integer}
"""
    body = await run(api, flow)

    assert body["execution"]["status"] == "FAILED"
    check = tasks_by_name(body)["check"][-1]
    assert check["status"] == "FAILED"
    assert check["error"] == "the data does not match the schema: $.port: 'eighty' is not of type 'integer'"
