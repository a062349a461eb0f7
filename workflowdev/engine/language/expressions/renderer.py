"""The Renderer: renders the author's values against a scope, the hot path of every task start.

Plain values and text without a template return at once; compiled templates are cached by their
source, so the cost of a task's properties after the first is one or more synchronous passes.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Mapping
from datetime import datetime
from functools import lru_cache
from functools import partial
from typing import Any

from workflowdev.engine.language.expressions.budget import ACTIVE
from workflowdev.engine.language.expressions.budget import Limits
from workflowdev.engine.language.expressions.budget import render_clock
from workflowdev.engine.language.expressions.credentials import CredentialText
from workflowdev.engine.language.expressions.errors import ExpressionError
from workflowdev.engine.language.expressions.errors import quoted
from workflowdev.engine.language.expressions.errors import reason
from workflowdev.engine.language.expressions.functions import utc_now
from workflowdev.engine.language.expressions.results import joined
from workflowdev.engine.language.expressions.results import native
from workflowdev.engine.language.expressions.sandbox import Sandbox
from workflowdev.engine.language.expressions.session import CredentialResolver
from workflowdev.engine.language.expressions.session import KVReader
from workflowdev.engine.language.expressions.session import Session
from workflowdev.engine.language.expressions.templates import RESULT
from workflowdev.engine.language.expressions.templates import Compiled
from workflowdev.engine.language.expressions.templates import compile_template
from workflowdev.engine.language.expressions.templates import is_template
from workflowdev.engine.secrets import SecretMasker

_TRUE_WORDS = frozenset({"true", "yes", "on", "1"})
_FALSE_WORDS = frozenset({"false", "no", "off", "0", "", "none", "null"})

_DEFAULT_LIMITS = Limits()


class Renderer:
    """Renders the author's values against a scope. One per engine; safe to share."""

    def __init__(
        self,
        *,
        limits: Limits = _DEFAULT_LIMITS,
        clock: Callable[[], datetime] = utc_now,
        cache_size: int = 4096,
    ) -> None:
        self.limits = limits
        self._clock = clock
        self._compiled = lru_cache(maxsize=cache_size)(partial(compile_template, Sandbox()))

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
        session = Session(self.limits, self._clock, scope, credentials, masker, kv)
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
            shown = quoted(value)
            message = f"condition {quoted(expr)} gives {shown}, which is neither true nor false"
            raise ExpressionError(masker.mask(message) if masker else message)
        return bool(value)

    async def _render(self, value: Any, session: Session, path: str) -> Any:
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

    async def _render_text(self, source: str, session: Session) -> Any:
        compiled = self._compiled(source)
        await session.resolve_credentials(compiled.credentials)
        if isinstance(compiled, CredentialText):
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

    def _run(self, compiled: Compiled, session: Session, source: str) -> Any:
        """One synchronous pass of a compiled template, inside the session's budgets."""
        state = session.start_pass()
        token = ACTIVE.set(state)
        started = render_clock()
        try:
            context = compiled.template.new_context(session.names, shared=True)
            chunks = compiled.template.root_render_func(context)
            if not compiled.native:
                return joined(chunks, state)
            for _ in chunks:
                pass
            return native(context.vars[RESULT], state, deep=not compiled.reads_data_only)
        except Exception as error:  # noqa: BLE001 - whatever the author's code raised
            raise session.error(f"cannot render {quoted(source)}: {reason(error)}") from None
        finally:
            ACTIVE.reset(token)
            session.finish_pass(state, render_clock() - started)
