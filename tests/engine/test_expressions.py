"""The expression layer: native types, data never rendered twice, credentials, limits, sandbox."""

from __future__ import annotations

import gc
import json
import time
import uuid
from collections.abc import Awaitable
from collections.abc import Callable
from datetime import UTC
from datetime import datetime
from typing import Any

import pytest

from workflowdev.engine.language.expressions import ExpressionError
from workflowdev.engine.language.expressions import Limits
from workflowdev.engine.language.expressions import Renderer
from workflowdev.engine.language.expressions import is_template
from workflowdev.engine.secrets import SecretMasker

FROZEN = datetime(2024, 5, 1, 12, 30, 15, 250_000, tzinfo=UTC)

SCOPE: dict[str, Any] = {
    "inputs": {"customer_id": 42, "dry_run": False, "name": "alice", "items": [1, 2]},
    "vars": {"base_url": "https://shop.example.test"},
    "outputs": {"fetch": {"status": 200, "body": [{"id": 1}, {"id": 2}, {"id": 3}]}},
    "trigger": {"body": "{{ 7*7 }} ${SECRET}", "headers": {}},
    "execution": {"id": "e-1", "status": "RUNNING"},
    "flow": {"name": "f", "namespace": "prod", "revision": 1},
    "big": "x" * 100_000,
}


@pytest.fixture
def renderer() -> Renderer:
    return Renderer(clock=lambda: FROZEN)


def resolver(
    values: dict[str, str], calls: list[str] | None = None
) -> Callable[[str], Awaitable[str | None]]:
    async def resolve(name: str) -> str | None:
        if calls is not None:
            calls.append(name)
        return values.get(name)

    return resolve


async def render(renderer: Renderer, value: Any, **kwargs: Any) -> Any:
    return await renderer.render_value(value, SCOPE, **kwargs)


async def refused(renderer: Renderer, value: Any, **kwargs: Any) -> str:
    with pytest.raises(ExpressionError) as caught:
        await renderer.render_value(value, SCOPE, **kwargs)
    return str(caught.value)


# -- values -------------------------------------------------------------------------------------


async def test_plain_text_is_returned_as_is(renderer: Renderer) -> None:
    text = "just text, with { braces } and $dollars"
    assert await render(renderer, text) is text
    assert not is_template(text)
    assert is_template("{{ x }}") and is_template("{% if x %}{% endif %}") and is_template("${X}")


async def test_non_string_scalars_pass_through(renderer: Renderer) -> None:
    assert await render(renderer, {"a": 1, "b": 2.5, "c": True, "d": None}) == {
        "a": 1, "b": 2.5, "c": True, "d": None,
    }


async def test_a_lone_expression_keeps_its_native_type(renderer: Renderer) -> None:
    assert await render(renderer, "{{ inputs.customer_id + 1 }}") == 43
    assert await render(renderer, "  {{ inputs.dry_run }}\n") is False
    assert await render(renderer, "{{ none }}") is None
    assert await render(renderer, "{{ {'a': [1, 2]} }}") == {"a": [1, 2]}
    assert await render(renderer, "{{ 1.5 }}") == 1.5
    body = await render(renderer, "{{ outputs.fetch.body }}")
    assert body is SCOPE["outputs"]["fetch"]["body"]


async def test_lazy_results_become_lists(renderer: Renderer) -> None:
    assert await render(renderer, "{{ outputs.fetch.body | map(attribute='id') }}") == [1, 2, 3]
    assert await render(renderer, "{{ range(3) }}") == [0, 1, 2]


async def test_mixed_text_renders_to_a_string(renderer: Renderer) -> None:
    url = "{{ vars.base_url }}/customers/{{ inputs.customer_id }}/orders"
    assert await render(renderer, url) == "https://shop.example.test/customers/42/orders"
    assert await render(renderer, "{{ inputs.customer_id }}{{ 1 }}") == "421"
    assert await render(renderer, "n={{ inputs.customer_id }}\n") == "n=42\n"


async def test_dicts_and_lists_are_rendered_recursively(renderer: Renderer) -> None:
    value = {
        "url": "{{ vars.base_url }}",
        "headers": {"X-Id": "{{ inputs.customer_id }}", "Accept": "application/json"},
        "list": ["{{ inputs.name }}", 3, ["{{ execution.id }}"]],
        "{{ not.rendered }}": "keys stay as written",
    }
    assert await render(renderer, value) == {
        "url": "https://shop.example.test",
        "headers": {"X-Id": 42, "Accept": "application/json"},
        "list": ["alice", 3, ["e-1"]],
        "{{ not.rendered }}": "keys stay as written",
    }


