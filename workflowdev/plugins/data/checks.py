"""data.validate and data.template: JSON Schema checks and text rendered from values."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import ClassVar

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from jsonschema.validators import validator_for
from referencing.exceptions import Unresolvable

from workflowdev.engine.plugin import JSON
from workflowdev.engine.plugin import Manifest
from workflowdev.engine.plugin import Plugin
from workflowdev.engine.plugin import TaskContext
from workflowdev.engine.plugin import TaskFailed
from workflowdev.engine.plugin import as_text
from workflowdev.plugins._data_formats import render_template
from workflowdev.plugins._toolkit import flag_schema
from workflowdev.plugins._toolkit import object_schema
from workflowdev.plugins._toolkit import read_flag
from workflowdev.plugins._toolkit import read_required
from workflowdev.plugins._toolkit import read_text
from workflowdev.plugins._toolkit import single_value
from workflowdev.plugins._toolkit import task_example
from workflowdev.plugins._toolkit import type_name
from workflowdev.plugins.data._common import DEFAULT_MAX_ERRORS
from workflowdev.plugins.data._common import MAX_MESSAGE_CHARS
from workflowdev.plugins.data._common import MIB
from workflowdev.plugins.data._common import in_thread

# -- checking and rendering ---------------------------------------------------------------------


class Validate(Plugin):
    """Check a value against a JSON Schema, failing the task or reporting the errors."""

    manifest: ClassVar[Manifest] = Manifest(
        id="data.validate",
        name="Validate against a JSON Schema",
        category="data",
        description=(
            "Checks `data` against `schema`, a JSON Schema (2020-12 unless the schema's `$schema` "
            "names another draft). The schema itself is checked first: an invalid schema fails "
            "the task. Formats (email, date, …) are checked where a checker is available. Only "
            "`$ref`s inside the schema are followed, never the network. With `fail: true` "
            "(default) invalid data fails the task, naming the first errors; with `fail: false` "
            "the task succeeds and reports `valid` and `errors`, each with a JSON path "
            "(`$.items[2].price`) and a message."
        ),
        input_schema=object_schema(
            {
                "data": {"description": "The value to check: any JSON."},
                "schema": {
                    "type": ["object", "boolean"],
                    "description": "The JSON Schema that `data` must match.",
                },
                "fail": flag_schema(True, "Fail the task when the data is invalid (false: report it in the outputs)."),
                "max_errors": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": 1000,
                    "default": DEFAULT_MAX_ERRORS,
                    "description": "At most this many errors are reported.",
                },
            },
            ["data", "schema"],
        ),
        output_schema=object_schema(
            {
                "valid": {"type": "boolean", "description": "Whether the data matches the schema."},
                "errors": {
                    "type": "array",
                    "items": object_schema(
                        {
                            "path": {"type": "string", "description": "JSON path of the offending value."},
                            "message": {"type": "string", "description": "What is wrong with it."},
                        },
                        ["path", "message"],
                    ),
                    "description": "The first `max_errors` errors; empty when valid.",
                },
            },
            ["valid", "errors"],
        ),
        examples=(
            task_example(
                "check_order",
                "data.validate",
                """
                data: {id: 7, email: ada@example.test, lines: [{sku: A1, qty: 0}]}
                schema:
                  type: object
                  required: [id, lines]
                  properties:
                    id: {type: integer}
                    lines:
                      type: array
                      items: {type: object, properties: {qty: {type: integer, minimum: 1}}}
                fail: false
                """,
            ),
        ),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        return await in_thread(_validate, properties)


def _clip(message: str) -> str:
    return message if len(message) <= MAX_MESSAGE_CHARS else message[: MAX_MESSAGE_CHARS - 1] + "…"


def _validate(properties: Mapping[str, JSON]) -> dict[str, JSON]:
    schema = read_required(properties, "schema")
    if not isinstance(schema, (dict, bool)):
        raise TaskFailed(f"schema must be a JSON Schema (an object or a boolean), got {type_name(schema)}")
    max_errors = properties.get("max_errors", DEFAULT_MAX_ERRORS)
    if isinstance(max_errors, bool) or not isinstance(max_errors, int) or max_errors < 1:
        raise TaskFailed(f"max_errors must be a positive integer, got {as_text(max_errors)}")
    fail = read_flag(properties, "fail", True)
    cls = validator_for(schema, default=Draft202012Validator) if isinstance(schema, dict) else Draft202012Validator
    try:
        cls.check_schema(schema)
    except SchemaError as exc:
        raise TaskFailed(
            f"the schema is not a valid JSON Schema: {_clip(exc.message)} (at {exc.json_path} in the schema)"
        ) from None
    validator = cls(schema, format_checker=cls.FORMAT_CHECKER)
    try:
        found = list(itertools.islice(validator.iter_errors(read_required(properties, "data")), max_errors + 1))
    except Unresolvable as exc:
        raise TaskFailed(
            f"the schema has a $ref that cannot be resolved ({exc}); only references inside the schema are followed"
        ) from None
    except RecursionError:
        raise TaskFailed("the schema refers to itself without end (a $ref loop)") from None
    errors = [{"path": error.json_path, "message": _clip(error.message)} for error in found[:max_errors]]
    if errors and fail:
        listed = "; ".join(f"{error['path']}: {error['message']}" for error in errors[:3])
        more = " (and more)" if len(found) > 3 else ""
        raise TaskFailed(f"the data does not match the schema: {listed}{more}")
    return {"valid": not errors, "errors": errors}


class Template(Plugin):
    """Fill `$name` placeholders in a text with values: a template step with no code in it."""

    manifest: ClassVar[Manifest] = Manifest(
        id="data.template",
        name="Fill a text template",
        category="data",
        description=(
            "Substitutes placeholders in `template` with `values`: `$name` or `${name}`, and in "
            "braces a dotted path into the values, `${order.lines.0.sku}` (a number picks a list "
            "item). `$$` writes a literal `$`. Text values are inserted as they are; others as "
            'compact JSON (`42`, `true`, `null`, `{"a":1}`). Nothing else happens: no '
            "expressions, loops or code, and values are never read as templates, so data cannot "
            "inject placeholders. This is why it does not use `{{ }}`: the flow renders those "
            "before the task runs. Note that the flow resolves `${NAME}` in capitals as the "
            "credential NAME, so name values in lower case or write `$NAME`. With `strict` "
            "(default) a placeholder without a value, or a `$` that starts none, fails the "
            "task naming them; with `strict: false` they are left as written. The text is "
            f"limited to {MIB} MiB."
        ),
        input_schema=object_schema(
            {
                "template": {
                    "type": "string",
                    "description": "The text with `$name` / `${path.to.value}` placeholders.",
                },
                "values": {
                    "type": "object",
                    "default": {},
                    "description": "The values the placeholders name; nested objects and lists are reached with dotted paths.",
                },
                "strict": flag_schema(True, "Fail on a placeholder without a value (false: leave it as written)."),
            },
            ["template"],
        ),
        output_schema=single_value(
            "text", {"type": "string", "description": "The template with its placeholders filled in."}
        ),
        examples=(
            task_example(
                "greeting",
                "data.template",
                """
                template: "Hello $name, order ${order.id} ships ${order.lines.0.sku} for $$${order.total}."
                values: {name: Ada, order: {id: 7, total: 12.5, lines: [{sku: A1}]}}
                """,
            ),
        ),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        return await in_thread(_template, properties)


def _template(properties: Mapping[str, JSON]) -> dict[str, JSON]:
    values = properties.get("values", {})
    if not isinstance(values, dict):
        raise TaskFailed(f"values must be an object, got {type_name(values)}")
    text = render_template(read_text(properties, "template"), values, strict=read_flag(properties, "strict", True))
    return {"text": text}
