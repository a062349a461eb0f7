"""The flow language: parse a YAML flow into typed structures, and say precisely what is wrong.

One validator serves `POST /flows/validate`, flow create and update, `workflowdev validate FILE`
and the executor, so all of them agree on what a valid flow is (FLOWS.md). Validation never stops
at the first problem: an operator fixing a file wants every error, each with its line, column and
path, in one pass.

The work is split in two walks over the plain data that `yaml_source` produced: the first checks
the shape and builds `Task`s while collecting every task name and every expression; the second
parses the expressions, because `outputs.<task>` may name a task declared further down.
"""

from __future__ import annotations

import difflib
import functools
import graphlib
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from jinja2 import TemplateSyntaxError, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jsonschema import Draft202012Validator, SchemaError, ValidationError

from workflowdev.engine.durations import parse_duration
from workflowdev.engine.language.trigger_config import TRIGGER_TYPES, check_config
from workflowdev.engine.language.yaml_source import (
    Path,
    SourceDocument,
    SourceError,
    format_path,
    load_yaml,
)
from workflowdev.engine.plugin import Plugin, PluginRegistry, UnknownPlugin

__all__ = [
    "MAX_TASKS",
    "Concurrency",
    "Flow",
    "FlowError",
    "FlowInvalid",
    "InputSpec",
    "InputsInvalid",
    "RetryPolicy",
    "Task",
    "TriggerSpec",
    "ValidationReport",
    "check_inputs",
    "parse_flow",
    "validate_flow",
]

MAX_TASKS = 10_000
"""Task declarations per flow (all lists, nested included), so one flow cannot hog the server."""

FLOW_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
TASK_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,127}")
INPUT_TYPES = ("string", "integer", "number", "boolean", "object", "array")
CONCURRENCY_BEHAVIORS = ("queue", "cancel", "fail")
BACKOFFS = ("constant", "exponential")

_FLOW_KEYS = ("name", "namespace", "description", "labels", "inputs", "variables", "concurrency",
              "timeout", "tasks", "errors", "finally", "triggers")
_TASK_KEYS = ("name", "type", "description", "properties", "when", "allow_failure", "retry",
              "timeout", "depends_on")
_INPUT_KEYS = ("name", "type", "required", "default", "description")
_TRIGGER_KEYS = ("name", "type", "enabled", "config")
_RETRY_KEYS = ("max_attempts", "delay", "backoff", "max_delay")
_CONCURRENCY_KEYS = ("limit", "behavior")

_EXPRESSION_MARKS = ("{{", "{%", "{#")
_CREDENTIAL = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*\}")
_JINJA = ImmutableSandboxedEnvironment()


# ---------------------------------------------------------------------------------------------
# Public structures


@dataclass(frozen=True)
class FlowError:
    line: int
    column: int
    path: str
    message: str

    def to_json(self) -> dict[str, Any]:
        return {"line": self.line, "column": self.column, "path": self.path,
                "message": self.message}

    def __str__(self) -> str:
        where = f"{self.path}: " if self.path else ""
        return f"line {self.line}, column {self.column}: {where}{self.message}"


class FlowInvalid(Exception):
    """A flow failed validation; `errors` holds every problem found, sorted by position."""

    def __init__(self, errors: Iterable[FlowError]) -> None:
        self.errors = list(errors)
        count = len(self.errors)
        lines = "\n".join(f"  {error}" for error in self.errors)
        super().__init__(f"the flow is invalid ({count} error{'s' if count != 1 else ''}):\n"
                         f"{lines}")


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int
    delay: float
    backoff: Literal["constant", "exponential"]
    max_delay: float | None


@dataclass(frozen=True)
class InputSpec:
    name: str
    type: str
    required: bool
    default: Any
    has_default: bool
    description: str | None


@dataclass(frozen=True)
class Concurrency:
    limit: int
    behavior: Literal["queue", "cancel", "fail"]


@dataclass(frozen=True)
class TriggerSpec:
    """A trigger declared in the flow file; its `config` is checked by the trigger's own code."""

    name: str
    type: str
    enabled: bool
    config: dict[str, Any]


TaskList = tuple["Task", ...]