async def test_dict_keys_win_over_dict_methods(renderer: Renderer) -> None:
    assert await render(renderer, "{{ inputs.items }}") == [1, 2]
    assert await render(renderer, "{{ {'a': 1}.get('a') }}") == 1


async def test_tojson_is_compact_and_unescaped_and_fromjson_parses(renderer: Renderer) -> None:
    text = await render(renderer, "{{ {'b': '<é>', 'a': [1, true, none]} | tojson }}")
    assert text == '{"b":"<é>","a":[1,true,null]}'
    assert json.loads(text) == {"b": "<é>", "a": [1, True, None]}
    assert await render(renderer, "{{ {'a': 1} | tojson(2) }}") == '{\n  "a": 1\n}'
    assert await render(renderer, "{{ '{\"a\": [1, 2]}' | fromjson }}") == {"a": [1, 2]}
    assert "not valid JSON" in await refused(renderer, "{{ 'nope' | fromjson }}")


async def test_undefined_names_fail_with_the_expression_and_what_exists(renderer: Renderer) -> None:
    message = await refused(renderer, "{{ outputs.fetch.missing_field }}")
    assert "{{ outputs.fetch.missing_field }}" in message
    assert "'missing_field'" in message and "body" in message and "status" in message
    assert "'nosuch' is undefined" in await refused(renderer, "Hello {{ nosuch }}")
    assert "'ghost'" in await refused(renderer, "{{ [outputs.ghost] }}")


async def test_defined_and_default_still_work(renderer: Renderer) -> None:
    assert await render(renderer, "{{ inputs.maybe is defined }}") is False
    assert await render(renderer, "{{ inputs.maybe | default('d') }}") == "d"
    assert await render(renderer, "{{ 'x' if false }}") is None


async def test_a_syntax_error_names_the_expression_and_jinjas_message(renderer: Renderer) -> None:
    message = await refused(renderer, "{{ 1 + }}")
    assert "{{ 1 + }}" in message and "unexpected" in message


async def test_errors_in_nested_values_name_their_path(renderer: Renderer) -> None:
    message = await refused(renderer, {"headers": {"X": "{{ nope }}"}, "list": []})
    assert message.startswith("headers.X: ")


async def test_a_template_is_compiled_once_but_rendered_with_each_scope(renderer: Renderer) -> None:
    source = "{{ inputs.n * 2 }}"
    results = [await renderer.render_value(source, {"inputs": {"n": n}}) for n in range(3)]
    assert results == [0, 2, 4]


# -- functions ----------------------------------------------------------------------------------


async def test_now_is_the_frozen_instant_in_rfc3339_utc(renderer: Renderer) -> None:
    assert await render(renderer, "{{ now() }}") == "2024-05-01T12:30:15.250Z"
    both = await render(renderer, ["{{ now() }}", "{{ now() }}"])
    assert both == ["2024-05-01T12:30:15.250Z"] * 2


async def test_uuid_gives_distinct_uuids(renderer: Renderer) -> None:
    first, second = await render(renderer, ["{{ uuid() }}", "{{ uuid() }}"])
    assert uuid.UUID(first).version == 4 and first != second


async def test_templates_without_kv_never_touch_the_store(renderer: Renderer) -> None:
    async def store(key: str, namespace: str | None) -> Any:
        raise AssertionError("kv read by a template that does not call kv()")

    assert await render(renderer, "{{ inputs.customer_id }}", kv=store) == 42
    assert await render(renderer, "{{ inputs.customer_id }}") == 42


async def test_kv_reads_the_store_once_per_key(renderer: Renderer) -> None:
    reads: list[tuple[str, str | None]] = []
    values = {("counter", None): 7, ("a", None): "A", ("b", None): "B", ("x", "other"): "X"}

    async def store(key: str, namespace: str | None) -> Any:
        reads.append((key, namespace))
        return values.get((key, namespace))

    assert await render(renderer, "{{ kv('counter') + 1 }}", kv=store) == 8
    template = "{% for k in ['a', 'b', 'a'] %}{{ kv(k) }}{% endfor %}-{{ kv('x', 'other') }}"
    assert await render(renderer, template, kv=store) == "ABA-X"
    assert sorted(reads) == [("a", None), ("b", None), ("counter", None), ("x", "other")]


