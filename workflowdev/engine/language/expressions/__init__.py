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

The package, by job: `renderer` (the Renderer and its passes), `session` (one call's instant,
credentials, kv reads and budgets), `templates` (compiling and caching the author's text),
`credentials` (`${NAME}`), `sandbox` (the Jinja2 environment and its hooks), `budget` and
`sizes` (what a pass may spend, and estimates made before an operation runs), `filters`,
`methods` and `functions` (what a template may call), `results` (what a pass hands back).

Limits that remain: a single built-in operation on values within the caps (sorting a large list
taken from the data) runs to its end before the clock is looked at again; values passed through
unchanged from the scope (a lone `{{ outputs.big }}`) are not measured, only what a template
builds from them; compiling a template is not timed (its cost follows the length of the author's
text, which the API's request size limits). Rendering runs on the event loop, so a template that
uses its whole time budget holds the loop for `max_seconds`.
"""

from __future__ import annotations

from workflowdev.engine.language.expressions.budget import Limits
from workflowdev.engine.language.expressions.errors import ExpressionError
from workflowdev.engine.language.expressions.errors import SafeResolverError
from workflowdev.engine.language.expressions.renderer import Renderer
from workflowdev.engine.language.expressions.session import CredentialResolver
from workflowdev.engine.language.expressions.session import KVReader
from workflowdev.engine.language.expressions.templates import is_template

__all__ = [
    "CredentialResolver",
    "ExpressionError",
    "KVReader",
    "Limits",
    "Renderer",
    "SafeResolverError",
    "is_template",
]
