"""Expressions: the sandboxed Jinja2 layer that renders task properties and `when` conditions.

What an author can rely on:
- Only the flow author's text is a template. Values reached through the scope (trigger bodies,
  task outputs, kv values, inputs) are data: inserted as they are and never rendered again, so a
  webhook body holding `{{ 7*7 }}` or `${SECRET}` stays that literal text.
- A property that is one `{{ … }}` (whitespace around it allowed) keeps the native type of its
  value; anything else renders to a string. A lazy result (`map`, `select`, `range`) becomes a
  list. Mapping keys of properties are not rendered.
- Undefined names fail the task (StrictUndefined) with a message naming the expression and, for
  a missing key, the keys that do exist. `is defined` and `| default(…)` work as usual.
- `a.b` on a mapping is its key `b` when there is one (flow data is JSON: `outputs.x.items` is
  the field, not `dict.items`); otherwise Jinja's rules. As in Jinja, `**` is left-associative:
  `10**10**10` is `(10**10)**10`.
- Values passed through unchanged (`{{ outputs.fetch.body }}`, `| default`, `| first`) are the
  scope's own objects, not copies.
- `${NAME}` in the author's literal text (outside `{{ }}` and `{% %}`) is the credential NAME,
  resolved through the caller's resolver when the task runs, registered with the masker, and
  never looked for in data. `$${NAME}` writes a literal `${NAME}` (shell scripts need this for
  their own variables). Every credential a template mentions is resolved, also in a branch that
  does not run. Text such as `${lower}` that is not a credential name is left alone.
- `now()` is the instant rendering began, the same for every property of one render, as an
  RFC 3339 string in UTC (`2024-05-01T12:00:00.000Z`), matching the API's timestamps; the clock is
  the engine's, so tests can freeze it. `uuid()` is a random UUID (version 4) as text.
  `kv(key, namespace=None)` reads the key-value store (None: the flow's namespace).
- Filters: Jinja2's, except `urlize` (an HTML helper whose link attributes multiply the text),
  plus `tojson` (compact JSON, key order kept, no HTML escaping) and `fromjson`. Globals are only
  `range`, `dict`, `now`, `uuid`, `kv`: Jinja2's `lipsum`, `cycler`, `joiner` and `namespace`
  are gone, and so are `include`, `import`, `extends`, `block` and `self`.

kv() is async but rendering is not: a template whose kv() arguments are constants has them read
before rendering; otherwise a pass records the keys it lacks, they are read, and the template is
rendered again (data is never re-rendered, only the author's template). Templates without kv()
render once, synchronously, with no await.

Bounds (see Limits): every string or collection a template builds is at most
`max_output_bytes`, refused *before* it is built where an operation could multiply its input
(`*`, `**`, `%`, `+`, `str.format`, padding, `replace`, `join`, `indent`, `wordwrap`, `batch`,
`slice`, `tojson`'s indent); collections written as literals are measured with every shared
reference expanded, so `[a, a, a]` nested ten deep is refused, not compared or printed for hours.
Integers are limited to 4096 bits. Loops (including iterating over data and recursive loops)
share `max_iterations`; `range()` beyond it is refused outright. Time is checked at every loop
step, call, filter, operator and output chunk; the total of everything built (even if dropped)
is capped by `max_allocated_bytes`. Deep nesting and runaway recursion end as errors, not crashes.
Methods of built-in values are an allow-list (no `str.translate`, `int.to_bytes`, …).

Limits that remain: a single built-in operation on values within the caps (sorting a large list
taken from the data) runs to its end before the clock is looked at again; values passed through
unchanged from the scope (a lone `{{ outputs.big }}`) are not measured, only what a template
builds from them; compiling a template is not timed (its cost follows the length of the author's
text, which the API's request size limits). Rendering runs on the event loop, so a template that
uses its whole time budget holds the loop for `max_seconds`.
"""

from __future__ import annotations

import contextvars
import gc
import itertools
import json
import math
import operator
import re
import threading
import time
import types
import uuid
from collections.abc import (
    Awaitable,
    Callable,
    ItemsView,
    Iterable,
    Iterator,
    KeysView,
    Mapping,
    ValuesView,
)
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from functools import cached_property, lru_cache, partial, update_wrapper
from string import Formatter
from typing import Any

from jinja2 import Template, nodes, pass_context, pass_environment, pass_eval_context
from jinja2.compiler import CodeGenerator, Frame
from jinja2.environment import Environment
from jinja2.exceptions import SecurityError, TemplateError, TemplateSyntaxError
from jinja2.ext import Extension
from jinja2.filters import (
    do_batch,
    do_center,
    do_format,
    do_indent,
    do_replace,
    do_wordwrap,
    make_attrgetter,
    sync_do_join,
    sync_do_slice,
)
from jinja2.lexer import Token, TokenStream
from jinja2.nodes import EvalContext
from jinja2.runtime import Context, LoopContext, StrictUndefined, Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.visitor import NodeTransformer
from markupsafe import Markup, soft_str

from workflowdev.engine.secrets import SecretMasker

__all__ = ["CredentialResolver", "ExpressionError", "KVReader", "Limits", "Renderer", "is_template"]

CredentialResolver = Callable[[str], Awaitable[str | None]]
KVReader = Callable[[str, str | None], Awaitable[Any]]


class SafeResolverError(Exception):
    """A credential lookup failure whose message holds no secret and may be shown as is."""


class ExpressionError(Exception):
    """An expression could not be rendered. The message is for the operator and holds no secret."""


@dataclass(frozen=True, slots=True)
class Limits:
    """What one render (one task's properties, or one condition) may spend.

    `max_output_bytes` bounds each string or collection built and the rendered text (UTF-8);
    `max_iterations` the loop steps of the whole render; `max_seconds` its CPU time inside
    Jinja (waiting for kv or credentials, the process being descheduled and garbage-collector
    pauses do not count: `_RenderClock`); `max_allocated_bytes` the total size of all
    it builds, even what it drops again; `max_kv_lookups` the distinct kv keys it may read.
    """

    max_output_bytes: int = 1_048_576
    max_iterations: int = 100_000
    max_seconds: float = 1.0
    max_allocated_bytes: int = 32 * 1_048_576
    max_kv_lookups: int = 1_000

    def __post_init__(self) -> None:
        for limit in fields(self):
            if getattr(self, limit.name) <= 0:
                raise ValueError(f"Limits.{limit.name} must be positive")


