"""Reading a whole flow document, and the two entry points every caller validates through.

One validator serves `POST /flows/validate`, flow create and update, `workflowdev validate FILE`
and the executor, so all of them agree on what a valid flow is (FLOWS.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from workflowdev.engine.language.flow.fields import FLOW_NAME
from workflowdev.engine.language.flow.fields import TASK_NAME
from workflowdev.engine.language.flow.inputs import ARTICLE
from workflowdev.engine.language.flow.inputs import INPUT_TYPES
from workflowdev.engine.language.flow.inputs import matches_input_type
from workflowdev.engine.language.flow.messages import describe
from workflowdev.engine.language.flow.model import Concurrency
from workflowdev.engine.language.flow.model import Flow
from workflowdev.engine.language.flow.model import FlowError
from workflowdev.engine.language.flow.model import FlowInvalid
from workflowdev.engine.language.flow.model import InputSpec
from workflowdev.engine.language.flow.model import TriggerSpec
from workflowdev.engine.language.flow.model import ValidationReport
from workflowdev.engine.language.flow.tasks import TaskReader
from workflowdev.engine.language.flow.tasks import TaskScope
from workflowdev.engine.language.trigger_config import TRIGGER_TYPES
from workflowdev.engine.language.trigger_config import check_config
from workflowdev.engine.language.yaml_source import Path
from workflowdev.engine.language.yaml_source import SourceError
from workflowdev.engine.language.yaml_source import load_yaml
from workflowdev.engine.plugin import PluginRegistry

CONCURRENCY_BEHAVIORS = ("queue", "cancel", "fail")

_FLOW_KEYS = ("name", "namespace", "description", "labels", "inputs", "variables", "concurrency",
              "timeout", "tasks", "errors", "finally", "triggers")
_INPUT_KEYS = ("name", "type", "required", "default", "description")
_TRIGGER_KEYS = ("name", "type", "enabled", "config")
_CONCURRENCY_KEYS = ("limit", "behavior")


@dataclass
class FlowReader(TaskReader):
    """Reads the top level of a flow; every task list it meets goes to the TaskReader."""

    def read(self) -> Flow | None:
        root = self.mapping(self.doc.data, (), "a flow")
        for problem in self.doc.problems:
            self.errors.add(FlowError.of_problem(problem))
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
        tasks = self.task_list(root.get("tasks"), ("tasks",), TaskScope(counted=True))
        errors = self.task_list(root.get("errors"), ("errors",), TaskScope(counted=False))
        finally_ = self.task_list(root.get("finally"), ("finally",), TaskScope(counted=False))
        triggers = self.triggers(root.get("triggers"), ("triggers",))
        self.check_dependencies()
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
                self.error(path + (key,), f"label values must be strings, got {describe(label)}"
                           " (quote it)")
        return value

    def inputs(self, value: Any, path: Path) -> tuple[InputSpec, ...]:
        specs: list[InputSpec] = []
        for item_path, item, name in self.declarations(value, path, _INPUT_KEYS, "input",
                                                       TASK_NAME):
            type_ = self.choice(item, item_path, "type", INPUT_TYPES, None)
            required = self.boolean(item, item_path, "required", False)
            description = self.string(item, item_path, "description")
            has_default = "default" in item
            default = item.get("default")
            if has_default and type_ is not None and default is not None \
                    and not matches_input_type(default, type_):
                self.error(item_path + ("default",),
                           f"default must be {ARTICLE[type_]}, got {describe(default)}")
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
        specs: list[TriggerSpec] = []
        for item_path, item, name in self.declarations(value, path, _TRIGGER_KEYS, "trigger",
                                                       FLOW_NAME):
            type_ = self.choice(item, item_path, "type", TRIGGER_TYPES, None)
            enabled = self.boolean(item, item_path, "enabled", True)
            config = item.get("config")
            if config is not None:
                config = self.mapping(config, item_path + ("config",), "config")
            if type_ is not None and (config is not None or type_ != "webhook"):
                for key, message in check_config(type_, config or {}):
                    self.error(item_path + ("config", key), f"{key}: {message}")
            if name is not None and type_ is not None:
                specs.append(TriggerSpec(name, type_, enabled, config or {}))
        return tuple(specs)


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
        return ValidationReport(False, [FlowError.of_problem(exc.problem)], 0, None)
    reader = FlowReader(document, registry)
    flow = reader.read()
    errors = reader.sorted_errors()
    return ValidationReport(not errors, errors, reader.tasks_total, None if errors else flow)
