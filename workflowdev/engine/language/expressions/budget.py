"""The budgets of one rendering pass: time, loop steps, the size of everything a template builds.

Every hook of the sandbox, filter and method charges its work to the pass that is running, found
through a context variable rather than passed along, because Jinja calls them with its own
arguments. Sizes are checked before an operation runs wherever it could multiply its input.
"""

from __future__ import annotations

import contextvars
import gc
import itertools
import math
import operator
import threading
import time
from collections.abc import Callable
from collections.abc import ItemsView
from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import KeysView
from collections.abc import ValuesView
from dataclasses import dataclass
from dataclasses import fields
from typing import Any

from jinja2.runtime import StrictUndefined

from workflowdev.engine.language.expressions.errors import Refused
from workflowdev.engine.language.expressions.sizes import percent_size


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


_MAX_INT_BITS = 4096
CHECK_EVERY = 1024
_PENDING = -1
LAZY = (Iterator, range, KeysView, ValuesView, ItemsView)
CONTAINERS = (list, tuple, dict, set, frozenset)
FUNCTION_VALUE = "the expression gives a function, not a value (are the parentheses missing?)"
BINOPS: dict[str, Callable[[Any, Any], Any]] = {
    "+": operator.add,
    "*": operator.mul,
    "**": operator.pow,
    "%": operator.mod,
}


def _leaf_weight(value: Any) -> int | None:
    """The weight of a value that holds no others, or None for a container."""
    if isinstance(value, str):
        return len(value)
    if isinstance(value, CONTAINERS):
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


render_clock = _RenderClock()


class Pass:
    """The budgets of one rendering pass; every sandbox hook charges its work here."""

    __slots__ = ("limits", "deadline", "iterations", "allocated", "_weights")

    def __init__(self, limits: Limits, deadline: float, iterations: int, allocated: int) -> None:
        self.limits = limits
        self.deadline = deadline
        self.iterations = iterations
        self.allocated = allocated
        self._weights: dict[int, tuple[Any, int]] = {}

    def tick(self) -> None:
        if render_clock() > self.deadline:
            raise Refused(f"rendering took longer than the limit of {self.limits.max_seconds:g} s")

    def iterate(self, iterable: Iterable[Any]) -> Iterator[Any]:
        limit = self.limits.max_iterations
        for item in iterable:
            self.iterations += 1
            if self.iterations > limit:
                raise Refused(f"loops ran more than the limit of {limit} iterations")
            self.tick()
            yield item

    def expect(self, size: int) -> None:
        """Refuse an operation before it runs when its result would be over the size limit."""
        if size > self.limits.max_output_bytes:
            raise Refused(
                f"the result would be larger than the limit of {self.limits.max_output_bytes} bytes"
            )

    def built(self, value: Any) -> Any:
        """Charge a value the template has just made to the budgets."""
        self.tick()
        if isinstance(value, (str, list, tuple, dict)):
            self.expect(len(value))
            self.allocated += len(value)
            if self.allocated > self.limits.max_allocated_bytes:
                raise Refused(
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
                            raise Refused("a value contains itself")
                visits += 1
                if visits % CHECK_EVERY == 0:
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
            self.expect(percent_size(self, left, right))
        return self.built(BINOPS[name](left, right))

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
        raise Refused(f"the number would have more than {_MAX_INT_BITS} bits")


def _expect_power(base: Any, exponent: Any) -> None:
    if isinstance(base, int) and isinstance(exponent, int) and exponent > 0 and abs(base) > 1:
        # the first test spares math.log2 from exponents too large to be floats
        _expect_bits(exponent if exponent > _MAX_INT_BITS else exponent * math.log2(abs(base)))


ACTIVE: contextvars.ContextVar[Pass] = contextvars.ContextVar("workflowdev_expression_pass")



def active() -> Pass:
    return ACTIVE.get()