async def test_kv_without_a_store_is_a_clear_error(renderer: Renderer) -> None:
    assert "kv() is not available" in await refused(renderer, "{{ kv('k') }}")


# -- data is never rendered twice ------------------------------------------------------------------


async def test_data_holding_template_syntax_stays_literal(renderer: Renderer) -> None:
    calls: list[str] = []
    creds = resolver({"SECRET": "leaked!!"}, calls)
    literal = "{{ 7*7 }} ${SECRET}"
    assert await render(renderer, "{{ trigger.body }}", credentials=creds) == literal
    assert await render(renderer, "got: {{ trigger.body }}", credentials=creds) == f"got: {literal}"

    async def store(key: str, namespace: str | None) -> Any:
        return literal

    assert await render(renderer, "{{ kv('k') }}!", kv=store, credentials=creds) == f"{literal}!"
    assert calls == []


# -- credentials --------------------------------------------------------------------------------


async def test_credentials_are_substituted_in_the_authors_text(renderer: Renderer) -> None:
    calls: list[str] = []
    creds = resolver({"SHOP_TOKEN": "tok-123456"}, calls)
    value = {
        "plain": "Bearer ${SHOP_TOKEN}",
        "templated": "{{ vars.base_url }}?t=${SHOP_TOKEN}",
        "escaped": "echo $${SHOP_TOKEN} ${lower}",
    }
    assert await render(renderer, value, credentials=creds) == {
        "plain": "Bearer tok-123456",
        "templated": "https://shop.example.test?t=tok-123456",
        "escaped": "echo ${SHOP_TOKEN} ${lower}",
    }
    assert calls == ["SHOP_TOKEN"]


async def test_a_missing_credential_is_named_without_any_value(renderer: Renderer) -> None:
    creds = resolver({"OTHER": "other-secret"})
    message = await refused(renderer, "token ${SHOP_TOKEN}", credentials=creds)
    assert message == "credential SHOP_TOKEN is not defined"
    assert "credential SHOP_TOKEN is not defined" in await refused(renderer, "{{ 1 }}${SHOP_TOKEN}")


async def test_templates_cannot_reach_the_credentials_by_name(renderer: Renderer) -> None:
    assert "reserved" in await refused(renderer, "{{ _wd_credentials }}")


async def test_resolved_credentials_are_masked_also_in_errors(renderer: Renderer) -> None:
    masker = SecretMasker()
    creds = resolver({"TOKEN": "s3cr3t-value"})
    source = "{% set t %}${TOKEN}{% endset %}{{ outputs[t] }}"
    message = await refused(renderer, source, credentials=creds, masker=masker)
    assert "s3cr3t-value" not in message and "***" in message
    assert masker.mask("Authorization: Bearer s3cr3t-value") == "Authorization: Bearer ***"


# -- masking ------------------------------------------------------------------------------------


def test_masker_hides_longest_secrets_first_and_ignores_tiny_ones() -> None:
    masker = SecretMasker()
    masker.add("secret")
    masker.add("secret-and-more")
    masker.add("abc")
    assert masker.mask("x secret-and-more y secret z abc") == "x *** y *** z abc"


def test_masker_hides_json_escaped_and_url_encoded_forms() -> None:
    masker = SecretMasker()
    masker.add('pa"ss/word')
    assert masker.mask(json.dumps({"p": 'pa"ss/word'})) == '{"p": "***"}'
    assert masker.mask("https://h/?p=pa%22ss%2Fword") == "https://h/?p=***"


def test_mask_json_walks_nested_values() -> None:
    masker = SecretMasker()
    masker.add("hunter22")
    value = {"a": ["x hunter22", {"hunter22": 1}], "n": 5}
    assert masker.mask_json(value) == {"a": ["x ***", {"***": 1}], "n": 5}
    assert SecretMasker().mask_json(value) is value


# -- conditions ---------------------------------------------------------------------------------


