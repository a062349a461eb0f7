"""Safe YAML loading that remembers where every value came from.

Flows are written by people and checked by a server, so this loader does two things PyYAML's
`safe_load` does not: it points every problem at a line and column, and it refuses documents
built to exhaust the server (alias bombs, deep nesting, huge files) at the event that breaks the
limit, before they cost anything. It composes PyYAML's event stream itself for that reason.

It yields JSON-like values only (str, int, float, bool, None, list, dict with string keys):
a flow is stored and served as JSON, so dates, sets and binary have no place in it. Timestamps
therefore stay strings, mapping keys are always the text as written (`1:` gives the key "1"),
and any other tag is reported. `<<` merge keys work as in YAML 1.1.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field
from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.constructor import SafeConstructor
from yaml.events import AliasEvent
from yaml.events import MappingEndEvent
from yaml.events import MappingStartEvent
from yaml.events import ScalarEvent
from yaml.events import SequenceEndEvent
from yaml.events import StreamEndEvent
from yaml.nodes import ScalarNode
from yaml.resolver import Resolver

__all__ = [
    "MAX_ALIAS_NODES",
    "MAX_BYTES",
    "MAX_DEPTH",
    "Path",
    "Position",
    "SourceDocument",
    "SourceError",
    "SourceProblem",
    "format_path",
    "load_yaml",
]

MAX_BYTES = 1024 * 1024
"""Flows are text written by people; a megabyte is far beyond any real one."""
MAX_DEPTH = 64
"""Each level of nested flow tasks costs three levels of YAML, so this allows ~20 levels."""
MAX_ALIAS_NODES = 10_000
"""Values that aliases may add by repetition; a billion-laughs document hits it in microseconds."""

Path = tuple[str | int, ...]

_CSafeLoader = getattr(yaml, "CSafeLoader", None)
_Loader: type = _CSafeLoader or yaml.SafeLoader
_POSITIONS_IN_BYTES = _CSafeLoader is not None
"""libyaml reports reader errors at a UTF-8 byte offset, the Python reader at a character offset."""

_YAML = "tag:yaml.org,2002:"
_MERGE = _YAML + "merge"
_SEQ_TAGS = frozenset({None, "!", _YAML + "seq"})
_MAP_TAGS = frozenset({None, "!", _YAML + "map"})


class _JsonResolver(Resolver):
    """YAML 1.1 implicit typing without timestamps and `=`: only JSON-like scalars resolve."""

    yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag not in (
            _YAML + "timestamp", _YAML + "value", _YAML + "yaml")]
        for first, resolvers in Resolver.yaml_implicit_resolvers.items()
    }


_RESOLVER = _JsonResolver()
_CONSTRUCTOR = SafeConstructor()
_SCALAR_CONSTRUCTORS: dict[str, Callable[[ScalarNode], Any]] = {
    _YAML + kind: getattr(_CONSTRUCTOR, f"construct_yaml_{kind}")
    for kind in ("null", "bool", "int", "float", "str")
}


@dataclass(frozen=True, slots=True)
class Position:
    """1-based, as editors and compilers count."""

    line: int
    column: int


@dataclass(frozen=True, slots=True)
class SourceProblem:
    position: Position
    path: Path
    message: str


class SourceError(Exception):
    """The text cannot be read as a YAML document at all (syntax, encoding, limits)."""

    def __init__(self, problem: SourceProblem) -> None:
        super().__init__(problem.message)
        self.problem = problem


@dataclass
class SourceDocument:
    """The plain value of a document, with the position of every value and mapping key in it.

    `problems` are defects that did not stop reading (duplicate keys, unsupported tags): the
    data holds the first value of a duplicated key and the plain text of an unsupported scalar,
    so a validator can go on and report everything at once.
    """

    data: Any
    problems: list[SourceProblem] = field(default_factory=list)
    values: dict[Path, Position] = field(default_factory=dict)
    keys: dict[Path, Position] = field(default_factory=dict)

    def value_position(self, path: Path) -> Position:
        """Where the value at `path` starts, or its nearest ancestor when it is absent."""
        for prefix in _prefixes(path):
            if prefix in self.values:
                return self.values[prefix]
        return Position(1, 1)

    def key_position(self, path: Path) -> Position:
        """Where the mapping key naming `path` starts; the value's position for list items."""
        if path in self.keys:
            return self.keys[path]
        return self.value_position(path)


def _prefixes(path: Path) -> Iterator[Path]:
    for end in range(len(path), -1, -1):
        yield path[:end]