@dataclass(frozen=True)
class Task:
    """One task declaration.

    `properties` are as written (expressions not rendered) minus the plugin's nested task lists,
    which are parsed into `children`, keyed by property name: a "list"-shaped property gives a
    tuple of tasks, a "map"-shaped one a dict of key -> tuple of tasks (the plugin's
    `task_lists` says which shape each property has).
    """

    name: str
    type: str
    properties: dict[str, Any]
    children: dict[str, TaskList | dict[str, TaskList]]
    when: str | bool | None
    allow_failure: bool
    retry: RetryPolicy | None
    timeout: float | None
    depends_on: tuple[str, ...]
    description: str | None
    path: str
    line: int
    column: int

    def iter_tree(self) -> Iterator[Task]:
        """This task, then its children depth first, in declaration order."""
        yield self
        for tasks in self.children.values():
            lists = tasks.values() if isinstance(tasks, dict) else (tasks,)
            for child_list in lists:
                for child in child_list:
                    yield from child.iter_tree()


@dataclass(frozen=True)
class Flow:
    name: str
    namespace: str | None
    description: str | None
    labels: dict[str, str]
    inputs: tuple[InputSpec, ...]
    variables: dict[str, Any]
    concurrency: Concurrency | None
    timeout: float | None
    tasks: TaskList
    errors: TaskList
    finally_: TaskList
    triggers: tuple[TriggerSpec, ...]
    tasks_total: int
    """Task declarations under `tasks`, nested ones included; `errors` and `finally` excluded."""

    def iter_tasks(self) -> Iterator[Task]:
        """Every task, depth first: `tasks`, then `errors`, then `finally`."""
        for task in (*self.tasks, *self.errors, *self.finally_):
            yield from task.iter_tree()


@dataclass
class ValidationReport:
    valid: bool
    errors: list[FlowError]
    tasks_total: int
    flow: Flow | None

    def to_json(self) -> dict[str, Any]:
        return {"valid": self.valid, "errors": [error.to_json() for error in self.errors],
                "tasksTotal": self.tasks_total}


def parse_flow(text: str | bytes, registry: PluginRegistry) -> Flow:
    """Parse and validate a flow; raise FlowInvalid listing every error found."""
    report = validate_flow(text, registry)
    if report.flow is None:
        raise FlowInvalid(report.errors)
    return report.flow


def validate_flow(text: str | bytes, registry: PluginRegistry) -> ValidationReport:
    """Validate a flow and report every error; `flow` is set only when it is valid.

    With an empty registry no plugin is loaded, so task types and their properties are not
    checked, nested task lists are not recognised, and `outputs.<task>` names are not checked
    either (the task may be nested out of sight); everything else is.
    """
    try:
        document = load_yaml(text)
    except SourceError as exc:
        problem = exc.problem
        error = FlowError(problem.position.line, problem.position.column,
                          format_path(problem.path), problem.message)
        return ValidationReport(False, [error], 0, None)
    reader = _FlowReader(document, registry)
    flow = reader.read()
    errors = reader.sorted_errors()
    return ValidationReport(not errors, errors, reader.tasks_total, None if errors else flow)


# ---------------------------------------------------------------------------------------------
# Inputs given to an execution


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
    errors = [{"path": f"inputs.{name}", "message": f"unknown input{_did_you_mean(name, declared)}"}
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
        elif not _matches_input_type(value, spec.type):
            errors.append({"path": f"inputs.{spec.name}",
                           "message": f"expected {_ARTICLE[spec.type]}, got {_describe(value)}"})
        else:
            result[spec.name] = value
    if errors:
        raise InputsInvalid(errors)
    return result


_ARTICLE = {"string": "a string", "integer": "an integer", "number": "a number",
            "boolean": "a boolean", "object": "an object", "array": "an array"}


def _matches_input_type(value: Any, type_: str) -> bool:
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


# ---------------------------------------------------------------------------------------------
# Helpers


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (list, tuple)):
        return "a list"
    return "a mapping"