async def test_conditions(renderer: Renderer) -> None:
    async def holds(expr: str | bool) -> bool:
        return await renderer.evaluate_condition(expr, SCOPE)

    assert await holds(True) is True and await holds(False) is False
    assert await holds("{{ outputs.fetch.body | length > 2 }}") is True
    assert await holds("{{ outputs.fetch.body | length > 100 }}") is False
    assert await holds("{{ [] }}") is False and await holds("{{ [0] }}") is True
    assert await holds("true") is True and await holds(" False ") is False
    assert await holds("{{ 'no' }}") is False and await holds("yes") is True
    for unclear in ("maybe", "{{ inputs.name }}", "{{ true }} and {{ false }}"):
        with pytest.raises(ExpressionError, match="neither true nor false"):
            await holds(unclear)


# -- the sandbox --------------------------------------------------------------------------------

UNSAFE = "not allowed"
GONE = "is undefined"
NO_TEMPLATES = "nothing to include, import or extend"

ESCAPES = [
    ("{{ ''.__class__.__mro__[1].__subclasses__() }}", UNSAFE),
    ("{{ cycler.__init__.__globals__ }}", GONE),
    ("{{ joiner.__init__.__globals__ }}", GONE),
    ("{{ lipsum.__globals__ }}", GONE),
    ("{{ namespace.__init__ }}", GONE),
    ("{{ ''|attr('__class__') }}", UNSAFE),
    ("{{ 'a{0.__class__}'.format(1) }}", UNSAFE),
    ("{{ '{0.__class__}'|attr('format')(1) }}", UNSAFE),
    ("{{ '{x.__class__}'.format_map({'x': 1}) }}", UNSAFE),
    ("{{ ('{0.__class__}').format_map }}", "not a value"),
    ("{{ (['{0.__class__}'] | map(attribute='format') | first)(1) }}", UNSAFE),
    ("{{ ('{0.__class__}'.format.__wrapped__)(1) }}", UNSAFE),
    ("{{ {'f': '{0.__class__}'.format}.f(1) }}", UNSAFE),
    ("{% include 'x' %}", NO_TEMPLATES),
    ("{% import 'x' as y %}", NO_TEMPLATES),
    ("{% from 'x' import y %}", NO_TEMPLATES),
    ("{% extends 'x' %}", NO_TEMPLATES),
    ("{% block b %}{% endblock %}", NO_TEMPLATES),
    ("{{ self }}", "'self' is not available"),
    ("{{ self._TemplateReference__context }}", "'self' is not available"),
    ("{{ now.__globals__ }}", UNSAFE),
    ("{{ kv.__self__ }}", UNSAFE),
    ("{{ range.__globals__['__builtins__'] }}", UNSAFE),
    ("{{ (range(3) | map('string')).gi_frame }}", UNSAFE),
    ("{% for x in [1] %}{{ loop.__class__ }}{% endfor %}", UNSAFE),
    ("{{ {}.pop('a') }}", UNSAFE),
    ("{{ 'ab'.translate({97: 'x'}) }}", UNSAFE),
    ("{{ (1).to_bytes(4, 'big') }}", UNSAFE),
    ("{{ 'x'|urlize }}", "No filter named 'urlize'"),
]


@pytest.mark.parametrize(("source", "reason"), ESCAPES, ids=range(len(ESCAPES)))
async def test_sandbox_escapes_fail_cleanly(renderer: Renderer, source: str, reason: str) -> None:
    assert reason in await refused(renderer, source)


async def test_the_format_filter_is_printf_style_and_looks_up_nothing(renderer: Renderer) -> None:
    source = "{{ ['{0.__class__}'] | map('format') | list }}"
    assert await render(renderer, source) == ["{0.__class__}"]


async def test_a_function_is_not_a_value(renderer: Renderer) -> None:
    assert "parentheses" in await refused(renderer, "{{ now }}")
    assert "parentheses" in await refused(renderer, "at {{ now }}")


# -- limits -------------------------------------------------------------------------------------

SIZE = "larger than the limit"
BITS = "more than 4096 bits"
LOOPS = "limit of 100000 iterations"
BUILT = "bytes in total"
DEEP = "too deeply"

