"""Reading one field of a flow document: each reader checks a value's type and range, records a
precise error at the value's (or its key's) line and column, and returns None or a default so the
walk goes on and every other problem is found in the same pass.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from workflowdev.engine.durations import parse_duration
from workflowdev.engine.language.flow.messages import describe
from workflowdev.engine.language.flow.messages import did_you_mean
from workflowdev.engine.language.flow.model import FlowError
from workflowdev.engine.language.yaml_source import Path
from workflowdev.engine.language.yaml_source import SourceDocument
from workflowdev.engine.language.yaml_source import format_path

FLOW_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
TASK_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,127}")

_PATTERN_HELP = {
    FLOW_NAME: "use letters, digits, '_', '.' and '-', starting with a letter or digit "
               "(at most 128 characters)",
    TASK_NAME: "use letters, digits, '_' and '-', starting with a letter or '_' "
               "(at most 128 characters)",
}


@dataclass
class FieldReader:
    """Errors gather in a set, so a problem met twice is reported once; sorted at the end."""

    doc: SourceDocument
    errors: set[FlowError] = field(default_factory=set, init=False)

    def error(self, path: Path, message: str, *, at_key: bool = False) -> None:
        position = self.doc.key_position(path) if at_key else self.doc.value_position(path)
        self.errors.add(FlowError.at(position, path, message))

    def missing(self, parent: Path, key: str) -> None:
        """A required key is absent: point at the mapping that lacks it."""
        position = self.doc.value_position(parent)
        self.errors.add(FlowError.at(position, parent + (key,), f"missing required key '{key}'"))

    def sorted_errors(self) -> list[FlowError]:
        return sorted(self.errors, key=lambda e: (e.line, e.column, e.path, e.message))

    # -- generic field readers --

    def mapping(self, value: Any, path: Path, what: str) -> dict[str, Any] | None:
        if isinstance(value, dict):
            return value
        self.error(path, f"{what} must be a mapping, got {describe(value)}")
        return None

    def unknown_keys(self, data: Mapping[str, Any], path: Path, allowed: tuple[str, ...],
                     hint: Mapping[str, str] | None = None) -> None:
        for key in data:
            if key not in allowed:
                extra = (hint or {}).get(key) or did_you_mean(key, allowed)
                self.error(path + (key,), f"unknown key '{key}'{extra}", at_key=True)

    def string(self, data: Mapping[str, Any], path: Path, key: str, *, required: bool = False,
               pattern: re.Pattern[str] | None = None, what: str = "") -> str | None:
        value = data.get(key)
        if value is None:
            if required:
                self.missing(path, key)
            return None
        if not isinstance(value, str):
            self.error(path + (key,), f"{key} must be a string, got {describe(value)}")
            return None
        if pattern is not None and not pattern.fullmatch(value):
            self.error(path + (key,),
                       f"invalid {what or key} {value!r}: {_PATTERN_HELP[pattern]}")
            return None
        return value

    def boolean(self, data: Mapping[str, Any], path: Path, key: str, default: bool) -> bool:
        value = data.get(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            self.error(path + (key,), f"{key} must be true or false, got {describe(value)}")
            return default
        return value

    def choice(self, data: Mapping[str, Any], path: Path, key: str, choices: tuple[str, ...],
               default: str | None) -> str | None:
        value = data.get(key)
        if value is None:
            if default is None:
                self.missing(path, key)
            return default
        if value not in choices:
            self.error(path + (key,), f"{key} must be one of {', '.join(choices)}, got "
                       f"{value!r}{did_you_mean(str(value), choices)}")
            return default
        return value

    def integer(self, data: Mapping[str, Any], path: Path, key: str, low: int,
                high: int | None = None) -> int | None:
        value = data.get(key)
        if value is None:
            self.missing(path, key)
            return None
        if not isinstance(value, int) or isinstance(value, bool):
            self.error(path + (key,), f"{key} must be an integer, got {describe(value)}")
            return None
        if value < low or (high is not None and value > high):
            limits = f"between {low} and {high}" if high is not None else f"at least {low}"
            self.error(path + (key,), f"{key} must be {limits}, got {value}")
            return None
        return value

    def duration(self, data: Mapping[str, Any], path: Path, key: str, *,
                 positive: bool) -> float | None:
        value = data.get(key)
        if value is None:
            return None
        try:
            seconds = parse_duration(value)
        except ValueError as exc:
            self.error(path + (key,), f"{key}: {exc}")
            return None
        if positive and seconds <= 0:
            self.error(path + (key,), f"{key} must be longer than zero")
            return None
        return seconds

    def declarations(self, value: Any, path: Path, keys: tuple[str, ...], kind: str,
                     name_pattern: re.Pattern[str],
                     ) -> Iterator[tuple[Path, dict[str, Any], str | None]]:
        """The items of a list of named declarations (`inputs:`, `triggers:`), each with its
        path and its name (None when missing or invalid); a name used twice is reported at the
        later declaration, which is then still yielded so its other fields are checked too."""
        if value is None:
            return
        section = format_path(path)
        if not isinstance(value, list):
            self.error(path, f"{section} must be a list, got {describe(value)}")
            return
        article = "an" if kind[0] in "aeiou" else "a"
        seen: dict[str, int] = {}
        for index, raw in enumerate(value):
            item_path = path + (index,)
            item = self.mapping(raw, item_path, f"{article} {kind}")
            if item is None:
                continue
            self.unknown_keys(item, item_path, keys)
            name = self.string(item, item_path, "name", required=True, pattern=name_pattern,
                               what=f"{kind} name")
            if name is not None:
                if name in seen:
                    self.error(item_path + ("name",),
                               f"{kind} '{name}' is already declared at {section}[{seen[name]}]")
                seen.setdefault(name, index)
            yield item_path, item, name
