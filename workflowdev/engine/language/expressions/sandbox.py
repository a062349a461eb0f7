"""The Jinja2 environment templates run in: the immutable sandbox, with every way to spend memory
or time routed through the pass budgets.

Loops, literal collections and `~` are rewritten at compile time into calls of the environment's
`wd_*` hooks (a node the parser never makes from author text); operators, calls, attribute
access and output go through the sandbox's own intercepts.
"""

from __future__ import annotations

import itertools
import types
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Mapping
from functools import update_wrapper
from typing import Any

from jinja2 import nodes
from jinja2 import pass_context
from jinja2.compiler import CodeGenerator
from jinja2.compiler import Frame
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context
from jinja2.runtime import LoopContext
from jinja2.runtime import StrictUndefined
from jinja2.runtime import Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.visitor import NodeTransformer

from workflowdev.engine.language.expressions.budget import BINOPS
from workflowdev.engine.language.expressions.budget import FUNCTION_VALUE
from workflowdev.engine.language.expressions.budget import LAZY
from workflowdev.engine.language.expressions.budget import active
from workflowdev.engine.language.expressions.credentials import CredentialTokens
from workflowdev.engine.language.expressions.errors import Refused
from workflowdev.engine.language.expressions.filters import metered_filters
from workflowdev.engine.language.expressions.methods import BUILTIN_VALUES
from workflowdev.engine.language.expressions.methods import allowed_method
from workflowdev.engine.language.expressions.sizes import format_size


class _Undefined(StrictUndefined):
    """StrictUndefined that also refuses repr(), so a missing value inside a list fails rather
    than printing as `Undefined`."""

    __slots__ = ()
    __repr__ = StrictUndefined._fail_with_undefined_error


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


class InsertGuards(NodeTransformer):
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
    state = active()
    if isinstance(value, str):
        state.tick()
        state.expect(len(value))
        return value
    if isinstance(value, LAZY):
        value = list(value)
    elif callable(value) and not isinstance(value, Undefined):
        raise Refused(FUNCTION_VALUE)
    return state.built(str(value))


class Sandbox(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox, with every way to spend memory or time metered."""

    code_generator_class = _CodeGenerator
    intercepted_binops = frozenset(BINOPS)

    def __init__(self) -> None:
        super().__init__(
            autoescape=False,
            undefined=_Undefined,
            finalize=_finalize,
            optimized=False,  # no constant folding: nothing is evaluated outside the budgets
            keep_trailing_newline=True,  # rendering never changes the author's own text
            extensions=[CredentialTokens],
            cache_size=0,
            auto_reload=False,
        )
        self.globals.clear()
        self.filters = metered_filters(self.filters)
        self.concat = self._concat  # type: ignore[assignment]

    # Hooks named in the generated code (see InsertGuards and Jinja's `concat`).
    def wd_iterate(self, iterable: Iterable[Any]) -> Iterator[Any]:
        return active().iterate(iterable)

    def wd_literal(self, value: Any) -> Any:
        return active().literal(value)

    def wd_charge(self, value: Any) -> Any:
        return active().built(value)

    def _concat(self, parts: Iterable[str]) -> str:
        """Join what a macro, a call or a set block collected, within the size limit."""
        state = active()
        pieces = parts if isinstance(parts, list) else list(parts)
        state.expect(sum(map(len, pieces)))
        return state.built("".join(pieces))  # type: ignore[no-any-return]

    def call_binop(self, context: Context, symbol: str, left: Any, right: Any) -> Any:
        return active().binop(symbol, left, right)

    def call(self, context: Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        """Calls of author code. Text methods make new text and are charged; other calls either
        charge themselves (macros through concat, format, range, dict) or hand back data."""
        state = active()
        state.tick()
        owner = getattr(obj, "__self__", None)
        if isinstance(obj, (types.BuiltinMethodType, types.MethodType)) and isinstance(
            owner, BUILTIN_VALUES
        ):
            allowed = allowed_method(obj)
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
            state = active()
            if is_map:
                state.expect(format_size(state, template, (), args[0] if args else None))
            else:
                state.expect(format_size(state, template, args, kwargs))
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