BOMBS = [
    ("{{ 'x' * 10**9 }}", SIZE),
    ("{{ 10**(10**10) }}", BITS),
    ("{{ 2**100000 }}", BITS),
    ("{% for i in range(10**9) %}{% endfor %}", "over the loop limit"),
    ("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", LOOPS),
    ("{% for c in big %}{% for d in big %}{% endfor %}{% endfor %}", LOOPS),
    ("{% for c in big %}{% for d in big if false %}{% endfor %}{% endfor %}", LOOPS),
    ("{% for x in [big] recursive %}{{ loop(big) if x|length > 1 }}{% endfor %}", LOOPS),
    ("{{ [1] * 10**9 }}", SIZE),
    ("{% set s = 'xxxxxxxx' %}" + "{% set s = s ~ s %}" * 40 + "{{ s|length }}", SIZE),
    ("{% set s = 'xxxxxxxx' %}" + "{% set s = s + s %}" * 40 + "{{ s|length }}", SIZE),
    ("{% set s = 'xxxxxxxx' %}" + "{% set s = '%s%s' % (s, s) %}" * 40 + "{{ s|length }}", SIZE),
    ("{% set s = 'xxxxxxxx' %}" + "{% set s = '{0}{0}'.format(s) %}" * 40 + "{{ s|length }}", SIZE),
    (
        "{% macro g(s, n) %}{% if n %}{{ g(s ~ s, n - 1) }}{% else %}{{ s|length }}{% endif %}"
        "{% endmacro %}{{ g('x', 60) }}",
        SIZE,
    ),
    (
        "{% macro g(n) %}{% if n %}{% set t %}{{ g(n - 1) }}{{ g(n - 1) }}{% endset %}{{ t }}"
        "{% else %}{{ 'x' * 4096 }}{% endif %}{% endmacro %}{{ g(30) }}",
        BUILT,
    ),
    ("{% for i in range(100000) %}{{ 'x' * 100 }}{% endfor %}", "rendered text is larger"),
    ("{% for i in range(100000) %}{% set x = 'x' * 1000000 %}{% endfor %}", BUILT),
    ("{{ range(100000) | map('string') | map('center', 1000000) | list | length }}", BUILT),
    ("{{ ('{0}' * 300000).format(big) }}", SIZE),
    ("{{ ('%(a)s' * 200000) % {'a': big} }}", SIZE),
    ("{{ '{:>1000000000}'.format(1) }}", SIZE),
    ("{{ '%1000000000d' % 1 }}", SIZE),
    ("{{ '%.*f' % (1000000000, 1.0) }}", "'*' width"),
    ("{{ 'x'.center(1000000000) }}", SIZE),
    ("{{ 'x'.zfill(1000000000) }}", SIZE),
    ("{{ '\t'.expandtabs(1000000000) }}", SIZE),
    ("{{ 'a'.replace('a', big).replace('x', big) }}", SIZE),
    ("{{ big.join(['a'] * 100) }}", SIZE),
    ("{{ 'x' | center(1000000000) }}", SIZE),
    ("{{ 'x' | indent(1000000000, true) }}", SIZE),
    ("{{ 'a' | replace('a', big) | replace('x', big) }}", SIZE),
    ("{{ (['a'] * 100) | join(big) }}", SIZE),
    ("{{ ('a ' * 100) | wordwrap(1, wrapstring=big) }}", SIZE),
    ("{{ '%1000000000s' | format('x') }}", SIZE),
    ("{{ [1] | batch(1000000000, 0) | list }}", SIZE),
    ("{{ [1] | slice(1000000000) | list }}", SIZE),
    ("{{ ([range(1000) | list] * 1000) | sum(start=[]) | length }}", SIZE),
    ("{{ 'x' | tojson(1000000000) }}", "indent must be"),
    ("{{ '\\\\'" + " | pprint" * 40 + " }}", SIZE),
    (
        "{% set a = [big, big, big, big, big, big, big, big, big, big] %}"
        "{% set b = [a, a, a, a, a, a, a, a, a, a] %}{% set c = [b, b, b, b, b, b, b, b, b, b] %}"
        "{{ c == c }}",
        SIZE,
    ),
    (
        "{% set a = ['x', 'x', 'x', 'x', 'x', 'x', 'x', 'x'] %}"
        + "".join(
            f"{{% set {n} = [{p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}] %}}"
            for p, n in zip("abcdefgh", "bcdefghi", strict=True)
        )
        + "{{ i | length }}",
        SIZE,
    ),
    ("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", DEEP),
    ("{{ " + "(" * 5000 + "1" + ")" * 5000 + " }}", DEEP),
    ("{{ " + "[" * 5000 + "]" * 5000 + " }}", DEEP),
    ("{{ " + "{'a': " * 3000 + "1" + "}" * 3000 + " }}", DEEP),
    ("{{ big" + " | upper" * 5000 + " }}", DEEP),
    ("{{ big" + ".x" * 5000 + " }}", DEEP),
    ("{% if true %}" * 500 + "x" + "{% endif %}" * 500, DEEP),
    ("{{ ('[' * 100000) | fromjson }}", DEEP),
]