def is_template(text: str) -> bool:
    """True when the text holds an expression, a statement or a credential reference."""
    return "{{" in text or "{%" in text or "${" in text


def _utc_now() -> datetime:
    return datetime.now(UTC)


# -- credentials in the author's text ------------------------------------------------------------

_CREDENTIAL = re.compile(r"\$(\$?)\{([A-Z][A-Z0-9_]*)\}")
_CREDENTIALS_NAME = "_wd_credentials"
"""The template variable holding resolved credentials; authors cannot write this name."""


@dataclass(frozen=True, slots=True)
class _CredentialRef:
    name: str


def _split_credentials(text: str) -> list[str | _CredentialRef]:
    """Cut author text into literal pieces and credential references (`$${NAME}` is literal)."""
    parts: list[str | _CredentialRef] = []
    literal: list[str] = []
    position = 0
    for match in _CREDENTIAL.finditer(text):
        literal.append(text[position : match.start()])
        if match.group(1):
            literal.append(match.group(0)[1:])
        else:
            parts.append("".join(literal))
            literal = []
            parts.append(_CredentialRef(match.group(2)))
        position = match.end()
    literal.append(text[position:])
    parts.append("".join(literal))
    return [part for part in parts if part != ""]


class _CredentialTokens(Extension):
    """Turns `${NAME}` in template data into `{{ _wd_credentials['NAME'] }}` while lexing.

    Working on the author's token stream is what guarantees that a `${…}` arriving in data is
    never substituted: data only exists once the template runs, long after this.
    """

    def filter_stream(self, stream: TokenStream) -> Iterator[Token]:
        for token in stream:
            if token.type == "name" and token.value == _CREDENTIALS_NAME:
                raise TemplateSyntaxError(f"{_CREDENTIALS_NAME} is a reserved name", token.lineno)
            if token.type != "data" or "${" not in token.value:
                yield token
                continue
            for part in _split_credentials(token.value):
                if isinstance(part, str):
                    yield Token(token.lineno, "data", part)
                    continue
                yield Token(token.lineno, "variable_begin", "{{")
                yield Token(token.lineno, "name", _CREDENTIALS_NAME)
                yield Token(token.lineno, "lbracket", "[")
                yield Token(token.lineno, "string", part.name)
                yield Token(token.lineno, "rbracket", "]")
                yield Token(token.lineno, "variable_end", "}}")


# -- budgets of one rendering pass ---------------------------------------------------------------

_MAX_INT_BITS = 4096
_CHECK_EVERY = 1024
_PENDING = -1
_LAZY = (Iterator, range, KeysView, ValuesView, ItemsView)
_CONTAINERS = (list, tuple, dict, set, frozenset)
_FUNCTION_VALUE = "the expression gives a function, not a value (are the parentheses missing?)"
_BINOPS: dict[str, Callable[[Any, Any], Any]] = {
    "+": operator.add,
    "*": operator.mul,
    "**": operator.pow,
    "%": operator.mod,
}


class _Refused(Exception):
    """A limit or a rule stopped the render; the message says which."""


class _Undefined(StrictUndefined):
    """StrictUndefined that also refuses repr(), so a missing value inside a list fails rather
    than printing as `Undefined`."""

    __slots__ = ()
    __repr__ = StrictUndefined._fail_with_undefined_error


def _leaf_weight(value: Any) -> int | None:
    """The weight of a value that holds no others, or None for a container."""
    if isinstance(value, str):
        return len(value)
    if isinstance(value, _CONTAINERS):
        return None
    if isinstance(value, StrictUndefined):
        value._fail_with_undefined_error()
    if isinstance(value, int):
        return value.bit_length() // 3 + 2
    return 24


def _children(value: Any) -> Iterable[Any]:
    return itertools.chain(value.keys(), value.values()) if isinstance(value, dict) else value


class _RenderClock:
    """Seconds a render spends itself: this thread's CPU time, less the garbage collector's.

    A wall clock would charge a template for whatever else stopped the process: another
    thread holding the GIL, a machine too busy to schedule it, a full collection over a large
    heap (seen to take over a second in a long-lived process). `{{ item * 3 }}` then failed
    for "taking longer than 1 s". CPU time of the thread leaves out waiting; the collector's
    pauses are measured by `gc.callbacks` and taken off.
    """

    def __init__(self) -> None:
        self._collected: dict[int, float] = {}  # per thread: a collection stops only its own
        self._collecting_since: dict[int, float] = {}
        gc.callbacks.append(self._on_gc)

    def _on_gc(self, phase: str, _info: dict[str, Any]) -> None:
        thread = threading.get_ident()
        if phase == "start":
            self._collecting_since[thread] = time.thread_time()
        elif thread in self._collecting_since:
            spent = time.thread_time() - self._collecting_since.pop(thread)
            self._collected[thread] = self._collected.get(thread, 0.0) + spent

    def __call__(self) -> float:
        return time.thread_time() - self._collected.get(threading.get_ident(), 0.0)


_render_clock = _RenderClock()


