"""What every task type needs to describe and read its properties, written once.

The manifest's schema tells a flow's author what is allowed and lets the editor check it, but a
property can still arrive at `run` as something else: an expression renders at run time to
whatever its value is (`${{ inputs.count }}` may be text). So a task reads each property through
one of these readers, which fail the task with a message naming the property and what it got,
in the same words in every category. The schema builders keep the manifests' shapes alike
(closed objects, enums and flags with defaults, durations with the accepted spellings), and
`task_example` writes a manifest's examples as the YAML tasks they are. `import_client` loads a
library of the optional `connectors` extra, so that every task missing it fails with one hint.
"""

from __future__ import annotations

import importlib
import textwrap
from collections.abc import Mapping
from types import ModuleType
from typing import Final
from typing import TypeVar

from workflowdev.engine.plugin import DURATION_SCHEMA
from workflowdev.engine.plugin import JSON
from workflowdev.engine.plugin import TaskFailed
from workflowdev.engine.plugin import TaskTimeout
from workflowdev.engine.plugin import as_text
from workflowdev.engine.plugin import parse_timeout

__all__ = [
    "CONNECTORS_HINT",
    "DURATION_SPELLINGS",
    "duration_schema",
    "enum_schema",
    "flag_schema",
    "import_client",
    "object_schema",
    "read_choice",
    "read_duration",
    "read_flag",
    "read_items",
    "read_optional_text",
    "read_required",
    "read_text",
    "read_text_map",
    "read_whole_number",
    "single_value",
    "task_example",
    "type_name",
]

DURATION_SPELLINGS: Final = "500ms, 30s, 10m, ISO 8601 (PT30S) or a number of seconds."
CONNECTORS_HINT: Final = "this task needs the `connectors` extra: pip install 'workflowdev[connectors]'"

Choice = TypeVar("Choice", str, int)


# -- schemas --------------------------------------------------------------------------------------


def object_schema(properties: dict[str, JSON], required: list[str], **extra: JSON) -> dict[str, JSON]:
    """A closed object: a misspelt property is refused when the flow is saved, not ignored."""
    return {"type": "object", "properties": properties, "required": required, "additionalProperties": False, **extra}


def single_value(name: str, schema: dict[str, JSON]) -> dict[str, JSON]:
    """A closed object of one required property: what most tasks answer (and a few take)."""
    return object_schema({name: schema}, [name])


def enum_schema(values: tuple[str, ...], default: str, description: str) -> dict[str, JSON]:
    return {"type": "string", "enum": list(values), "default": default, "description": description}


def flag_schema(default: bool, description: str) -> dict[str, JSON]:
    """A boolean with its default, which `read_flag` reads back: the spelling every switch uses."""
    return {"type": "boolean", "default": default, "description": description}


def duration_schema(default: str, description: str) -> dict[str, JSON]:
    """A duration with its default; `description` is completed with the spellings accepted."""
    return {**DURATION_SCHEMA, "default": default, "description": f"{description} {DURATION_SPELLINGS}"}


def task_example(name: str, task_type: str, properties: str = "") -> str:
    """One task of a flow, as a manifest's `examples` show it: `- name`, `type`, `properties`.

    `properties` is the YAML that goes under `properties:`, written as a block indented like the
    code around it (the common indentation is removed). So an example is read, and edited, as the
    YAML a flow's author writes, without a quoted line and a `\\n` for every line of it.
    """
    example = f"- name: {name}\n  type: {task_type}\n"
    block = textwrap.dedent(properties).strip("\n")
    if block:
        example += "  properties:\n" + textwrap.indent(block, "    ") + "\n"
    return example


# -- optional client libraries --------------------------------------------------------------------


def import_client(module: str) -> ModuleType:
    """A client library of the optional `connectors` extra, imported when a task first needs it.

    Brokers, Redis, ssh.command (asyncssh) and notify.email (aiosmtplib) all load theirs here, so
    that every task missing the extra fails with the same hint (the db tasks add it to theirs).
    """
    try:
        return importlib.import_module(module)
    except ImportError:
        raise TaskFailed(CONNECTORS_HINT) from None


# -- reading properties ---------------------------------------------------------------------------


def type_name(value: JSON) -> str:
    """The JSON name of a value's type, with its article, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def read_required(properties: Mapping[str, JSON], name: str) -> JSON:
    if name not in properties:
        raise TaskFailed(f"{name} is required")
    return properties[name]


def read_text(properties: Mapping[str, JSON], name: str, default: str | None = None) -> str:
    """A text property; without a default it is required."""
    value = properties.get(name, default) if default is not None else read_required(properties, name)
    if not isinstance(value, str):
        raise TaskFailed(f"{name} must be text, got {type_name(value)}")
    return value


def read_optional_text(properties: Mapping[str, JSON], name: str) -> str | None:
    """A text property that may be left out (or null), which is not the same as empty."""
    value = properties.get(name)
    if value is not None and not isinstance(value, str):
        raise TaskFailed(f"{name} must be text, got {type_name(value)}")
    return value


def read_flag(properties: Mapping[str, JSON], name: str, default: bool) -> bool:
    """A boolean: the text "false" is refused rather than read as true."""
    value = properties.get(name, default)
    if not isinstance(value, bool):
        raise TaskFailed(f"{name} must be true or false, got {as_text(value)}")
    return value


def read_choice(
    properties: Mapping[str, JSON], name: str, allowed: tuple[Choice, ...], default: Choice | None = None
) -> Choice:
    """One of `allowed` (words or numbers); without a default it is required."""
    value = properties.get(name, default) if default is not None else read_required(properties, name)
    if isinstance(value, bool) or value not in allowed:
        raise TaskFailed(f"{name} must be one of {', '.join(map(str, allowed))}; got {as_text(value)}")
    return value


def read_whole_number(
    properties: Mapping[str, JSON], name: str, default: int, low: int, high: int | None = None
) -> int:
    """A whole number from `low` to `high` (no upper bound when None); 3.0 counts as 3.

    Every count a flow can make large has a limit, so callers give `high` unless the value is
    bounded elsewhere (a byte budget, a timeout)."""
    value = properties.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TaskFailed(f"{name} must be a whole number, got {as_text(value)}")
    if isinstance(value, float) and not value.is_integer():  # also refuses inf and nan
        raise TaskFailed(f"{name} must be a whole number, got {as_text(value)}")
    if value < low or (high is not None and value > high):
        bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise TaskFailed(f"{name} must be {bounds}, got {as_text(value)}")
    return int(value)


def read_duration(properties: Mapping[str, JSON], name: str, default: str) -> TaskTimeout:
    """A positive duration, kept with the flow's own spelling for "timed out after …" messages."""
    return parse_timeout(properties.get(name, default), name)


def read_items(properties: Mapping[str, JSON], name: str) -> list[JSON]:
    """A required list."""
    value = read_required(properties, name)
    if not isinstance(value, list):
        raise TaskFailed(f"{name} must be a list, got {type_name(value)}")
    return value


def read_text_map(value: JSON, what: str) -> dict[str, str]:
    """A mapping of names to values (headers, environment), values as text; null is empty."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise TaskFailed(f"{what} must be a mapping of names to values, got {as_text(value)}")
    return {str(name): as_text(item) for name, item in value.items()}
