"""Reading task declarations: names unique across the flow, the task type's own schema for its
properties, nested task lists where the plugin says it has them, retries, `depends_on`, and every
expression written, parsed once all task names are known (`outputs.<task>` may look ahead).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from jinja2 import TemplateSyntaxError
from jinja2 import nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jsonschema import Draft202012Validator
from jsonschema import SchemaError
from jsonschema import ValidationError

from workflowdev.engine.language.flow.fields import TASK_NAME
from workflowdev.engine.language.flow.fields import FieldReader
from workflowdev.engine.language.flow.graph import dependency_problems
from workflowdev.engine.language.flow.messages import describe
from workflowdev.engine.language.flow.messages import did_you_mean
from workflowdev.engine.language.flow.model import FlowError
from workflowdev.engine.language.flow.model import RetryPolicy
from workflowdev.engine.language.flow.model import Task
from workflowdev.engine.language.flow.model import TaskList
from workflowdev.engine.language.yaml_source import Path
from workflowdev.engine.language.yaml_source import format_path
from workflowdev.engine.plugin import Plugin
from workflowdev.engine.plugin import PluginRegistry
from workflowdev.engine.plugin import UnknownPlugin

MAX_TASKS = 10_000
"""Task declarations per flow (all lists, nested included), so one flow cannot hog the server."""
BACKOFFS = ("constant", "exponential")

_TASK_KEYS = ("name", "type", "description", "properties", "when", "allow_failure", "retry",
              "timeout", "depends_on")
_RETRY_KEYS = ("max_attempts", "delay", "backoff", "max_delay")
_EXPRESSION_MARKS = ("{{", "{%", "{#")
_CREDENTIAL = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*\}")
_JINJA = ImmutableSandboxedEnvironment()


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


@dataclass
class _Expression:
    path: Path
    text: str


@dataclass
class TaskScope:
    """Where a task list sits: whether its tasks count in `tasks_total`, take `depends_on`."""

    counted: bool
    dependencies: bool = False


@dataclass
class TaskReader(FieldReader):
    """Reads every task list of a flow, keeping what the later checks need: all task names, the
    expressions written, and the lists whose tasks run by dependencies."""

    registry: PluginRegistry
    tasks_total: int = field(default=0, init=False)
    task_count: int = field(default=0, init=False)
    task_names: dict[str, Path] = field(default_factory=dict, init=False)
    expressions: list[_Expression] = field(default_factory=list, init=False)
    dependency_lists: list[tuple[list[Any], Path]] = field(default_factory=list, init=False)
    """Task lists whose `depends_on` are checked once every task name is known."""

    def check_dependencies(self) -> None:
        """Once every task is read: the `depends_on` of each list that runs by dependencies."""
        for raw_tasks, path in self.dependency_lists:
            for where, message in dependency_problems(raw_tasks, path, self.task_names):
                self.error(where, message)

    def task_list(self, value: Any, path: Path, scope: TaskScope, *,
                  optional: bool = True) -> TaskList:
        if value is None and optional:
            return ()
        if not isinstance(value, list):
            self.error(path, f"expected a list of tasks, got {describe(value)}")
            return ()
        tasks = [self.task(raw, path + (index,), scope) for index, raw in enumerate(value)]
        if scope.dependencies:
            self.dependency_lists.append((value, path))
        return tuple(task for task in tasks if task is not None)

    def task(self, raw: Any, path: Path, scope: TaskScope) -> Task | None:
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
                       f"{describe(when)}")
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
            suggestion = did_you_mean(type_, self.registry.ids())
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
                 parent: TaskScope) -> dict[str, TaskList | dict[str, TaskList]]:
        if plugin is None:
            return {}
        scope = TaskScope(counted=parent.counted, dependencies=plugin.children_have_dependencies)
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
            self.error(path + (key,), f"unknown property '{key}'{did_you_mean(key, known)}",
                       at_key=True)

    def missing_properties(self, error: ValidationError, path: Path) -> None:
        position = self.doc.key_position(path)
        for key in error.validator_value:
            if key not in error.instance:
                self.errors.add(FlowError.at(position, path + (key,),
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
                   scope: TaskScope) -> tuple[str, ...]:
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
                               f"{did_you_mean(task, self.task_names)}")


def _checked_as_tasks(plugin: type[Plugin], relative: Path, error: ValidationError) -> bool:
    """Schema errors about nested tasks give way to the task validator's precise ones.

    What the schema says about a task list as a whole (required, minItems) still counts; what
    it says inside the tasks, or about the list's type, is left to `task_list`.
    """
    if not relative or relative[0] not in plugin.task_lists:
        return False
    inside = 2 if plugin.task_lists[relative[0]] == "list" else 3
    return len(relative) >= inside or error.validator == "type"
