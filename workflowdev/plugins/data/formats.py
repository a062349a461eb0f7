"""data.csv_parse, data.csv_format, data.json_parse and data.yaml_parse: text to data and back,
within the size and depth limits of `_data_formats`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from workflowdev.engine.plugin import JSON
from workflowdev.engine.plugin import Manifest
from workflowdev.engine.plugin import Plugin
from workflowdev.engine.plugin import TaskContext
from workflowdev.engine.plugin import TaskFailed
from workflowdev.engine.plugin import as_text
from workflowdev.plugins._data_formats import MAX_ALIAS_NODES
from workflowdev.plugins._data_formats import MAX_DEPTH
from workflowdev.plugins._data_formats import format_csv
from workflowdev.plugins._data_formats import parse_csv
from workflowdev.plugins._data_formats import parse_json
from workflowdev.plugins._data_formats import parse_yaml
from workflowdev.plugins._toolkit import flag_schema
from workflowdev.plugins._toolkit import object_schema
from workflowdev.plugins._toolkit import read_choice
from workflowdev.plugins._toolkit import read_flag
from workflowdev.plugins._toolkit import read_items
from workflowdev.plugins._toolkit import read_text
from workflowdev.plugins._toolkit import single_value
from workflowdev.plugins._toolkit import task_example
from workflowdev.plugins.data._common import DELIMITER_SCHEMA
from workflowdev.plugins.data._common import LINE_ENDINGS
from workflowdev.plugins.data._common import MIB
from workflowdev.plugins.data._common import RAGGED_MODES
from workflowdev.plugins.data._common import in_thread

# -- reading properties (an expression may have rendered a value of another type) ---------------


def _delimiter(properties: Mapping[str, JSON]) -> str:
    value = read_text(properties, "delimiter", ",")
    if len(value) != 1 or value in '"\r\n':
        raise TaskFailed(f"delimiter must be one character other than a quote or a line break, got {value!r}")
    return value


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
            f"`skip_empty` is false. A leading byte-order mark is ignored. At most {MIB} MiB."
        ),
        input_schema=object_schema(
            {
                "text": {"type": "string", "description": "The CSV text."},
                "delimiter": DELIMITER_SCHEMA,
                "header": flag_schema(True, "The first row holds column names: rows become objects (false: lists)."),
                "skip_empty": flag_schema(True, "Skip lines with no text in any cell."),
                "ragged": {
                    "type": "string",
                    "enum": list(RAGGED_MODES),
                    "default": "error",
                    "description": "Rows whose length differs: fail (error), fill with null (pad), or leave short (keep).",
                },
                "infer_types": flag_schema(
                    False, "Turn numbers, true/false and empty cells into JSON values (false: all cells are text)."
                ),
            },
            ["text"],
        ),
        output_schema=object_schema(
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
            task_example(
                "read_prices",
                "data.csv_parse",
                """
                text: |
                  sku,name,price
                  A1,"Pen, blue",2.50
                  B7,Lamp,40
                infer_types: true
                """,
            ),
            task_example(
                "read_semicolons",
                "data.csv_parse",
                r"""
                text: "1;ok\n2;late;retry\n"
                delimiter: ';'
                header: false
                ragged: pad
                """,
            ),
        ),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        return await in_thread(_csv_parse, properties)


def _csv_parse(properties: Mapping[str, JSON]) -> dict[str, JSON]:
    rows, columns = parse_csv(
        read_text(properties, "text"),
        delimiter=_delimiter(properties),
        header=read_flag(properties, "header", True),
        skip_empty=read_flag(properties, "skip_empty", True),
        ragged=read_choice(properties, "ragged", RAGGED_MODES, "error"),  # type: ignore[arg-type]
        infer_types=read_flag(properties, "infer_types", False),
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
            f"alone. Lines end with LF unless `line_ending` is crlf. At most {MIB} MiB of text."
        ),
        input_schema=object_schema(
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
                "delimiter": DELIMITER_SCHEMA,
                "header": flag_schema(True, "Write a header line of column names first (lists need `columns` for it)."),
                "escape_formulas": flag_schema(
                    True, "Prefix text cells starting with = + - @ (a formula in a spreadsheet) with '."
                ),
                "line_ending": {
                    "type": "string",
                    "enum": list(LINE_ENDINGS),
                    "default": "lf",
                    "description": "lf (\\n) or crlf (\\r\\n, as RFC 4180 and some Windows tools want).",
                },
            },
            ["rows"],
        ),
        output_schema=single_value(
            "text", {"type": "string", "description": "The CSV text, ending with a line break unless empty."}
        ),
        examples=(
            task_example(
                "report_csv",
                "data.csv_format",
                """
                rows:
                  - {sku: A1, name: 'Pen, blue', price: 2.5}
                  - {sku: B7, name: '=HYPERLINK("http://evil.test")', price: 40}
                columns: [sku, price, name]
                """,
            ),
        ),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        return await in_thread(_csv_format, properties)


def _csv_format(properties: Mapping[str, JSON]) -> dict[str, JSON]:
    columns = properties.get("columns")
    if columns is not None and not (isinstance(columns, list) and all(isinstance(name, str) for name in columns)):
        raise TaskFailed(f"columns must be a list of column names, got {as_text(columns)}")
    text = format_csv(
        read_items(properties, "rows"),
        columns=columns,
        delimiter=_delimiter(properties),
        header=read_flag(properties, "header", True),
        escape_formulas=read_flag(properties, "escape_formulas", True),
        line_ending=LINE_ENDINGS[read_choice(properties, "line_ending", tuple(LINE_ENDINGS), "lf")],
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
            f"{MIB} MiB of text and {MAX_DEPTH} levels of nesting."
        ),
        input_schema=single_value("text", {"type": "string", "description": "The JSON text."}),
        output_schema=single_value(
            "value", {"description": "The decoded value: object, list, text, number, boolean or null."}
        ),
        examples=(
            task_example(
                "decode",
                "data.json_parse",
                """
                text: '{"id": 42, "tags": ["a", "b"], "paid": true}'
                """,
            ),
        ),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        return await in_thread(_json_parse, properties)


def _json_parse(properties: Mapping[str, JSON]) -> dict[str, JSON]:
    return {"value": parse_json(read_text(properties, "text"))}


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
            f"{MAX_DEPTH} levels, so alias bombs fail at once; at most {MIB} MiB of text. Text "
            "holding several documents (`---`) fails unless `all` is true, which returns a list "
            "of them; empty text gives null (a list of none with `all`)."
        ),
        input_schema=object_schema(
            {
                "text": {"type": "string", "description": "The YAML text."},
                "all": flag_schema(False, "Read every document of a multi-document stream into a list."),
            },
            ["text"],
        ),
        output_schema=single_value(
            "value", {"description": "The document's value, or the list of documents with `all`."}
        ),
        examples=(
            task_example(
                "read_config",
                "data.yaml_parse",
                """
                text: |
                  defaults: &defaults {retries: 3, timeout: 30}
                  services:
                    api: {<<: *defaults, timeout: 10}
                    worker: *defaults
                """,
            ),
            task_example(
                "read_documents",
                "data.yaml_parse",
                r"""
                text: "---\nname: a\n---\nname: b\n"
                all: true
                """,
            ),
        ),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        return await in_thread(_yaml_parse, properties)


def _yaml_parse(properties: Mapping[str, JSON]) -> dict[str, JSON]:
    return {"value": parse_yaml(read_text(properties, "text"), all_documents=read_flag(properties, "all", False))}