def _did_you_mean(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _is_expression(value: Any) -> bool:
    """A string the executor renders: a Jinja expression or a `${CREDENTIAL}` reference."""
    return isinstance(value, str) and (
        any(mark in value for mark in _EXPRESSION_MARKS) or _CREDENTIAL.search(value) is not None)


@functools.cache
def _validator(plugin: type[Plugin]) -> Draft202012Validator:
    """One compiled validator per plugin class; raises SchemaError for a broken manifest."""
    schema = dict(plugin.manifest.input_schema)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def _outputs_references(template: nodes.Template) -> Iterator[str]:
    """Task names read as `outputs.<task>` or `outputs['<task>']`."""
    for node in template.find_all((nodes.Getattr, nodes.Getitem)):
        target = node.node
        if not (isinstance(target, nodes.Name) and target.name == "outputs"
                and target.ctx == "load"):
            continue
        if isinstance(node, nodes.Getattr):
            yield node.attr
        elif isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
            yield node.arg.value


# ---------------------------------------------------------------------------------------------
# The reader


@dataclass
class _Expression:
    path: Path
    text: str


@dataclass
class _TaskScope:
    """Where a task list sits: whether its tasks count in `tasks_total`, take `depends_on`."""

    counted: bool
    dependencies: bool = False


@dataclass
class _FlowReader:
    doc: SourceDocument
    registry: PluginRegistry
    errors: set[FlowError] = field(default_factory=set)
    tasks_total: int = 0
    task_count: int = 0
    task_names: dict[str, Path] = field(default_factory=dict)
    expressions: list[_Expression] = field(default_factory=list)
    dependency_lists: list[tuple[list[Any], Path]] = field(default_factory=list)
    """Task lists whose `depends_on` are checked once every task name is known."""

    # -- error helpers --

    def error(self, path: Path, message: str, *, at_key: bool = False) -> None:
        position = self.doc.key_position(path) if at_key else self.doc.value_position(path)
        self.errors.add(FlowError(position.line, position.column, format_path(path), message))

    def missing(self, parent: Path, key: str) -> None:
        """A required key is absent: point at the mapping that lacks it."""
        position = self.doc.value_position(parent)
        self.errors.add(FlowError(position.line, position.column, format_path(parent + (key,)),
                                  f"missing required key '{key}'"))

    def sorted_errors(self) -> list[FlowError]:
        return sorted(self.errors, key=lambda e: (e.line, e.column, e.path, e.message))

    # -- generic field readers --

    def mapping(self, value: Any, path: Path, what: str) -> dict[str, Any] | None:
        if isinstance(value, dict):
            return value
        self.error(path, f"{what} must be a mapping, got {_describe(value)}")
        return None

    def unknown_keys(self, data: Mapping[str, Any], path: Path, allowed: tuple[str, ...],
                     hint: Mapping[str, str] | None = None) -> None:
        for key in data:
            if key not in allowed:
                extra = (hint or {}).get(key) or _did_you_mean(key, allowed)
                self.error(path + (key,), f"unknown key '{key}'{extra}", at_key=True)

    def string(self, data: Mapping[str, Any], path: Path, key: str, *, required: bool = False,
               pattern: re.Pattern[str] | None = None, what: str = "") -> str | None:
        value = data.get(key)
        if value is None:
            if required:
                self.missing(path, key)
            return None
        if not isinstance(value, str):
            self.error(path + (key,), f"{key} must be a string, got {_describe(value)}")
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
            self.error(path + (key,), f"{key} must be true or false, got {_describe(value)}")
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
                       f"{value!r}{_did_you_mean(str(value), choices)}")
            return default
        return value

    def integer(self, data: Mapping[str, Any], path: Path, key: str, low: int,
                high: int | None = None) -> int | None:
        value = data.get(key)
        if value is None:
            self.missing(path, key)
            return None
        if not isinstance(value, int) or isinstance(value, bool):
            self.error(path + (key,), f"{key} must be an integer, got {_describe(value)}")
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

    # -- the flow --

    def read(self) -> Flow | None:
        root = self.mapping(self.doc.data, (), "a flow")
        for problem in self.doc.problems:
            self.errors.add(FlowError(problem.position.line, problem.position.column,
                                      format_path(problem.path), problem.message))
        if root is None:
            return None
        self.unknown_keys(root, (), _FLOW_KEYS)
        name = self.string(root, (), "name", required=True, pattern=FLOW_NAME, what="flow name")
        namespace = self.string(root, (), "namespace", pattern=FLOW_NAME, what="namespace")
        description = self.string(root, (), "description")
        labels = self.labels(root.get("labels"), ("labels",))
        inputs = self.inputs(root.get("inputs"), ("inputs",))
        variables = root.get("variables")
        if variables is not None:
            variables = self.mapping(variables, ("variables",), "variables")
        concurrency = self.concurrency(root.get("concurrency"), ("concurrency",))
        timeout = self.duration(root, (), "timeout", positive=True)
        if "tasks" not in root:
            self.missing((), "tasks")
        elif root["tasks"] is None or root["tasks"] == []:
            self.error(("tasks",), "tasks must list at least one task")
        tasks = self.task_list(root.get("tasks"), ("tasks",), _TaskScope(counted=True))
        errors = self.task_list(root.get("errors"), ("errors",), _TaskScope(counted=False))
        finally_ = self.task_list(root.get("finally"), ("finally",), _TaskScope(counted=False))
        triggers = self.triggers(root.get("triggers"), ("triggers",))
        for raw_tasks, path in self.dependency_lists:
            self.check_dependencies(raw_tasks, path)
        self.check_expressions()
        if self.errors or name is None:
            return None
        return Flow(name=name, namespace=namespace, description=description, labels=labels,
                    inputs=inputs, variables=variables or {}, concurrency=concurrency,
                    timeout=timeout, tasks=tasks, errors=errors, finally_=finally_,
                    triggers=triggers, tasks_total=self.tasks_total)

    def labels(self, value: Any, path: Path) -> dict[str, str]:
        if value is None or self.mapping(value, path, "labels") is None:
            return {}
        for key, label in value.items():
            if not isinstance(label, str):
                self.error(path + (key,), f"label values must be strings, got {_describe(label)}"
                           " (quote it)")
        return value

    def inputs(self, value: Any, path: Path) -> tuple[InputSpec, ...]:
        if value is None:
            return ()
        if not isinstance(value, list):
            self.error(path, f"inputs must be a list, got {_describe(value)}")
            return ()
        specs: list[InputSpec] = []
        seen: dict[str, int] = {}
        for index, raw in enumerate(value):
            item_path = path + (index,)
            item = self.mapping(raw, item_path, "an input")
            if item is None:
                continue
            self.unknown_keys(item, item_path, _INPUT_KEYS)
            name = self.string(item, item_path, "name", required=True, pattern=TASK_NAME,
                               what="input name")
            type_ = self.choice(item, item_path, "type", INPUT_TYPES, None)
            required = self.boolean(item, item_path, "required", False)
            description = self.string(item, item_path, "description")
            has_default = "default" in item
            default = item.get("default")
            if has_default and type_ is not None and default is not None \
                    and not _matches_input_type(default, type_):
                self.error(item_path + ("default",),
                           f"default must be {_ARTICLE[type_]}, got {_describe(default)}")
            if name is not None:
                if name in seen:
                    self.error(item_path + ("name",),
                               f"input '{name}' is already declared at inputs[{seen[name]}]")
                seen.setdefault(name, index)
            if name is not None and type_ is not None:
                specs.append(InputSpec(name, type_, required, default, has_default, description))
        return tuple(specs)

    def concurrency(self, value: Any, path: Path) -> Concurrency | None:
        if value is None or self.mapping(value, path, "concurrency") is None:
            return None
        self.unknown_keys(value, path, _CONCURRENCY_KEYS)
        limit = self.integer(value, path, "limit", 1)
        behavior = self.choice(value, path, "behavior", CONCURRENCY_BEHAVIORS, "queue")
        if limit is None or behavior is None:
            return None
        return Concurrency(limit, behavior)  # type: ignore[arg-type]

    def triggers(self, value: Any, path: Path) -> tuple[TriggerSpec, ...]:
        if value is None:
            return ()
        if not isinstance(value, list):
            self.error(path, f"triggers must be a list, got {_describe(value)}")
            return ()
        specs: list[TriggerSpec] = []
        seen: dict[str, int] = {}
        for index, raw in enumerate(value):
            item_path = path + (index,)
            item = self.mapping(raw, item_path, "a trigger")
            if item is None:
                continue
            self.unknown_keys(item, item_path, _TRIGGER_KEYS)
            name = self.string(item, item_path, "name", required=True, pattern=FLOW_NAME,
                               what="trigger name")
            type_ = self.choice(item, item_path, "type", TRIGGER_TYPES, None)
            enabled = self.boolean(item, item_path, "enabled", True)
            config = item.get("config")
            if config is not None:
                config = self.mapping(config, item_path + ("config",), "config")
            if type_ is not None and (config is not None or type_ != "webhook"):
                for key, message in check_config(type_, config or {}):
                    self.error(item_path + ("config", key), f"{key}: {message}")
            if name is not None:
                if name in seen:
                    self.error(item_path + ("name",),
                               f"trigger '{name}' is already declared at triggers[{seen[name]}]")
                seen.setdefault(name, index)
            if name is not None and type_ is not None:
                specs.append(TriggerSpec(name, type_, enabled, config or {}))
        return tuple(specs)

    # -- tasks --

    def task_list(self, value: Any, path: Path, scope: _TaskScope, *,
                  optional: bool = True) -> TaskList:
        if value is None and optional:
            return ()
        if not isinstance(value, list):
            self.error(path, f"expected a list of tasks, got {_describe(value)}")
            return ()
        tasks = [self.task(raw, path + (index,), scope) for index, raw in enumerate(value)]
        if scope.dependencies:
            self.dependency_lists.append((value, path))
        return tuple(task for task in tasks if task is not None)

    def task(self, raw: Any, path: Path, scope: _TaskScope) -> Task | None:
        self.task_count += 1
        if scope.counted:
            self.tasks_total += 1
        if self.task_count > MAX_TASKS:
            if self.task_count == MAX_TASKS + 1:
                self.error(path, f"a flow may declare at most {MAX_TASKS} tasks")
            return None
        data = self.mapping(raw, path, "a task")
        if data is None:
            return None
        name = self.string(data, path, "name", required=True, pattern=TASK_NAME, what="task name")
        if name is not None:
            self.register_name(name, path + ("name",))
        type_ = self.string(data, path, "type", required=True)
        plugin = self.plugin(type_, path + ("type",))
        self.unknown_keys(data, path, _TASK_KEYS, self.property_hints(data, plugin))
        properties = data.get("properties")
        if properties is None:
            properties = {}
        elif self.mapping(properties, path + ("properties",), "properties") is None:
            properties = {}
        children = self.children(plugin, properties, path + ("properties",), scope)
        if plugin is not None:
            self.check_properties(plugin, properties, path + ("properties",))
        own_properties = {k: v for k, v in properties.items() if k not in children}
        self.collect_expressions(own_properties, path + ("properties",))
        when = data.get("when")
        if isinstance(when, str):
            self.expressions.append(_Expression(path + ("when",), when))
        elif when is not None and not isinstance(when, bool):
            self.error(path + ("when",), f"when must be a boolean or an expression, got "
                       f"{_describe(when)}")
            when = None
        depends_on = self.depends_on(data, path, scope)
        position = self.doc.value_position(path)
        return Task(
            name=name or "", type=type_ or "", properties=own_properties, children=children,
            when=when, allow_failure=self.boolean(data, path, "allow_failure", False),
            retry=self.retry(data.get("retry"), path + ("retry",)),
            timeout=self.duration(data, path, "timeout", positive=True), depends_on=depends_on,
            description=self.string(data, path, "description"), path=format_path(path),
            line=position.line, column=position.column,
        )

    def register_name(self, name: str, path: Path) -> None:
        first = self.task_names.get(name)
        if first is None:
            self.task_names[name] = path
            return
        line = self.doc.value_position(first).line
        self.error(path, f"duplicate task name '{name}': {format_path(first[:-1])} (line {line}) "
                   "has it already; task names are unique in a flow, nested ones included")

    def plugin(self, type_: str | None, path: Path) -> type[Plugin] | None:
        if type_ is None or len(self.registry) == 0:
            return None
        try:
            return self.registry.get(type_)
        except UnknownPlugin:
            suggestion = _did_you_mean(type_, self.registry.ids())
            self.error(path, f"unknown task type '{type_}'{suggestion}")
            return None

    @staticmethod
    def property_hints(data: Mapping[str, Any], plugin: type[Plugin] | None) -> dict[str, str]:
        """Keys written beside `properties` that belong inside it get a pointed hint."""
        if plugin is None:
            return {}
        known = plugin.manifest.input_schema.get("properties", {})
        return {key: f" ({plugin.manifest.id} takes '{key}' under 'properties:')"
                for key in data if key in known and key not in _TASK_KEYS}

    def children(self, plugin: type[Plugin] | None, properties: Mapping[str, Any], path: Path,
                 parent: _TaskScope) -> dict[str, TaskList | dict[str, TaskList]]:
        if plugin is None:
            return {}
        scope = _TaskScope(counted=parent.counted, dependencies=plugin.children_have_dependencies)
        children: dict[str, TaskList | dict[str, TaskList]] = {}
        for key, shape in plugin.task_lists.items():
            if key not in properties:
                continue
            value = properties[key]
            if shape == "list":
                children[key] = self.task_list(value, path + (key,), scope, optional=False)
            elif self.mapping(value, path + (key,), key) is not None:
                children[key] = {
                    case: self.task_list(tasks, path + (key, case), scope, optional=False)
                    for case, tasks in value.items()}
            else:
                children[key] = {}
        return children

    def check_properties(self, plugin: type[Plugin], properties: Mapping[str, Any],
                         path: Path) -> None:
        try:
            validator = _validator(plugin)
        except SchemaError as exc:
            self.error(path, f"task type {plugin.manifest.id} has an invalid inputSchema "
                       f"({exc.message}); this is a bug in the plugin")
            return
        for error in validator.iter_errors(properties):
            relative = tuple(error.absolute_path)
            if _checked_as_tasks(plugin, relative, error) or _is_expression(error.instance):
                continue
            if error.validator == "additionalProperties":
                self.unknown_properties(error, path + relative)
            elif error.validator == "required":
                self.missing_properties(error, path + relative)
            else:
                self.error(path + relative, error.message)

    def unknown_properties(self, error: ValidationError, path: Path) -> None:
        known = error.schema.get("properties", {}) if isinstance(error.schema, Mapping) else {}
        patterns = error.schema.get("patternProperties", {}) if isinstance(error.schema, Mapping) \
            else {}
        for key in error.instance:
            if key in known or any(re.search(pattern, key) for pattern in patterns):
                continue
            self.error(path + (key,), f"unknown property '{key}'{_did_you_mean(key, known)}",
                       at_key=True)

    def missing_properties(self, error: ValidationError, path: Path) -> None:
        position = self.doc.key_position(path)
        for key in error.validator_value:
            if key not in error.instance:
                self.errors.add(FlowError(position.line, position.column,
                                          format_path(path + (key,)),
                                          f"missing required property '{key}'"))

    def collect_expressions(self, value: Any, path: Path) -> None:
        if isinstance(value, str):
            if any(mark in value for mark in _EXPRESSION_MARKS):
                self.expressions.append(_Expression(path, value))
        elif isinstance(value, dict):
            for key, item in value.items():
                self.collect_expressions(item, path + (key,))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                self.collect_expressions(item, path + (index,))

    def retry(self, value: Any, path: Path) -> RetryPolicy | None:
        if value is None or self.mapping(value, path, "retry") is None:
            return None
        self.unknown_keys(value, path, _RETRY_KEYS)
        attempts = self.integer(value, path, "max_attempts", 1, 100)
        delay = self.duration(value, path, "delay", positive=False)
        backoff = self.choice(value, path, "backoff", BACKOFFS, "constant")
        max_delay = self.duration(value, path, "max_delay", positive=True)
        delay = 1.0 if delay is None else delay
        if max_delay is not None and max_delay < delay:
            self.error(path + ("max_delay",), "max_delay must not be shorter than delay")
        if attempts is None or backoff is None:
            return None
        return RetryPolicy(attempts, delay, backoff, max_delay)  # type: ignore[arg-type]

    def depends_on(self, data: Mapping[str, Any], path: Path,
                   scope: _TaskScope) -> tuple[str, ...]:
        value = data.get("depends_on")
        if value is None:
            return ()
        if not scope.dependencies:
            kinds = [p for p in self.registry.ids()
                     if self.registry.get(p).children_have_dependencies]
            where = f"tasks directly inside {' or '.join(kinds)}" if kinds else \
                "tasks of a task type that runs by dependencies, and none is loaded"
            self.error(path + ("depends_on",), f"depends_on is only allowed on {where}",
                       at_key=True)
            return ()
        if not isinstance(value, list) or not all(isinstance(name, str) for name in value):
            self.error(path + ("depends_on",), "depends_on must be a list of task names")
            return ()
        return tuple(value)

    def check_dependencies(self, raw_tasks: list[Any], path: Path) -> None:
        """Sibling names only, no self-dependency, no cycle (each cycle reported once)."""
        siblings: dict[str, int] = {}
        for index, raw in enumerate(raw_tasks):
            if isinstance(raw, dict) and isinstance(raw.get("name"), str):
                siblings.setdefault(raw["name"], index)
        graph: dict[str, set[str]] = {}
        for index, raw in enumerate(raw_tasks):
            if not isinstance(raw, dict) or not isinstance(raw.get("depends_on"), list):
                continue
            name = raw.get("name")
            deps_path = path + (index, "depends_on")
            for position, dependency in enumerate(raw["depends_on"]):
                if not isinstance(dependency, str):
                    continue
                if dependency == name:
                    self.error(deps_path + (position,), f"task '{name}' depends on itself")
                elif dependency not in siblings:
                    where = " (it is not a sibling in this list)" \
                        if dependency in self.task_names else _did_you_mean(dependency, siblings)
                    self.error(deps_path + (position,),
                               f"depends_on names unknown task '{dependency}'{where}")
                elif isinstance(name, str) and siblings.get(name) == index:
                    graph.setdefault(name, set()).add(dependency)
        for cycle in _cycles(graph, order=siblings):
            first = siblings[cycle[0]]
            self.error(path + (first, "depends_on"),
                       f"dependency cycle: {' -> '.join(cycle)} (each task depends on the next)")

    # -- expressions --

    def check_expressions(self) -> None:
        for expression in self.expressions:
            try:
                template = _JINJA.parse(expression.text)
                references = list(_outputs_references(template))
            except TemplateSyntaxError as exc:
                self.error(expression.path, f"invalid expression: {exc.message}")
                continue
            except RecursionError:
                self.error(expression.path, "invalid expression: it nests too deeply")
                continue
            if len(self.registry) == 0:
                continue
            for task in dict.fromkeys(references):
                if task not in self.task_names:
                    self.error(expression.path, f"outputs.{task} refers to no task of this flow"
                               f"{_did_you_mean(task, self.task_names)}")