class _Pass:
    """The budgets of one rendering pass; every sandbox hook charges its work here."""

    __slots__ = ("limits", "deadline", "iterations", "allocated", "_weights")

    def __init__(self, limits: Limits, deadline: float, iterations: int, allocated: int) -> None:
        self.limits = limits
        self.deadline = deadline
        self.iterations = iterations
        self.allocated = allocated
        self._weights: dict[int, tuple[Any, int]] = {}

    def tick(self) -> None:
        if _render_clock() > self.deadline:
            raise _Refused(f"rendering took longer than the limit of {self.limits.max_seconds:g} s")

    def iterate(self, iterable: Iterable[Any]) -> Iterator[Any]:
        limit = self.limits.max_iterations
        for item in iterable:
            self.iterations += 1
            if self.iterations > limit:
                raise _Refused(f"loops ran more than the limit of {limit} iterations")
            self.tick()
            yield item

    def expect(self, size: int) -> None:
        """Refuse an operation before it runs when its result would be over the size limit."""
        if size > self.limits.max_output_bytes:
            raise _Refused(
                f"the result would be larger than the limit of {self.limits.max_output_bytes} bytes"
            )

    def built(self, value: Any) -> Any:
        """Charge a value the template has just made to the budgets."""
        self.tick()
        if isinstance(value, (str, list, tuple, dict)):
            self.expect(len(value))
            self.allocated += len(value)
            if self.allocated > self.limits.max_allocated_bytes:
                raise _Refused(
                    "the expression built more than the limit of "
                    f"{self.limits.max_allocated_bytes} bytes in total"
                )
        return value

    def literal(self, value: Any) -> Any:
        """A list, tuple or dict the template wrote: its references may be shared, so what
        counts is its size with every reference expanded."""
        self.weight(value)
        return self.built(value)

    def weight(self, value: Any) -> int:
        """About the size of `value` written out as text, every shared reference expanded.

        Memoized by identity, so it costs one visit per distinct object however large the
        expansion is; refused as soon as it passes the output limit.
        """
        leaf = _leaf_weight(value)
        if leaf is not None:
            return leaf
        weights = self._weights
        stack = [value]
        visits = 0
        while stack:
            node = stack[-1]
            entry = weights.get(id(node))
            if entry is None:
                weights[id(node)] = (node, _PENDING)
                for child in _children(node):
                    if _leaf_weight(child) is None:
                        known = weights.get(id(child))
                        if known is None:
                            stack.append(child)
                        elif known[1] == _PENDING:
                            raise _Refused("a value contains itself")
                visits += 1
                if visits % _CHECK_EVERY == 0:
                    self.tick()
                continue
            stack.pop()
            if entry[1] != _PENDING:
                continue
            total = 2
            for child in _children(node):
                leaf = _leaf_weight(child)
                total += 2 + (weights[id(child)][1] if leaf is None else leaf)
            self.expect(total)
            weights[id(node)] = (node, total)
        return weights[id(value)][1]

    def binop(self, name: str, left: Any, right: Any) -> Any:
        self.tick()
        if name == "*":
            self._expect_product(left, right)
        elif name == "**":
            _expect_power(left, right)
        elif name == "+":
            if isinstance(left, str) and isinstance(right, str):
                self.expect(len(left) + len(right))
            elif isinstance(left, (list, tuple)) and isinstance(right, (list, tuple)):
                self.expect(self.weight(left) + self.weight(right))
        elif name == "%" and isinstance(left, str):
            self.expect(_percent_size(self, left, right))
        return self.built(_BINOPS[name](left, right))

    def _expect_product(self, left: Any, right: Any) -> None:
        for sequence, times in ((left, right), (right, left)):
            if isinstance(sequence, (str, list, tuple)) and isinstance(times, int):
                unit = len(sequence) if isinstance(sequence, str) else self.weight(sequence)
                self.expect(unit * max(times, 0))
                return
        if isinstance(left, int) and isinstance(right, int):
            _expect_bits(left.bit_length() + right.bit_length())


def _expect_bits(bits: float) -> None:
    if bits > _MAX_INT_BITS:
        raise _Refused(f"the number would have more than {_MAX_INT_BITS} bits")


def _expect_power(base: Any, exponent: Any) -> None:
    if isinstance(base, int) and isinstance(exponent, int) and exponent > 0 and abs(base) > 1:
        # the first test spares math.log2 from exponents too large to be floats
        _expect_bits(exponent if exponent > _MAX_INT_BITS else exponent * math.log2(abs(base)))


_ACTIVE: contextvars.ContextVar[_Pass] = contextvars.ContextVar("workflowdev_expression_pass")


def _active() -> _Pass:
    return _ACTIVE.get()


# -- format strings, measured before they run -----------------------------------------------------

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
        raise _Refused("a '*' width in a % format is not supported")
    return int(digits) if len(digits) <= 12 else 10**12


def _percent_size(state: _Pass, template: str, values: Any) -> int:
    """About the length of `template % values` (within a small factor), known before formatting."""
    positional = values if isinstance(values, tuple) else (values,)
    mapping = values if isinstance(values, Mapping) else None
    total = index = position = 0
    while (start := template.find("%", position)) != -1:
        field = _PERCENT_FIELD.match(template, start)
        if field is None:
            raise _Refused(f"unsupported or malformed % format at position {start}")
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


def _format_size(state: _Pass, template: str, args: tuple[Any, ...], named: Any) -> int:
    """About the length of `template.format(…)` (within a small factor), known before formatting."""
    total = automatic = 0
    for literal, field, spec, conversion in Formatter().parse(template):
        total += len(literal)
        if field is None:
            continue
        if "{" in (spec or ""):
            raise _Refused("format fields nested inside a format spec are not supported")
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


# -- filters and methods that could multiply their input ----------------------------------------


