"""A flow's declared `inputs`, read from its YAML, and the operator's typed text turned into values.

The console checks what it can before sending, so a typo is answered beside the field at once
rather than by a round trip. The server still checks everything: what is accepted here is
exactly what it accepts (an integer is not a boolean, `1.5` is not an integer), and anything it
refuses anyway comes back as a 400 the form shows.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

import yaml

INPUT_TYPES = ("string", "integer", "number", "boolean", "object", "array")
_INTEGER = re.compile(r"^[+-]?\d+$")


class BadValue(ValueError):
    """The text typed for an input cannot become a value of its type; the message says why."""


@dataclass(frozen=True)
class InputSpec:
    name: str
    type: str
    required: bool = False
    default: Any = None
    has_default: bool = False
    description: str = ""

    @property
    def must_be_given(self) -> bool:
        """Required and without a default: the execution cannot start without the operator's value."""
        return self.required and not self.has_default

    def initial_text(self) -> str:
        """The default as the operator would type it, so accepting it unchanged sends the default."""
        if not self.has_default or self.default is None:
            return ""
        if self.type in ("object", "array"):
            return json.dumps(self.default, ensure_ascii=False)
        return str(self.default)


def input_specs(yaml_content: str) -> list[InputSpec]:
    """The inputs a saved flow declares; entries the server would have refused are skipped.

    The flow was validated when it was saved, so this only has to read, not judge.
    """
    try:
        document = yaml.safe_load(yaml_content)
    except yaml.YAMLError:
        return []
    declared = document.get("inputs") if isinstance(document, dict) else None
    if not isinstance(declared, list):
        return []
    specs = []
    for item in declared:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            continue
        kind = item.get("type", "string")
        specs.append(
            InputSpec(
                name=item["name"],
                type=kind if kind in INPUT_TYPES else "string",
                required=bool(item.get("required", False)),
                default=item.get("default"),
                has_default="default" in item,
                description=str(item.get("description") or ""),
            )
        )
    return specs


def parse_value(spec: InputSpec, text: str) -> Any:
    """The value `text` stands for under `spec`'s type; raises BadValue with a message for the field.

    Booleans come from a switch, not from text, so they never reach here.
    """
    if spec.type == "string":
        return text
    stripped = text.strip()
    if spec.type == "integer":
        if not _INTEGER.match(stripped):
            raise BadValue(f"expected an integer (like 42), got {text!r}")
        return int(stripped)
    if spec.type == "number":
        return _number(stripped, text)
    return _json_of(spec.type, stripped)


def _number(stripped: str, text: str) -> int | float:
    if _INTEGER.match(stripped):
        return int(stripped)
    try:
        value = float(stripped)
    except ValueError:
        raise BadValue(f"expected a number (like 2.5), got {text!r}") from None
    if not math.isfinite(value):
        raise BadValue("expected a finite number")
    return value


def _json_of(kind: str, stripped: str) -> Any:
    expected, example = (dict, '{"key": "value"}') if kind == "object" else (list, "[1, 2, 3]")
    try:
        value = json.loads(stripped)
    except ValueError as exc:
        raise BadValue(f"expected a JSON {kind} like {example}: {exc}") from None
    if not isinstance(value, expected):
        raise BadValue(f"expected a JSON {kind} like {example}")
    return value