_PATTERN_HELP = {
    FLOW_NAME: "use letters, digits, '_', '.' and '-', starting with a letter or digit "
               "(at most 128 characters)",
    TASK_NAME: "use letters, digits, '_' and '-', starting with a letter or '_' "
               "(at most 128 characters)",
}


def _checked_as_tasks(plugin: type[Plugin], relative: Path, error: ValidationError) -> bool:
    """Schema errors about nested tasks give way to the task validator's precise ones.

    What the schema says about a task list as a whole (required, minItems) still counts; what
    it says inside the tasks, or about the list's type, is left to `task_list`.
    """
    if not relative or relative[0] not in plugin.task_lists:
        return False
    inside = 2 if plugin.task_lists[relative[0]] == "list" else 3
    return len(relative) >= inside or error.validator == "type"


def _cycles(graph: Mapping[str, set[str]], order: Mapping[str, int]) -> Iterator[list[str]]:
    """Every cycle graphlib finds, breaking each before looking again; starts at the first task.

    `graph` maps a task to the tasks it depends on; each cycle is listed in that direction.
    """
    edges = {node: set(deps) for node, deps in graph.items()}
    for _ in range(sum(len(deps) for deps in edges.values())):
        try:
            graphlib.TopologicalSorter(edges).prepare()
            return
        except graphlib.CycleError as exc:
            found: list[str] = exc.args[1][:-1]
        start = min(range(len(found)), key=lambda i: order[found[i]])
        cycle = found[start:] + found[:start]
        if cycle[1] not in edges.get(cycle[0], ()):
            cycle = [cycle[0], *reversed(cycle[1:])]
        yield [*cycle, cycle[0]]
        edges[cycle[0]].discard(cycle[1])