def _charged(function: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a filter so that what it makes is charged to the render's budgets."""

    def charged(*args: Any, **kwargs: Any) -> Any:
        return _active().built(function(*args, **kwargs))

    return update_wrapper(charged, function)  # keeps Jinja's pass_context & co. markers


def _timed(function: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a filter that picks one of its inputs: nothing is built, only the clock counts."""

    def timed(*args: Any, **kwargs: Any) -> Any:
        _active().tick()
        return function(*args, **kwargs)

    return update_wrapper(timed, function)


def _expect_replace(text: str, old: str, new: str, count: int | None) -> None:
    hits = text.count(old) if old else len(text) + 1
    if count is not None and count >= 0:
        hits = min(hits, count)
    _active().expect(len(text) + hits * max(len(new) - len(old), 0))


def _expect_join(separator: str, items: list[Any]) -> None:
    state = _active()
    state.expect(sum(map(state.weight, items)) + len(separator) * max(len(items) - 1, 0))


def _center(value: Any, width: int = 80) -> str:
    _active().expect(width)
    return do_center(value, width)


def _indent(s: Any, width: int | str = 4, first: bool = False, blank: bool = False) -> str:
    text = soft_str(s)
    state = _active()
    if not isinstance(width, str):
        state.expect(width)
    unit = len(width) if isinstance(width, str) else width
    state.expect(len(text) + (text.count("\n") + 1) * unit)
    return do_indent(text, width, first, blank)


@pass_eval_context
def _replace(eval_ctx: EvalContext, s: Any, old: Any, new: Any, count: int | None = None) -> str:
    _expect_replace(soft_str(s), soft_str(old), soft_str(new), count)
    return do_replace(eval_ctx, s, old, new, count)


def _format(value: Any, *args: Any, **kwargs: Any) -> str:
    state = _active()
    state.expect(_percent_size(state, soft_str(value), kwargs or args))
    return do_format(value, *args, **kwargs)


@pass_eval_context
def _join(
    eval_ctx: EvalContext, value: Iterable[Any], d: str = "", attribute: str | int | None = None
) -> str:
    if attribute is not None:
        value = map(make_attrgetter(eval_ctx.environment, attribute), value)
    items = list(value)
    _expect_join(soft_str(d), items)
    return sync_do_join(eval_ctx, items, d)


@pass_environment
def _wordwrap(
    environment: Environment,
    s: Any,
    width: int = 79,
    break_long_words: bool = True,
    wrapstring: str | None = None,
    break_on_hyphens: bool = True,
) -> str:
    text = soft_str(s)
    joiner = environment.newline_sequence if wrapstring is None else soft_str(wrapstring)
    spaces = len(text) - len("".join(text.split()))
    breaks = spaces + text.count("-") + len(text) // max(width, 1) + 1
    _active().expect(len(text) + breaks * len(joiner))
    return do_wordwrap(environment, s, width, break_long_words, wrapstring, break_on_hyphens)


def _batch(value: Iterable[Any], linecount: int, fill_with: Any = None) -> Iterator[list[Any]]:
    if fill_with is not None:
        state = _active()
        state.expect(linecount * (state.weight(fill_with) + 2))
    return do_batch(value, linecount, fill_with)


def _slice(value: Any, slices: int, fill_with: Any = None) -> Iterator[list[Any]]:
    state = _active()
    state.expect(slices * (1 if fill_with is None else state.weight(fill_with) + 2))
    return sync_do_slice(value, slices, fill_with)


@pass_environment
def _sum(
    environment: Environment,
    iterable: Iterable[Any],
    attribute: str | int | None = None,
    start: Any = 0,
) -> Any:
    """Like Jinja's sum, but each addition is measured like the `+` operator."""
    if attribute is not None:
        iterable = map(make_attrgetter(environment, attribute), iterable)
    state = _active()
    total = start
    for item in iterable:
        total = state.binop("+", total, item)
    return total


def _json_default(value: Any) -> Any:
    if isinstance(value, Undefined):
        value._fail_with_undefined_error()
    if isinstance(value, _LAZY):
        return list(value)
    raise _Refused(f"tojson: a {type(value).__name__} value cannot be written as JSON")


def _tojson(value: Any, indent: int | None = None) -> str:
    """Compact JSON as an API expects it: key order kept, non-ASCII kept, no HTML escaping."""
    if indent is not None and not 0 <= indent <= 16:
        raise _Refused("tojson: indent must be between 0 and 16")
    separators = (",", ":") if indent is None else (",", ": ")
    try:
        return json.dumps(
            value,
            ensure_ascii=False,
            allow_nan=False,
            indent=indent,
            separators=separators,
            default=_json_default,
        )
    except ValueError as error:
        raise _Refused(f"tojson: {error}") from None


def _fromjson(value: Any) -> Any:
    if not isinstance(value, str):
        raise _Refused(f"fromjson expects text, not {type(value).__name__}")
    try:
        return json.loads(value)
    except json.JSONDecodeError as error:
        raise _Refused(
            f"fromjson: not valid JSON ({error.msg} at line {error.lineno}, column {error.colno})"
        ) from None


_REMOVED_FILTERS = frozenset({"urlize"})
_PICKING_FILTERS = frozenset({"attr", "d", "default", "first", "last", "max", "min", "random"})
_BOUNDED_FILTERS: dict[str, Callable[..., Any]] = {
    "batch": _batch,
    "center": _center,
    "format": _format,
    "fromjson": _fromjson,
    "indent": _indent,
    "join": _join,
    "replace": _replace,
    "slice": _slice,
    "sum": _sum,
    "tojson": _tojson,
    "wordwrap": _wordwrap,
}


def _padded(name: str) -> Callable[..., str]:
    def pad(text: str, width: int, *fill: str) -> str:
        _active().expect(width)
        result: str = getattr(str, name)(text, width, *fill)
        return result

    return pad


def _expandtabs(text: str, tabsize: int = 8) -> str:
    _active().expect(len(text) + text.count("\t") * tabsize)
    return str.expandtabs(text, tabsize)


def _text_replace(text: str, old: str, new: str, count: int = -1) -> str:
    _expect_replace(text, old, new, count)
    return str.replace(text, old, new, count)


def _text_join(separator: str, iterable: Iterable[Any]) -> str:
    items = list(iterable)
    _expect_join(separator, items)
    return str.join(separator, items)


_TEXT_METHODS = frozenset(
    "capitalize casefold count endswith find index isalnum isalpha isascii isdecimal isdigit "
    "isidentifier islower isnumeric isprintable isspace istitle isupper lower lstrip partition "
    "removeprefix removesuffix rfind rindex rpartition rsplit rstrip split splitlines startswith "
    "strip swapcase title upper".split()
)
_BOUNDED_TEXT_METHODS: dict[str, Callable[..., str]] = {
    "center": _padded("center"),
    "ljust": _padded("ljust"),
    "rjust": _padded("rjust"),
    "zfill": _padded("zfill"),
    "expandtabs": _expandtabs,
    "replace": _text_replace,
    "join": _text_join,
}
_SEQUENCE_METHODS = frozenset({"count", "index", "copy"})
_DICT_METHODS = frozenset({"copy", "get", "items", "keys", "values"})
_BUILTIN_VALUES = (str, list, tuple, dict, int, float, complex)


def _allowed_method(method: Any) -> Callable[..., Any] | None:
    """What to run for a method of a built-in value, or None when the method is refused.

    An allow-list, because the dangerous ones are ordinary-looking: `str.translate` with a
    table mapping one letter to a megabyte, `int.to_bytes(10**9)`.
    """
    owner, name = method.__self__, method.__name__
    if isinstance(owner, str):
        if name in _TEXT_METHODS:
            return method  # type: ignore[no-any-return]
        bounded = _BOUNDED_TEXT_METHODS.get(name)
        return partial(bounded, owner) if bounded is not None else None
    if isinstance(owner, dict):
        return method if name in _DICT_METHODS else None  # type: ignore[no-any-return]
    if isinstance(owner, (list, tuple)):
        return method if name in _SEQUENCE_METHODS else None  # type: ignore[no-any-return]
    return None


# -- the sandbox ---------------------------------------------------------------------------------


_HOOKS = frozenset({"wd_iterate", "wd_literal", "wd_charge"})


def _guard(node: nodes.Expr, hook: str) -> nodes.Call:
    """`node` handed to one of the sandbox's checks before it is used.

    Written as a call to an environment attribute, a node the parser never makes from author
    text, which the code generator below turns into a direct Python call.
    """
    return nodes.Call(nodes.EnvironmentAttribute(hook), [node], [], None, None, lineno=node.lineno)


class _CodeGenerator(CodeGenerator):
    def visit_Call(  # noqa: N802 - Jinja's naming
        self, node: nodes.Call, frame: Frame, forward_caller: bool = False
    ) -> None:
        if isinstance(node.node, nodes.EnvironmentAttribute) and node.node.name in _HOOKS:
            self.write(f"environment.{node.node.name}(")
            self.visit(node.args[0], frame)
            self.write(")")
        else:
            super().visit_Call(node, frame, forward_caller=forward_caller)


class _InsertGuards(NodeTransformer):
    """Routes loops, literal collections and `~` through the pass budgets."""

    def visit_For(self, node: nodes.For) -> nodes.Node:  # noqa: N802
        self.generic_visit(node)
        node.iter = _guard(node.iter, "wd_iterate")
        return node

    def _literal(self, node: nodes.Expr) -> nodes.Node:
        self.generic_visit(node)
        return _guard(node, "wd_literal")

    visit_List = visit_Dict = _literal  # noqa: N815

    def visit_Tuple(self, node: nodes.Tuple) -> nodes.Node:  # noqa: N802
        return self._literal(node) if node.ctx == "load" else self.generic_visit(node)

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:  # noqa: N802
        self.generic_visit(node)
        return _guard(node, "wd_charge")


@pass_context
def _finalize(context: Context, value: Any) -> Any:
    """Every `{{ }}` in text passes here before it is printed."""
    state = _active()
    if isinstance(value, str):
        state.tick()
        state.expect(len(value))
        return value
    if isinstance(value, _LAZY):
        value = list(value)
    elif callable(value) and not isinstance(value, Undefined):
        raise _Refused(_FUNCTION_VALUE)
    return state.built(str(value))


def _range(*args: int) -> range:
    numbers = range(*args)
    limit = _active().limits.max_iterations
    try:
        size = len(numbers)
    except OverflowError:
        size = limit + 1
    if size > limit:
        raise _Refused(f"range() of more than {limit} numbers is over the loop limit")
    return numbers


def _dict(*args: Any, **kwargs: Any) -> dict[Any, Any]:
    return _active().literal(dict(*args, **kwargs))  # type: ignore[no-any-return]


def _uuid() -> str:
    return str(uuid.uuid4())


class _Sandbox(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox, with every way to spend memory or time metered."""

    code_generator_class = _CodeGenerator
    intercepted_binops = frozenset(_BINOPS)

    def __init__(self) -> None:
        super().__init__(
            autoescape=False,
            undefined=_Undefined,
            finalize=_finalize,
            optimized=False,  # no constant folding: nothing is evaluated outside the budgets
            keep_trailing_newline=True,  # rendering never changes the author's own text
            extensions=[_CredentialTokens],
            cache_size=0,
            auto_reload=False,
        )
        self.globals.clear()
        builtin = {**self.filters, **_BOUNDED_FILTERS}
        self.filters = {
            name: (_timed if name in _PICKING_FILTERS else _charged)(function)
            for name, function in builtin.items()
            if name not in _REMOVED_FILTERS
        }
        self.concat = self._concat  # type: ignore[assignment]

    # Hooks named in the generated code (see _InsertGuards and Jinja's `concat`).
    def wd_iterate(self, iterable: Iterable[Any]) -> Iterator[Any]:
        return _active().iterate(iterable)

    def wd_literal(self, value: Any) -> Any:
        return _active().literal(value)

    def wd_charge(self, value: Any) -> Any:
        return _active().built(value)

    def _concat(self, parts: Iterable[str]) -> str:
        """Join what a macro, a call or a set block collected, within the size limit."""
        state = _active()
        pieces = parts if isinstance(parts, list) else list(parts)
        state.expect(sum(map(len, pieces)))
        return state.built("".join(pieces))  # type: ignore[no-any-return]

    def call_binop(self, context: Context, symbol: str, left: Any, right: Any) -> Any:
        return _active().binop(symbol, left, right)

    def call(self, context: Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        """Calls of author code. Text methods make new text and are charged; other calls either
        charge themselves (macros through concat, format, range, dict) or hand back data."""
        state = _active()
        state.tick()
        owner = getattr(obj, "__self__", None)
        if isinstance(obj, (types.BuiltinMethodType, types.MethodType)) and isinstance(
            owner, _BUILTIN_VALUES
        ):
            allowed = _allowed_method(obj)
            if allowed is None:
                raise SecurityError(
                    f"{type(owner).__name__}.{obj.__name__}() is not available in expressions"
                )
            result = super().call(context, allowed, *args, **kwargs)
            return state.built(result) if isinstance(owner, str) else result
        if isinstance(obj, LoopContext) and args:  # loop(children) in a recursive for
            args = (state.iterate(args[0]), *args[1:])
        return super().call(context, obj, *args, **kwargs)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        sandboxed = super().wrap_str_format(value)
        if sandboxed is None:
            return None
        template: str = value.__self__
        is_map = value.__name__ == "format_map"

        def bounded(*args: Any, **kwargs: Any) -> str:
            state = _active()
            if is_map:
                state.expect(_format_size(state, template, (), args[0] if args else None))
            else:
                state.expect(_format_size(state, template, args, kwargs))
            return state.built(sandboxed(*args, **kwargs))  # type: ignore[no-any-return]

        return update_wrapper(bounded, value)

    def getattr(self, obj: Any, attribute: str) -> Any:
        """`a.b` on a mapping means its key `b` when there is one: flow data is JSON, and
        `outputs.fetch.items` should not be dict.items. Otherwise Jinja's sandboxed rules."""
        if isinstance(obj, StrictUndefined):
            obj._fail_with_undefined_error()  # report the missing name, not its attributes
        if isinstance(obj, Mapping):
            try:
                return obj[attribute]
            except (KeyError, TypeError):
                pass
        return self._explain_missing(obj, attribute, super().getattr(obj, attribute))

    def getitem(self, obj: Any, argument: Any) -> Any:
        return self._explain_missing(obj, argument, super().getitem(obj, argument))

    def _explain_missing(self, obj: Any, name: Any, value: Any) -> Any:
        """Name the keys that do exist when a mapping lacks one: usually it is a typo."""
        if not isinstance(value, Undefined) or not isinstance(obj, Mapping):
            return value
        if isinstance(name, str) and not self.is_safe_attribute(obj, name, value):
            return value  # keeps the sandbox's "unsafe" verdict
        keys = [str(key) for key in itertools.islice(obj, 11)]
        listed = ", ".join(keys[:10]) + (", …" if len(keys) > 10 else "")
        where = f"available: {listed}" if keys else "it is empty"
        return self.undefined(hint=f"{name!r} is not defined here ({where})", obj=obj, name=name)


# -- compiled templates --------------------------------------------------------------------------

_RESULT = "result"
_UNSUPPORTED: dict[type[nodes.Node], str] = {
    nodes.Extends: "extends",
    nodes.Include: "include",
    nodes.Import: "import",
    nodes.FromImport: "from … import",
    nodes.Block: "block",
}


@dataclass(frozen=True, slots=True)
class _CredentialText:
    """Author text with no `{{`/`{%`: only `${NAME}` references to fill in, no Jinja involved."""

    parts: tuple[str | _CredentialRef, ...]
    credentials: tuple[str, ...]

    def fill(self, secrets: Mapping[str, str]) -> str:
        return "".join(p if isinstance(p, str) else secrets[p.name] for p in self.parts)


@dataclass(frozen=True, slots=True)
class _Compiled:
    template: Template
    native: bool
    reads_data_only: bool
    """A lone expression that only looks a value up: its result is scope data, not checked."""
    credentials: tuple[str, ...]
    kv_reads: tuple[tuple[str, str | None], ...]


def _check_supported(ast: nodes.Template) -> None:
    for node in ast.find_all(tuple(_UNSUPPORTED)):
        raise _Refused(
            f"{{% {_UNSUPPORTED[type(node)]} %}} is not available: a property is one template, "
            "with nothing to include, import or extend"
        )
    for name in ast.find_all(nodes.Name):
        if name.name == "self":
            raise _Refused("'self' is not available in expressions")


def _lone_expression(ast: nodes.Template) -> nodes.Expr | None:
    """The expression of a template that is one `{{ … }}` and whitespace, else None."""
    if len(ast.body) != 1 or not isinstance(ast.body[0], nodes.Output):
        return None
    significant = [
        node
        for node in ast.body[0].nodes
        if not (isinstance(node, nodes.TemplateData) and not node.data.strip())
    ]
    if len(significant) == 1 and not isinstance(significant[0], nodes.TemplateData):
        return significant[0]
    return None


def _reads_data_only(expression: nodes.Expr) -> bool:
    while isinstance(expression, (nodes.Getattr, nodes.Getitem)):
        if isinstance(expression, nodes.Getitem) and not isinstance(expression.arg, nodes.Const):
            return False
        expression = expression.node
    return isinstance(expression, nodes.Name)


def _credential_names(ast: nodes.Template) -> tuple[str, ...]:
    return tuple(
        dict.fromkeys(
            node.arg.value
            for node in ast.find_all(nodes.Getitem)
            if isinstance(node.node, nodes.Name) and node.node.name == _CREDENTIALS_NAME
        )
    )


def _constant_kv_reads(ast: nodes.Template) -> tuple[tuple[str, str | None], ...]:
    """kv() calls whose arguments are constants: read before the first pass."""
    reads: list[tuple[str, str | None]] = []
    for call in ast.find_all(nodes.Call):
        if not (isinstance(call.node, nodes.Name) and call.node.name == "kv"):
            continue
        if call.kwargs or call.dyn_args or call.dyn_kwargs or not 1 <= len(call.args) <= 2:
            continue
        if not all(isinstance(arg, nodes.Const) for arg in call.args):
            continue
        key, namespace = call.args[0].value, call.args[1].value if len(call.args) == 2 else None
        if isinstance(key, str) and (namespace is None or isinstance(namespace, str)):
            reads.append((key, namespace))
    return tuple(dict.fromkeys(reads))


def _shown(source: str) -> str:
    return repr(source if len(source) <= 120 else source[:117] + "...")


def _reason(error: Exception) -> str:
    if isinstance(error, _Refused):
        return str(error)
    if isinstance(error, SecurityError):
        return f"not allowed: {error.message}"
    if isinstance(error, TemplateError):
        return error.message or type(error).__name__
    if isinstance(error, RecursionError):
        return "it nests or recurses too deeply"
    if isinstance(error, MemoryError):
        return "it ran out of memory"
    return f"{type(error).__name__}: {error}"


def _native(value: Any, state: _Pass, deep: bool) -> Any:
    """A lone expression's value as a task receives it."""
    if isinstance(value, Undefined):
        if isinstance(value, StrictUndefined):
            value._fail_with_undefined_error()
        return None  # the missing `else` of `{{ x if cond }}`
    if isinstance(value, Markup):
        return str(value)
    if isinstance(value, _LAZY):
        value, deep = state.built(list(value)), True
    if callable(value):
        raise _Refused(_FUNCTION_VALUE)
    if deep:
        _check_plain(value, state)
    return value


def _check_plain(value: Any, state: _Pass) -> None:
    """Refuse what no task can take: a missing value, a function or a lazy sequence inside."""
    stack, seen, visits = [value], set(), 0
    while stack:
        node = stack.pop()
        if isinstance(node, (str, int, float)) or node is None:
            continue
        if isinstance(node, Undefined):
            if isinstance(node, StrictUndefined):
                node._fail_with_undefined_error()
            raise _Refused("the value holds an undefined part (an `if` without `else`?)")
        if isinstance(node, _CONTAINERS):
            if id(node) not in seen:
                seen.add(id(node))
                stack.extend(node.values() if isinstance(node, dict) else node)
        elif isinstance(node, _LAZY):
            raise _Refused("the value holds a lazy sequence (map, select, …): add `| list`")
        elif callable(node):
            raise _Refused(_FUNCTION_VALUE)
        visits += 1
        if visits % _CHECK_EVERY == 0:
            state.tick()


def _joined(chunks: Iterable[str], state: _Pass) -> str:
    """The rendered text, measured in characters while it grows and in UTF-8 bytes at the end
    (strings built along the way are measured in characters, which is cheaper)."""
    limit = state.limits.max_output_bytes
    too_large = f"the rendered text is larger than the limit of {limit} bytes"
    parts: list[str] = []
    size = 0
    for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise _Refused(too_large)
        state.tick()
        parts.append(chunk)
    text = "".join(parts)
    if len(text) * 4 > limit and len(text.encode("utf-8", "surrogatepass")) > limit:
        raise _Refused(too_large)
    return text


# -- rendering -----------------------------------------------------------------------------------

_TRUE_WORDS = frozenset({"true", "yes", "on", "1"})
_FALSE_WORDS = frozenset({"false", "no", "off", "0", "", "none", "null"})


class _Session:
    """One call of render_value or evaluate_condition: one instant, one set of credential and kv
    reads, one budget shared by all its strings."""

    def __init__(
        self,
        limits: Limits,
        clock: Callable[[], datetime],
        scope: Mapping[str, Any],
        credentials: CredentialResolver | None,
        masker: SecretMasker | None,
        kv: KVReader | None,
    ) -> None:
        self.limits = limits
        self._clock = clock
        self._scope = scope
        self._credentials = credentials
        self._masker = masker
        self._kv = kv
        self.secrets: dict[str, str] = {}
        self.kv_values: dict[tuple[str, str | None], Any] = {}
        self.kv_missing: set[tuple[str, str | None]] = set()
        self.seconds_left = limits.max_seconds
        self.iterations = 0
        self.allocated = 0

    @cached_property
    def names(self) -> dict[str, Any]:
        """What a template sees; built on the first template, so plain values cost nothing."""
        instant = self._clock().astimezone(UTC)
        now = instant.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        return {
            **self._scope,
            "range": _range,
            "dict": _dict,
            "now": lambda: now,
            "uuid": _uuid,
            "kv": self._kv_lookup,
            _CREDENTIALS_NAME: self.secrets,
        }

    def close(self) -> None:
        """Forget the names templates saw: they hold the session's own `kv` method, a cycle
        only the garbage collector could free. Every task renders once or more, and in a loop of
        100,000 tasks that garbage made the collector stall the event loop again and again."""
        self.__dict__.pop("names", None)

    def error(self, message: str) -> ExpressionError:
        return ExpressionError(self._masker.mask(message) if self._masker else message)

    def _kv_lookup(self, key: Any, namespace: Any = None) -> Any:
        if not isinstance(key, str) or not (namespace is None or isinstance(namespace, str)):
            raise _Refused("kv() takes a key and an optional namespace, both text")
        if self._kv is None:
            raise _Refused("kv() is not available here")
        read = (key, namespace)
        if read in self.kv_values:
            return self.kv_values[read]
        self.kv_missing.add(read)
        return None  # this pass is discarded; the key is read and the template rendered again

    async def read_kv(self, reads: Iterable[tuple[str, str | None]]) -> None:
        if self._kv is None:
            return
        for read in reads:
            if read in self.kv_values:
                continue
            if len(self.kv_values) >= self.limits.max_kv_lookups:
                raise self.error(
                    f"the expression reads more than the limit of {self.limits.max_kv_lookups} "
                    "kv keys"
                )
            key, namespace = read
            try:
                self.kv_values[read] = await self._kv(key, namespace)
            except ExpressionError:
                raise
            except Exception as error:  # noqa: BLE001 - the store's failure becomes the task's
                raise self.error(f"kv({key!r}) could not be read: {_reason(error)}") from None

    async def resolve_credentials(self, names: Iterable[str]) -> None:
        for name in names:
            if name in self.secrets:
                continue
            try:
                value = await self._credentials(name) if self._credentials is not None else None
            except SafeResolverError as error:
                raise ExpressionError(f"credential {name} could not be read: {error}") from None
            except Exception as error:  # noqa: BLE001 - never echo what a resolver says
                raise ExpressionError(
                    f"credential {name} could not be read ({type(error).__name__})"
                ) from None
            if value is None:
                raise ExpressionError(f"credential {name} is not defined")
            self.secrets[name] = value
            if self._masker is not None:
                self._masker.add(value)

    def start_pass(self) -> _Pass:
        deadline = _render_clock() + self.seconds_left
        return _Pass(self.limits, deadline, self.iterations, self.allocated)

    def finish_pass(self, state: _Pass, elapsed: float) -> None:
        self.seconds_left -= elapsed
        if not self.kv_missing:
            self.iterations, self.allocated = state.iterations, state.allocated


class Renderer:
    """Renders the author's values against a scope. One per engine; safe to share."""

    def __init__(
        self,
        *,
        limits: Limits = Limits(),
        clock: Callable[[], datetime] = _utc_now,
        cache_size: int = 4096,
    ) -> None:
        self.limits = limits
        self._clock = clock
        self._env = _Sandbox()
        self._compiled = lru_cache(maxsize=cache_size)(self._compile)

    async def render_value(
        self,
        value: Any,
        scope: Mapping[str, Any],
        *,
        credentials: CredentialResolver | None = None,
        masker: SecretMasker | None = None,
        kv: KVReader | None = None,
    ) -> Any:
        """Render every string in `value` (walking dicts and lists); other values pass through."""
        if isinstance(value, str) and not is_template(value):
            return value
        session = _Session(self.limits, self._clock, scope, credentials, masker, kv)
        try:
            return await self._render(value, session, "")
        finally:
            session.close()

    async def evaluate_condition(
        self,
        expr: str | bool,
        scope: Mapping[str, Any],
        *,
        credentials: CredentialResolver | None = None,
        masker: SecretMasker | None = None,
        kv: KVReader | None = None,
    ) -> bool:
        """A `when`: a boolean passes through; an expression is judged by its native value; text
        must read true/yes/on/1 or false/no/off/0/none/null/empty. Other text is an error rather
        than a guess, because `"{{ a }} and {{ b }}"` rendering to "True and False" is a bug."""
        if isinstance(expr, bool):
            return expr
        if not isinstance(expr, str):
            raise ExpressionError(
                f"a condition must be true, false or an expression, not {type(expr).__name__}"
            )
        value = await self.render_value(expr, scope, credentials=credentials, masker=masker, kv=kv)
        if isinstance(value, bool):
            return value
        if isinstance(value, str):
            word = value.strip().lower()
            if word in _TRUE_WORDS or word in _FALSE_WORDS:
                return word in _TRUE_WORDS
            shown = _shown(value)
            message = f"condition {_shown(expr)} gives {shown}, which is neither true nor false"
            raise ExpressionError(masker.mask(message) if masker else message)
        return bool(value)

    async def _render(self, value: Any, session: _Session, path: str) -> Any:
        if isinstance(value, str):
            if not is_template(value):
                return value
            try:
                return await self._render_text(value, session)
            except ExpressionError as error:
                if not path:
                    raise
                raise ExpressionError(f"{path}: {error}") from None
        if isinstance(value, Mapping):
            return {
                key: await self._render(item, session, f"{path}.{key}" if path else str(key))
                for key, item in value.items()
            }
        if isinstance(value, (list, tuple)):
            return [
                await self._render(item, session, f"{path}[{index}]")
                for index, item in enumerate(value)
            ]
        return value

    async def _render_text(self, source: str, session: _Session) -> Any:
        compiled = self._compiled(source)
        await session.resolve_credentials(compiled.credentials)
        if isinstance(compiled, _CredentialText):
            return compiled.fill(session.secrets)
        await session.read_kv(compiled.kv_reads)
        while True:
            session.kv_missing.clear()
            try:
                result = self._run(compiled, session, source)
            except ExpressionError:
                if not session.kv_missing:
                    raise
            else:
                if not session.kv_missing:
                    return result
            await session.read_kv(sorted(session.kv_missing, key=repr))

    def _run(self, compiled: _Compiled, session: _Session, source: str) -> Any:
        """One synchronous pass of a compiled template, inside the session's budgets."""
        state = session.start_pass()
        token = _ACTIVE.set(state)
        started = _render_clock()
        try:
            context = compiled.template.new_context(session.names, shared=True)
            chunks = compiled.template.root_render_func(context)
            if not compiled.native:
                return _joined(chunks, state)
            for _ in chunks:
                pass
            return _native(context.vars[_RESULT], state, deep=not compiled.reads_data_only)
        except Exception as error:  # noqa: BLE001 - whatever the author's code raised
            raise session.error(f"cannot render {_shown(source)}: {_reason(error)}") from None
        finally:
            _ACTIVE.reset(token)
            session.finish_pass(state, _render_clock() - started)

    def _compile(self, source: str) -> _Compiled | _CredentialText:
        if "{{" not in source and "{%" not in source:
            parts = tuple(_split_credentials(source))
            names = tuple(dict.fromkeys(p.name for p in parts if isinstance(p, _CredentialRef)))
            return _CredentialText(parts, names)
        try:
            ast = self._env.parse(source)
            _check_supported(ast)
            credentials, kv_reads = _credential_names(ast), _constant_kv_reads(ast)
            expression = _lone_expression(ast)
            if expression is not None:
                store = nodes.Assign(nodes.Name(_RESULT, "store"), expression, lineno=1)
                ast = nodes.Template([store], lineno=1)
            ast = _InsertGuards().visit(ast)
            ast.set_environment(self._env)
            template = self._env.from_string(ast)
        except TemplateSyntaxError as error:
            raise ExpressionError(
                f"invalid expression {_shown(source)}: {error.message} (line {error.lineno})"
            ) from None
        except _Refused as error:
            raise ExpressionError(f"invalid expression {_shown(source)}: {error}") from None
        except (RecursionError, MemoryError, SyntaxError):
            raise ExpressionError(
                f"invalid expression {_shown(source)}: it is nested too deeply"
            ) from None
        return _Compiled(
            template=template,
            native=expression is not None,
            reads_data_only=expression is not None and _reads_data_only(expression),
            credentials=credentials,
            kv_reads=kv_reads,
        )