_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def format_path(path: Path) -> str:
    """`tasks[2].properties.url`; keys that are not plain names are quoted: `cases["a b"]`."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        elif _PLAIN_KEY.match(part):
            text += f".{part}" if text else part
        else:
            text += f"[{json.dumps(part)}]"
    return text


@dataclass(slots=True)
class _Node:
    kind: str  # "scalar" | "seq" | "map"
    tag: str | None
    value: Any  # str | list[_Node] | list[tuple[_Node, _Node]]
    position: Position
    implicit: tuple[bool, bool] = (True, False)
    size: int = 1
    height: int = 1


def _position(mark: Any) -> Position:
    return Position(mark.line + 1, mark.column + 1)


def _fail(position: Position, message: str, path: Path = ()) -> SourceError:
    return SourceError(SourceProblem(position, path, message))


def _offset_position(text: str, offset: int, in_bytes: bool) -> Position:
    if in_bytes:
        prefix = text.encode("utf-8", "surrogatepass")[:offset].decode("utf-8", "ignore")
    else:
        prefix = text[:offset]
    line_start = prefix.rfind("\n") + 1
    return Position(prefix.count("\n") + 1, len(prefix) - line_start + 1)


def _decode_source(source: str | bytes) -> str:
    """The text of a flow; bytes must be UTF-8, and the size is capped before anything else."""
    raw = source if isinstance(source, bytes) else source.encode("utf-8", "surrogatepass")
    size = len(raw)
    if size > MAX_BYTES:
        raise _fail(Position(1, 1), f"the document is {size} bytes; the limit is {MAX_BYTES} bytes")
    if isinstance(source, str):
        return source.removeprefix("\ufeff")
    try:
        return source.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        good = source[: exc.start].decode("utf-8")
        line_start = good.rfind("\n") + 1
        raise _fail(
            Position(good.count("\n") + 1, len(good) - line_start + 1),
            f"the document is not UTF-8 text: byte 0x{source[exc.start]:02x} cannot be decoded; "
            "save the file as UTF-8",
        ) from None


def load_yaml(source: str | bytes) -> SourceDocument:
    """Read one YAML document; raise SourceError for what makes it unreadable."""
    text = _decode_source(source)
    loader = _Loader(text)
    try:
        root = _Composer(loader).document()
    except yaml.MarkedYAMLError as exc:
        raise _fail(*_describe_marked(exc)) from None
    except yaml.reader.ReaderError as exc:
        raise _fail(
            _offset_position(text, exc.position, _POSITIONS_IN_BYTES),
            f"character U+{_code_point(exc.character):04X} is not allowed in YAML ({exc.reason})",
        ) from None
    finally:
        loader.dispose()
    document = SourceDocument(data=None)
    document.data = _Converter(document).convert(root, ())
    return document


def _code_point(character: int | str) -> int:
    return character if isinstance(character, int) else ord(character)


def _describe_marked(exc: yaml.MarkedYAMLError) -> tuple[Position, str]:
    mark = exc.problem_mark or exc.context_mark
    position = _position(mark) if mark is not None else Position(1, 1)
    message = f"YAML syntax error: {exc.problem or exc.context}"
    if exc.problem and exc.context:
        where = ""
        if exc.context_mark is not None:
            start = _position(exc.context_mark)
            where = f" at line {start.line}, column {start.column}"
        message += f" ({exc.context}{where})"
    return position, message


class _Composer:
    """Builds the node graph from events, enforcing depth and alias limits as it goes.

    An anchor is registered only once its node is complete, so an alias cannot refer to a node
    that contains it: the graph is acyclic and `size`/`height` are exact.
    """

    def __init__(self, loader: Any) -> None:
        self._loader = loader
        self._anchors: dict[str, _Node] = {}
        self._alias_nodes = 0

    def document(self) -> _Node:
        self._loader.get_event()  # stream start
        if self._loader.check_event(StreamEndEvent):
            raise _fail(Position(1, 1), "the document is empty; a flow is a mapping with a name "
                        "and tasks")
        self._loader.get_event()  # document start
        root = self._node(depth=1)
        self._loader.get_event()  # document end
        if not self._loader.check_event(StreamEndEvent):
            extra = self._loader.get_event()
            raise _fail(_position(extra.start_mark),
                        "only one YAML document is allowed; remove this '---' and what follows")
        return root

    def _node(self, depth: int) -> _Node:
        event = self._loader.get_event()
        position = _position(event.start_mark)
        if isinstance(event, AliasEvent):
            return self._alias(event.anchor, position, depth)
        if depth > MAX_DEPTH:
            raise _fail(position, f"the document nests deeper than {MAX_DEPTH} levels")
        if isinstance(event, ScalarEvent):
            node = _Node("scalar", event.tag, event.value, position, event.implicit)
        elif isinstance(event, MappingStartEvent):
            pairs: list[tuple[_Node, _Node]] = []
            while not self._loader.check_event(MappingEndEvent):
                key = self._node(depth + 1)
                pairs.append((key, self._node(depth + 1)))
            self._loader.get_event()
            children = [part for pair in pairs for part in pair]
            node = _Node("map", event.tag, pairs, position, size=1 + sum(c.size for c in children),
                         height=1 + max((c.height for c in children), default=0))
        else:  # a sequence: the parser emits nothing else here
            items: list[_Node] = []
            while not self._loader.check_event(SequenceEndEvent):
                items.append(self._node(depth + 1))
            self._loader.get_event()
            node = _Node("seq", event.tag, items, position, size=1 + sum(c.size for c in items),
                         height=1 + max((c.height for c in items), default=0))
        if event.anchor is not None:
            self._anchors[event.anchor] = node
        return node

    def _alias(self, anchor: str, position: Position, depth: int) -> _Node:
        target = self._anchors.get(anchor)
        if target is None:
            raise _fail(position, f"alias *{anchor} refers to no anchor &{anchor} defined "
                        "before it (an alias cannot be used inside its own anchor)")
        self._alias_nodes += target.size
        if self._alias_nodes > MAX_ALIAS_NODES:
            raise _fail(position, f"aliases expand to more than {MAX_ALIAS_NODES} values; "
                        "write the repeated parts out or use fewer aliases")
        if depth - 1 + target.height > MAX_DEPTH:
            raise _fail(position, f"the document nests deeper than {MAX_DEPTH} levels")
        return target


class _Converter:
    """Turns the node graph into plain values, recording positions by path."""

    def __init__(self, document: SourceDocument) -> None:
        self._doc = document

    def _problem(self, position: Position, path: Path, message: str) -> None:
        self._doc.problems.append(SourceProblem(position, path, message))

    def convert(self, node: _Node, path: Path) -> Any:
        self._doc.values[path] = node.position
        if node.kind == "scalar":
            return self._scalar(node, path)
        if node.kind == "seq":
            if node.tag not in _SEQ_TAGS:
                self._problem(node.position, path, _unsupported(node.tag))
            return [self.convert(item, path + (index,)) for index, item in enumerate(node.value)]
        if node.tag not in _MAP_TAGS:
            self._problem(node.position, path, _unsupported(node.tag))
        return self._mapping(node, path)

    def _scalar(self, node: _Node, path: Path) -> Any:
        tag = node.tag
        if tag is None or tag == "!":
            tag = _RESOLVER.resolve(ScalarNode, node.value, node.implicit)
        construct = _SCALAR_CONSTRUCTORS.get(tag)
        if construct is None:
            self._problem(node.position, path, _unsupported(tag))
            return node.value
        try:
            value = construct(ScalarNode(tag, node.value))
        except (ValueError, ConstructorError):
            self._problem(node.position, path,
                          f"{node.value!r} is not a valid {_short_tag(tag)[2:]}")
            return node.value
        if isinstance(value, float) and not math.isfinite(value):
            self._problem(node.position, path,
                          f"{node.value!r} is not a finite number, which JSON cannot carry")
        elif isinstance(value, str) and "\x00" in value:
            self._problem(node.position, path, "text must not contain NUL characters (\\0), which databases refuse")
        return value

    def _mapping(self, node: _Node, path: Path) -> dict[str, Any]:
        result: dict[str, Any] = {}
        explicit: set[str] = set()
        merges = [value for key, value in node.value if _is_merge_key(key)]
        for source in merges:
            self._merge(source, path, result)
        for key_node, value_node in node.value:
            if _is_merge_key(key_node):
                continue
            if key_node.kind != "scalar":
                self._problem(key_node.position, path,
                              "a mapping key must be a plain value, not a list or a mapping")
                continue
            key = key_node.value
            if key in explicit:
                first = self._doc.keys[path + (key,)]
                self._problem(key_node.position, path + (key,),
                              f"duplicate key '{key}' (first given at line {first.line})")
                continue
            explicit.add(key)
            self._doc.keys[path + (key,)] = key_node.position
            result[key] = self.convert(value_node, path + (key,))
        return result

    def _merge(self, source: _Node, path: Path, into: dict[str, Any]) -> None:
        """`<<: *a` or `<<: [*a, *b]`: earlier sources win, explicit keys win over all."""
        sources = source.value if source.kind == "seq" else [source]
        for item in sources:
            if item.kind != "map":
                self._problem(item.position, path,
                              "a '<<' merge takes a mapping or a list of mappings")
                continue
            merged = self._mapping(item, path)
            for key, value in merged.items():
                into.setdefault(key, value)


def _is_merge_key(node: _Node) -> bool:
    return (node.kind == "scalar" and node.tag is None
            and _RESOLVER.resolve(ScalarNode, node.value, node.implicit) == _MERGE)


def _short_tag(tag: str | None) -> str:
    return f"!!{tag[len(_YAML):]}" if tag and tag.startswith(_YAML) else str(tag)


def _unsupported(tag: str | None) -> str:
    return (f"unsupported tag {_short_tag(tag)}: a flow holds strings, numbers, booleans, null, "
            "lists and mappings only")
