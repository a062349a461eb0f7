"""Inputs given to an execution, checked against the flow's `inputs:` declarations.

Used when an execution starts (API, triggers, the CLI), long after the flow was validated, and
by the validator for the type of each declared default.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from workflowdev.engine.language.flow.messages import describe
from workflowdev.engine.language.flow.messages import did_you_mean
from workflowdev.engine.language.flow.model import Flow

INPUT_TYPES = ("string", "integer", "number", "boolean", "object", "array")


class InputsInvalid(Exception):
    """The inputs given to an execution do not match the flow's declared `inputs`."""

    def __init__(self, errors: list[dict[str, str]]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{e['path']}: {e['message']}" for e in errors))


def check_inputs(flow: Flow, given: Mapping[str, Any] | None) -> dict[str, Any]:
    """The inputs an execution runs with: checked against the declarations, defaults filled.

    An optional input that is neither given nor defaulted is present as None, so expressions
    can test it (`inputs.x is none`) instead of meeting an undefined name. An explicit null
    counts as not given.
    """
    given = {} if given is None else given
    if not isinstance(given, Mapping):
        raise InputsInvalid([{"path": "inputs", "message": "inputs must be an object"}])
    declared = {spec.name: spec for spec in flow.inputs}
    errors = [{"path": f"inputs.{name}", "message": f"unknown input{did_you_mean(name, declared)}"}
              for name in given if name not in declared]
    result: dict[str, Any] = {}
    for spec in flow.inputs:
        value = given.get(spec.name)
        if value is None:
            if spec.has_default:
                result[spec.name] = spec.default
            elif spec.required:
                errors.append({"path": f"inputs.{spec.name}",
                               "message": "required input is missing"})
            else:
                result[spec.name] = None
        elif not matches_input_type(value, spec.type):
            errors.append({"path": f"inputs.{spec.name}",
                           "message": f"expected {ARTICLE[spec.type]}, got {describe(value)}"})
        else:
            result[spec.name] = value
    if errors:
        raise InputsInvalid(errors)
    return result


ARTICLE = {"string": "a string", "integer": "an integer", "number": "a number",
            "boolean": "a boolean", "object": "an object", "array": "an array"}


def matches_input_type(value: Any, type_: str) -> bool:
    if type_ == "string":
        return isinstance(value, str)
    if type_ == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if type_ == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if type_ == "boolean":
        return isinstance(value, bool)
    if type_ == "object":
        return isinstance(value, Mapping)
    return isinstance(value, list)