@pytest.mark.parametrize(("source", "reason"), BOMBS, ids=range(len(BOMBS)))
async def test_bombs_are_refused_for_their_reason(source: str, reason: str) -> None:
    # A generous clock: the recursive-loop bomb spends about 1 s of CPU reaching 100,000
    # iterations, so with the default 1 s the clock may stop it first on a busy machine.
    # Refused it is either way; here each bomb must be caught by its own limit.
    patient = Renderer(clock=lambda: FROZEN, limits=Limits(max_seconds=30))
    assert reason in await refused(patient, source)


async def test_exponential_work_stops_at_the_deadline() -> None:
    quick = Renderer(limits=Limits(max_seconds=0.05))
    source = (
        "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(60) }}"
    )
    assert "longer than the limit of 0.05 s" in await refused(quick, source)


async def test_output_limit_is_configurable() -> None:
    small = Renderer(limits=Limits(max_output_bytes=100))
    assert await small.render_value("{{ 'x' * 100 }}", {}) == "x" * 100
    assert "larger than the limit of 100 bytes" in await refused(small, "{{ 'x' * 101 }}")
    assert "100 bytes" in await refused(small, "{{ 'é' * 51 }}!")
    assert "100 bytes" in await refused(small, "{% for i in range(11) %}0123456789{% endfor %}")


async def test_iteration_limit_is_configurable() -> None:
    small = Renderer(limits=Limits(max_iterations=10))
    ten = "{% for i in range(10) %}{{ i }}{% endfor %}"
    assert await small.render_value(ten, {}) == "0123456789"
    loop = "{% for i in range(5) %}{% for j in range(3) %}{% endfor %}{% endfor %}"
    assert "10 iterations" in await refused(small, loop)


async def test_data_passed_through_is_not_measured_but_text_built_from_it_is(
    renderer: Renderer,
) -> None:
    huge = "x" * 2_000_000
    scope = {"data": {"huge": huge, "list": [huge]}}
    passed_through = [
        "{{ data.huge }}",
        "{{ data.huge | default('') }}",
        "{{ data.list | first }}",
        "{{ data.get('huge') }}",
    ]
    for source in passed_through:
        assert await renderer.render_value(source, scope) is huge
    with pytest.raises(ExpressionError, match="larger than the limit"):
        await renderer.render_value("x{{ data.huge }}", scope)
    with pytest.raises(ExpressionError, match="larger than the limit"):
        await renderer.render_value("{{ data.huge | upper }}", scope)


async def test_reasonable_work_fits_the_default_limits(renderer: Renderer) -> None:
    assert await render(renderer, "{{ ('x' * 1000000) | length }}") == 1_000_000
    assert await render(renderer, "{{ ([0] * 1000) | length }}") == 1000
    assert await render(renderer, "{{ range(100000) | sum }}") == 4_999_950_000
    assert await render(renderer, "{{ 2 ** 4000 > 0 }}") is True
    assert await render(renderer, "{{ '%s-%05d' % ('a', 42) }}") == "a-00042"
    assert await render(renderer, "{{ '{}|{:>4}'.format('a', 7) }}") == "a|   7"
    assert await render(renderer, "{{ big | replace('x', 'yy') | length }}") == 200_000
    # Jinja's ** is left-associative: this is (10**10)**10, a small number
    assert await render(renderer, "{{ 10**10**10 == 10**100 }}") is True


class _Stalls:
    """A scope value whose reading stops the process without the template doing any work:
    the thread sleeps (as when the machine is too busy to schedule it) and the garbage
    collector runs full collections (as over a large heap)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    @property
    def value(self) -> int:
        time.sleep(self.seconds)
        started = time.thread_time()
        while time.thread_time() - started < self.seconds:
            gc.collect()
        return 7


async def test_the_time_limit_counts_the_templates_own_work_not_stalls() -> None:
    quick = Renderer(limits=Limits(max_seconds=0.05))
    assert await quick.render_value("{{ stalls.value * 3 }}", {"stalls": _Stalls(0.2)}) == 21
