"""Text formats for data.*: CSV, JSON and YAML read and written within bounds a server can afford.

The text these functions read usually comes from outside the flow (a download, a webhook body,
a file), so each one bounds what it accepts (size, nesting, alias expansion), yields JSON-like
values only (task outputs are stored as JSON), and fails with `TaskFailed` naming the line and
column of the fault so the operator can find it in the source. They are pure and synchronous:
the plugins run them in a worker thread so a large document does not hold the event loop.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import string
from collections.abc import Iterator
from collections.abc import Mapping
from typing import Any
from typing import Final
from typing import Literal

import yaml
from yaml.constructor import ConstructorError
from yaml.events import AliasEvent
from yaml.events import CollectionEndEvent
from yaml.events import CollectionStartEvent
from yaml.events import DocumentStartEvent
from yaml.events import ScalarEvent
from yaml.nodes import MappingNode
from yaml.nodes import ScalarNode

from workflowdev.engine.plugin import JSON
from workflowdev.engine.plugin import TaskFailed
from workflowdev.engine.plugin import as_text
from workflowdev.plugins._toolkit import type_name

__all__ = [
    "MAX_ALIAS_NODES",
    "MAX_DEPTH",
    "MAX_TEXT_BYTES",
    "Ragged",
    "check_size",
    "format_csv",
    "parse_csv",
    "parse_json",
    "parse_yaml",
    "render_template",
]

MAX_TEXT_BYTES: Final = 10 * 1024 * 1024
"""Text read or written by data.* (UTF-8); as large as the default cap on an HTTP response."""
MAX_DEPTH: Final = 100
"""Nesting of lists and objects; real documents stay far below, crafted ones aim at recursion."""
MAX_ALIAS_NODES: Final = 100_000
"""Values YAML aliases may add by repetition: ample for shared defaults, fatal to alias bombs."""

Ragged = Literal["error", "pad", "keep"]


def utf8_size(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


def check_size(text: str, what: str) -> None:
    """Refuse text over MAX_TEXT_BYTES before any work is spent on it."""
    if len(text) * 4 > MAX_TEXT_BYTES and utf8_size(text) > MAX_TEXT_BYTES:
        raise TaskFailed(f"{what} is larger than the limit of {MAX_TEXT_BYTES // (1024 * 1024)} MiB")


def _check_depth(value: JSON) -> None:
    """Iterative, so the check itself cannot hit the recursion limit it guards against."""
    stack: list[tuple[JSON, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, dict) else node
        if depth > MAX_DEPTH:
            raise TaskFailed(f"the value is nested deeper than {MAX_DEPTH} levels")
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))


# -- JSON ---------------------------------------------------------------------------------------


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number (NaN and Infinity are JavaScript, not JSON)")


def parse_json(text: str) -> JSON:
    """Strict JSON (RFC 8259): no NaN/Infinity, at most MAX_DEPTH levels, MAX_TEXT_BYTES of text."""
    check_size(text, "text")
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise TaskFailed(f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    except RecursionError:
        raise TaskFailed(f"the JSON is nested deeper than {MAX_DEPTH} levels") from None
    except ValueError as exc:  # a refused constant, an integer of thousands of digits
        raise TaskFailed(f"invalid JSON: {exc}") from None
    if isinstance(value, (dict, list)):
        _check_depth(value)
    return value


# -- YAML ---------------------------------------------------------------------------------------

_YAML = "tag:yaml.org,2002:"
_SCALAR_TAGS: Final = frozenset({"!", *(_YAML + kind for kind in ("str", "int", "float", "bool", "null"))})
_COLLECTION_TAGS: Final = frozenset({"!", _YAML + "seq", _YAML + "map"})
_BaseLoader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _DataLoader(_BaseLoader):  # type: ignore[misc, valid-type]
    """safe_load's loader, minus what JSON cannot hold or a reader would not expect.

    Timestamps stay text (JSON has no dates; `2024-05-01` would otherwise become a date the
    outputs could not store), `=` is a plain string, and a key written twice in one mapping is
    an error rather than a silent loss of the first value.
    """

    yaml_implicit_resolvers = {
        first: [(tag, rx) for tag, rx in resolvers if tag not in (_YAML + "timestamp", _YAML + "value")]
        for first, resolvers in _BaseLoader.yaml_implicit_resolvers.items()
    }

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if not isinstance(key_node, ScalarNode) or key_node.tag == _YAML + "merge":
                continue
            key = self.construct_object(key_node, deep=True)
            if key in seen:
                raise ConstructorError(
                    "while constructing a mapping", node.start_mark, f"found duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep)


def _where(mark: Any) -> str:
    return f"line {mark.line + 1}, column {mark.column + 1}"


def _check_tag(event: CollectionStartEvent | ScalarEvent, allowed: frozenset[str]) -> None:
    if event.tag is not None and event.tag not in allowed:
        raise TaskFailed(
            f"YAML tag {event.tag} at {_where(event.start_mark)} is not supported: values must be JSON-like "
            "(text, numbers, booleans, null, lists and mappings)"
        )


def _guard_yaml(text: str) -> int:
    """Walk the event stream once, cheaply, and refuse what would be costly to build or store.

    Counts the values every alias would add when the result is written out as JSON (an alias
    bomb is tiny as YAML and enormous as JSON), bounds nesting, refuses recursive aliases and
    tags that have no JSON value. Returns the number of documents.
    """
    documents = 0
    sizes: dict[str, int] = {}  # anchor -> values in the anchored node, aliases expanded
    open_nodes: list[list[Any]] = []  # [anchor, values so far] per open collection
    alias_values = 0
    for event in yaml.parse(text, Loader=_DataLoader):
        if isinstance(event, DocumentStartEvent):
            documents += 1
            sizes.clear()  # anchors do not cross documents
            continue
        size = 0
        if isinstance(event, CollectionStartEvent):
            _check_tag(event, _COLLECTION_TAGS)
            open_nodes.append([event.anchor, 1])
            if len(open_nodes) > MAX_DEPTH:
                raise TaskFailed(f"the YAML is nested deeper than {MAX_DEPTH} levels at {_where(event.start_mark)}")
            continue
        if isinstance(event, CollectionEndEvent):
            anchor, size = open_nodes.pop()
            if anchor is not None:
                sizes[anchor] = size
        elif isinstance(event, ScalarEvent):
            _check_tag(event, _SCALAR_TAGS)
            size = 1
            if event.anchor is not None:
                sizes[event.anchor] = 1
        elif isinstance(event, AliasEvent):
            if any(anchor == event.anchor for anchor, _ in open_nodes):
                raise TaskFailed(
                    f"alias *{event.anchor} at {_where(event.start_mark)} refers to a value that contains it"
                )
            if event.anchor not in sizes:
                raise TaskFailed(f"alias *{event.anchor} at {_where(event.start_mark)} names no anchor before it")
            size = sizes[event.anchor]
            alias_values += size
            if alias_values > MAX_ALIAS_NODES:
                raise TaskFailed(
                    f"YAML aliases would repeat more than {MAX_ALIAS_NODES} values (at {_where(event.start_mark)})"
                )
        if open_nodes:
            open_nodes[-1][1] += size
    return documents


def _as_json(value: Any) -> JSON:
    """A tree copy with text keys (`1:` gives "1", as JSON would) and finite numbers only.

    The copy also expands shared references from aliases, which the guard has already bounded.
    """
    if isinstance(value, dict):
        out: dict[str, JSON] = {}
        for key, item in value.items():
            text = key if isinstance(key, str) else as_text(key)
            if text in out:
                raise TaskFailed(f"the YAML mapping key {text!r} appears twice once keys are written as text")
            out[text] = _as_json(item)
        return out
    if isinstance(value, list):
        return [_as_json(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        raise TaskFailed(f"the YAML value {value} is not a JSON number (.nan and .inf have no JSON form)")
    return value


def parse_yaml(text: str, *, all_documents: bool) -> JSON:
    """One document's value (null for empty text), or with `all_documents` a list of them all."""
    check_size(text, "text")
    try:
        documents = _guard_yaml(text)
        if not all_documents and documents > 1:
            raise TaskFailed(f"the text holds {documents} YAML documents; set all: true to read them as a list")
        if all_documents:
            return [_as_json(document) for document in yaml.load_all(text, Loader=_DataLoader)]
        return _as_json(yaml.load(text, Loader=_DataLoader))  # noqa: S506 - a safe loader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at {_where(mark)}" if mark is not None else ""
        raise TaskFailed(f"invalid YAML{where}: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise TaskFailed(f"invalid YAML: {exc}") from None


# -- CSV ----------------------------------------------------------------------------------------

_INTEGER = re.compile(r"-?(0|[1-9][0-9]*)")
_DECIMAL = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")
_NUMBER_TEXT = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?")
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _infer(cell: str) -> JSON:
    """Numbers as JSON writes them, true/false, empty as null; anything else stays text.

    Numbers with leading zeros (zip codes, ids like 007) stay text on purpose.
    """
    if cell == "":
        return None
    if cell in ("true", "false", "True", "False", "TRUE", "FALSE"):
        return cell.lower() == "true"
    if _INTEGER.fullmatch(cell):
        return int(cell)
    if _DECIMAL.fullmatch(cell):
        number = float(cell)
        return number if math.isfinite(number) else cell
    return cell


def _records(text: str, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    """(line where the record starts, cells); a quoted cell may span lines."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    start = 1
    try:
        for cells in reader:
            yield start, cells
            start = reader.line_num + 1
    except csv.Error as exc:
        raise TaskFailed(f"invalid CSV at line {reader.line_num}: {exc}") from None


def _cells(count: int) -> str:
    return f"{count} cell" if count == 1 else f"{count} cells"


def _header(line: int, cells: list[str]) -> list[str]:
    first: dict[str, int] = {}
    for number, name in enumerate(cells, start=1):
        if name in first:
            raise TaskFailed(
                f"the header (line {line}) names column {name!r} twice: columns {first[name]} and {number}"
            )
        first[name] = number
    return cells


def parse_csv(
    text: str, *, delimiter: str, header: bool, skip_empty: bool, ragged: Ragged, infer_types: bool
) -> tuple[list[JSON], list[str]]:
    """Rows (objects under a header, else lists) and the header's column names.

    Ragged rows: `error` fails naming the line; `pad` fills missing cells with null up to the
    header's width (without a header, the widest row's); `keep` leaves them short (objects
    without the missing columns). A row longer than the header always fails: its extra cells
    have no column to go to.
    """
    check_size(text, "text")
    text = text.removeprefix("\ufeff")  # spreadsheet exports start with a byte-order mark
    records = [
        (line, cells)
        for line, cells in _records(text, delimiter)
        if not (skip_empty and all(cell.strip() == "" for cell in cells))
    ]
    columns: list[str] = []
    if header and records:
        columns = _header(*records.pop(0))
    widths = [len(cells) for _, cells in records]
    width = len(columns) if header else (max(widths) if ragged == "pad" else widths[0] if widths else 0)
    rows: list[JSON] = []
    for line, cells in records:
        if header and len(cells) > width:
            raise TaskFailed(f"line {line} has {_cells(len(cells))} but the header has only {width} columns")
        if len(cells) != width and ragged == "error":
            expected = f"the header has {width} columns" if header else f"the first row has {_cells(width)}"
            raise TaskFailed(
                f"line {line} has {_cells(len(cells))} but {expected} (set ragged: pad or keep to accept it)"
            )
        values: list[JSON] = [_infer(cell) for cell in cells] if infer_types else list(cells)
        if ragged == "pad":
            values.extend([None] * (width - len(values)))
        rows.append(dict(zip(columns, values, strict=False)) if header else values)
    return rows, columns


def _cell(value: JSON, escape_formulas: bool) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        return as_text(value)
    if escape_formulas and value.startswith(_FORMULA_STARTS) and not _NUMBER_TEXT.fullmatch(value):
        return "'" + value
    return value


def format_csv(
    rows: list[JSON],
    *,
    columns: list[str] | None,
    delimiter: str,
    header: bool,
    escape_formulas: bool,
    line_ending: str,
) -> str:
    """CSV text of rows that are all objects or all lists, with RFC 4180 quoting."""
    kinds = {type(row) for row in rows}
    for index, row in enumerate(rows):
        if not isinstance(row, (dict, list)):
            raise TaskFailed(f"rows[{index}] is {type_name(row)}; each row must be an object or a list")
        if type(row) is not type(rows[0]):
            raise TaskFailed(f"rows[{index}] is {type_name(row)} but rows[0] is {type_name(rows[0])}; do not mix them")
    as_objects = dict in kinds
    if columns is None and as_objects:
        columns = list(dict.fromkeys(key for row in rows for key in row))
    if header and columns is None and rows:
        raise TaskFailed("the rows are lists: give columns to name the header, or set header: false")
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator=line_ending)
    if header and columns is not None:
        writer.writerow([_cell(name, escape_formulas) for name in columns])
    for row in rows:
        cells = [row.get(name) for name in columns or []] if isinstance(row, dict) else row
        writer.writerow([_cell(value, escape_formulas) for value in cells])
        if out.tell() > MAX_TEXT_BYTES:
            raise TaskFailed(f"the CSV text would be larger than the limit of {MAX_TEXT_BYTES // (1024 * 1024)} MiB")
    return out.getvalue()


# -- $name templates ----------------------------------------------------------------------------


class _Placeholders(string.Template):
    """`$name`, `${name}`, and in braces a dotted path into the values: `${order.lines.0.sku}`."""

    braceidpattern = r"(?a:[_a-z][_a-z0-9]*(?:\.[_a-z0-9]+)*)"


_MISSING: Final = object()


def _lookup(values: Mapping[str, JSON], path: str) -> Any:
    found: Any = values
    for part in path.split("."):
        if isinstance(found, dict) and part in found:
            found = found[part]
        elif isinstance(found, list) and part.isdigit() and int(part) < len(found):
            found = found[int(part)]
        else:
            return _MISSING
    return found


class _Values(Mapping[str, str]):
    """What `string.Template` reads: each value as text, the total held under MAX_TEXT_BYTES.

    A short template repeating one large value could otherwise build gigabytes.
    """

    def __init__(self, values: Mapping[str, JSON], budget: int) -> None:
        self._values = values
        self._budget = budget

    def __getitem__(self, path: str) -> str:
        found = _lookup(self._values, path)
        if found is _MISSING:
            raise KeyError(path)
        text = as_text(found)
        self._budget -= utf8_size(text)
        if self._budget < 0:
            raise TaskFailed(f"the text would be larger than the limit of {MAX_TEXT_BYTES // (1024 * 1024)} MiB")
        return text

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)


def _line_and_column(text: str, index: int) -> str:
    line = text.count("\n", 0, index) + 1
    column = index - text.rfind("\n", 0, index)
    return f"line {line}, column {column}"


def render_template(template: str, values: Mapping[str, JSON], *, strict: bool) -> str:
    """Substitute placeholders; strict mode refuses unknown names and stray `$` signs."""
    check_size(template, "template")
    budget = MAX_TEXT_BYTES - utf8_size(template)
    if not strict:
        return _Placeholders(template).safe_substitute(_Values(values, budget))
    missing: list[str] = []
    for match in _Placeholders.pattern.finditer(template):
        if match.group("invalid") is not None:
            raise TaskFailed(
                f"the template has a $ that starts no placeholder at {_line_and_column(template, match.start())}: "
                "write $$ for a literal $"
            )
        name = match.group("named") or match.group("braced")
        if name is not None and name not in missing and _lookup(values, name) is _MISSING:
            missing.append(name)
    if missing:
        names = list(values)
        known = ", ".join(names[:20]) + (", …" if len(names) > 20 else "") if names else "none"
        raise TaskFailed(f"the template names values that are not given: {', '.join(missing)} (values: {known})")
    return _Placeholders(template).substitute(_Values(values, budget))
