"""The flow language as operators meet it: what parses, and where each mistake is reported.

Plugins here are small doubles with hand-written schemas, so these tests pin the validator's
behaviour, not the built-in catalogue's.
"""

from __future__ import annotations

import textwrap
from typing import Any

import pytest

from workflowdev.engine.language.flow import MAX_TASKS
from workflowdev.engine.language.flow import Concurrency
from workflowdev.engine.language.flow import FlowError
from workflowdev.engine.language.flow import FlowInvalid
from workflowdev.engine.language.flow import InputsInvalid
from workflowdev.engine.language.flow import InputSpec
from workflowdev.engine.language.flow import RetryPolicy
from workflowdev.engine.language.flow import TriggerSpec
from workflowdev.engine.language.flow import check_inputs
from workflowdev.engine.language.flow import parse_flow
from workflowdev.engine.language.flow import validate_flow
from workflowdev.engine.language.yaml_source import MAX_BYTES
from workflowdev.engine.plugin import Manifest
from workflowdev.engine.plugin import Plugin
from workflowdev.engine.plugin import PluginRegistry
from workflowdev.engine.plugin import RunnerLevelPlugin


def _plugin(plugin_id: str, schema: dict[str, Any], *, base: type[Plugin] = Plugin,
            task_lists: dict[str, str] | None = None, dag: bool = False) -> type[Plugin]:
    manifest = Manifest(id=plugin_id, name=plugin_id, category=plugin_id.split(".")[0],
                        description="test double", input_schema=schema, output_schema={})
    attrs: dict[str, Any] = {"manifest": manifest, "task_lists": task_lists or {},
                             "children_have_dependencies": dag}
    return type(plugin_id.replace(".", "_"), (base,), attrs)


def _object(properties: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": list(required),
            "additionalProperties": False}


_TASKS = {"type": "array", "minItems": 1, "items": {"type": "object"}}

PLUGINS = [
    _plugin("util.log", _object({"message": {"type": "string"},
                                 "level": {"enum": ["debug", "info", "warning", "error"]}},
                                ("message",))),
    _plugin("util.noop", _object({})),
    _plugin("http.request", _object({
        "url": {"type": "string"}, "method": {"enum": ["GET", "POST"]},
        "headers": {"type": "object", "additionalProperties": {"type": "string"}},
        "timeout": {"type": "number"}, "retries": {"type": "integer"}}, ("url",))),
    _plugin("kv.set", _object({"key": {"type": "string"}, "value": {}}, ("key",))),
    _plugin("flow.approval", _object({"message": {"type": "string"}, "timeout": {}}),
            base=RunnerLevelPlugin),
    _plugin("flow.parallel", _object({"tasks": _TASKS, "concurrency": {"type": "integer"}},
                                     ("tasks",)),
            base=RunnerLevelPlugin, task_lists={"tasks": "list"}),
    _plugin("flow.if", _object({"condition": {}, "then": _TASKS, "else": _TASKS},
                               ("condition", "then")),
            base=RunnerLevelPlugin, task_lists={"then": "list", "else": "list"}),
    _plugin("flow.switch", _object({"value": {}, "cases": {"type": "object"}, "default": _TASKS},
                                   ("value", "cases")),
            base=RunnerLevelPlugin, task_lists={"cases": "map", "default": "list"}),
    _plugin("flow.dag", _object({"tasks": _TASKS}, ("tasks",)),
            base=RunnerLevelPlugin, task_lists={"tasks": "list"}, dag=True),
    _plugin("flow.foreach", _object({"items": {"type": "array"},
                                     "concurrency": {"type": "integer", "minimum": 1},
                                     "tasks": _TASKS}, ("items", "tasks")),
            base=RunnerLevelPlugin, task_lists={"tasks": "list"}),
]


@pytest.fixture
def registry() -> PluginRegistry:
    registry = PluginRegistry()
    registry.register_all(PLUGINS)
    return registry


def _yaml(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


FULL_EXAMPLE = _yaml("""
    name: order-sync
    namespace: production
    description: Pull new orders and notify
    labels: {team: ops}
    inputs:
      - name: customer_id
        type: integer
        required: true
      - name: dry_run
        type: boolean
        default: false
    variables:
      base_url: https://shop.example.test
    concurrency: {limit: 1, behavior: queue}
    timeout: 15m
    tasks:
      - name: fetch
        type: http.request
        properties:
          url: "{{ vars.base_url }}/customers/{{ inputs.customer_id }}/orders"
          headers: {Authorization: "Bearer ${SHOP_TOKEN}"}
        retry: {max_attempts: 3, delay: 2s, backoff: exponential, max_delay: 1m}
        timeout: 30s
      - name: gate
        type: flow.approval
        when: "{{ outputs.fetch.body | length > 100 }}"
        properties: {message: "Sync {{ outputs.fetch.body | length }} orders?", timeout: 1h}
      - name: each_order
        type: flow.foreach
        properties:
          items: "{{ outputs.fetch.body }}"
          concurrency: 4
          tasks:
            - name: save
              type: kv.set
              properties: {key: "order-{{ item.id }}", value: "{{ item }}"}
      - name: notify
        type: util.log
        allow_failure: true
        properties: {message: "synced {{ outputs.each_order.count }} orders"}
    errors:
      - name: alert
        type: util.log
        properties: {level: error, message: "{{ error.taskName }} failed: {{ error.message }}"}
    finally:
      - name: done
        type: util.log
        properties: {message: "finished with {{ execution.status }}"}
    triggers:
      - name: nightly
        type: schedule
        config: {cron: "0 3 * * *", timezone: UTC}
      - name: hook
        type: webhook
        enabled: false
""")


def test_the_smallest_flow_parses(registry: PluginRegistry) -> None:
    flow = parse_flow("name: my-workflow\ntasks:\n  - name: hello\n    type: util.log\n"
                      "    properties:\n      message: Hello world\n", registry)
    assert flow.name == "my-workflow"
    assert flow.tasks_total == 1
    [hello] = flow.tasks
    assert (hello.name, hello.type, hello.properties) == ("hello", "util.log",
                                                          {"message": "Hello world"})
    assert (hello.path, hello.line, hello.column) == ("tasks[0]", 3, 5)
    assert (hello.retry, hello.timeout, hello.when, hello.allow_failure) == (None, None, None,
                                                                             False)


def test_the_full_example_parses_into_its_structures(registry: PluginRegistry) -> None:
    flow = parse_flow(FULL_EXAMPLE, registry)

    assert (flow.name, flow.namespace, flow.description) == (
        "order-sync", "production", "Pull new orders and notify")
    assert flow.labels == {"team": "ops"}
    assert flow.inputs == (
        InputSpec("customer_id", "integer", True, None, False, None),
        InputSpec("dry_run", "boolean", False, False, True, None),
    )
    assert flow.variables == {"base_url": "https://shop.example.test"}
    assert flow.concurrency == Concurrency(1, "queue")
    assert flow.timeout == 900.0
    assert flow.triggers == (
        TriggerSpec("nightly", "schedule", True, {"cron": "0 3 * * *", "timezone": "UTC"}),
        TriggerSpec("hook", "webhook", False, {}),
    )
    assert flow.tasks_total == 5

    fetch, gate, each_order, notify = flow.tasks
    assert fetch.retry == RetryPolicy(3, 2.0, "exponential", 60.0)
    assert fetch.timeout == 30.0
    assert fetch.properties["headers"] == {"Authorization": "Bearer ${SHOP_TOKEN}"}
    assert gate.when == "{{ outputs.fetch.body | length > 100 }}"
    assert each_order.properties == {"items": "{{ outputs.fetch.body }}", "concurrency": 4}
    [save] = each_order.children["tasks"]
    assert (save.name, save.path) == ("save", "tasks[2].properties.tasks[0]")
    assert notify.allow_failure is True
    assert [task.name for task in flow.iter_tasks()] == [
        "fetch", "gate", "each_order", "save", "notify", "alert", "done"]


def test_map_and_list_children_keep_their_shape(registry: PluginRegistry) -> None:
    flow = parse_flow(_yaml("""
        name: branches
        tasks:
          - name: choose
            type: flow.switch
            properties:
              value: "{{ inputs.kind }}"
              cases:
                a: [{name: on_a, type: util.noop}]
                b: [{name: on_b1, type: util.noop}, {name: on_b2, type: util.noop}]
              default: [{name: otherwise, type: util.noop}]
        errors:
          - name: recover
            type: flow.if
            properties:
              condition: true
              then: [{name: yes_branch, type: util.noop}]
    """), registry)
    [choose] = flow.tasks
    assert choose.properties == {"value": "{{ inputs.kind }}"}
    cases = choose.children["cases"]
    assert isinstance(cases, dict)
    assert {key: [t.name for t in tasks] for key, tasks in cases.items()} == {
        "a": ["on_a"], "b": ["on_b1", "on_b2"]}
    assert [t.name for t in choose.children["default"]] == ["otherwise"]
    assert cases["b"][1].path == "tasks[0].properties.cases.b[1]"
    assert flow.tasks_total == 5
    assert [t.name for t in flow.iter_tasks()] == [
        "choose", "on_a", "on_b1", "on_b2", "otherwise", "recover", "yes_branch"]


def test_dag_children_keep_their_dependencies(registry: PluginRegistry) -> None:
    flow = parse_flow(_yaml("""
        name: graph
        tasks:
          - name: plan
            type: flow.dag
            properties:
              tasks:
                - {name: a, type: util.noop}
                - {name: b, type: util.noop, depends_on: [a]}
                - {name: c, type: util.noop, depends_on: [a, b]}
    """), registry)
    assert [t.depends_on for t in flow.tasks[0].children["tasks"]] == [(), ("a",), ("a", "b")]


def _errors(text: str | bytes, registry: PluginRegistry) -> list[FlowError]:
    report = validate_flow(text, registry)
    assert report.valid is not bool(report.errors) and (report.flow is None) == bool(report.errors)
    return report.errors


def _task(body: str) -> str:
    """A flow whose first task (line 3) is `body`, indented as a list item."""
    return "name: f\ntasks:\n" + textwrap.indent(_yaml(body), "    ").replace("    ", "  - ", 1)


# Each case: the YAML, then the single error expected: line, column, path, part of the message.
ERROR_CASES = [
    pytest.param('name: f\ntasks:\n  - name: a\n    type: "util.log\n', 5, 1, "",
                 "YAML syntax error: found unexpected end of stream", id="yaml-syntax"),
    pytest.param("- name: f\n", 1, 1, "", "a flow must be a mapping, got a list", id="not-mapping"),
    pytest.param("name: f\ntasks: []\n---\nname: g\n", 3, 1, "", "only one YAML document",
                 id="two-documents"),
    pytest.param("", 1, 1, "", "the document is empty", id="empty"),
    pytest.param("name: f\nname: g\ntasks: [{name: a, type: util.noop}]\n", 2, 1, "name",
                 "duplicate key 'name' (first given at line 1)", id="duplicate-yaml-key"),
    pytest.param("name: f\ntasks: [{name: a, type: util.noop}]\nvariables: {d: !!binary aGk=}\n",
                 3, 16, "variables.d", "unsupported tag !!binary", id="unsupported-tag"),
    pytest.param("name: f\ntasks: *t\n", 2, 8, "", "alias *t refers to no anchor",
                 id="unknown-alias"),
    pytest.param("tasks: [{name: a, type: util.noop}]\n", 1, 1, "name",
                 "missing required key 'name'", id="flow-name-missing"),
    pytest.param("name: -f\ntasks: [{name: a, type: util.noop}]\n", 1, 7, "name",
                 "invalid flow name '-f'", id="flow-name-pattern"),
    pytest.param('name: "f\\n"\ntasks: [{name: a, type: util.noop}]\n', 1, 7, "name",
                 "invalid flow name 'f\\n'", id="flow-name-trailing-newline"),
    pytest.param("name: f\nnamespace: a/b\ntasks: [{name: a, type: util.noop}]\n", 2, 12,
                 "namespace", "invalid namespace 'a/b'", id="namespace-pattern"),
    pytest.param("name: f\ndescriptoin: x\ntasks: [{name: a, type: util.noop}]\n", 2, 1,
                 "descriptoin", "unknown key 'descriptoin' (did you mean 'description'?)",
                 id="unknown-flow-key"),
    pytest.param("name: f\nlabels: {team: 3}\ntasks: [{name: a, type: util.noop}]\n", 2, 16,
                 "labels.team", "label values must be strings", id="label-value"),
    pytest.param("name: f\ninputs:\n  - name: n\n    type: int\n"
                 "tasks: [{name: a, type: util.noop}]\n",
                 4, 11, "inputs[0].type", "got 'int' (did you mean 'integer'?)",
                 id="input-type"),
    pytest.param("name: f\ninputs:\n  - {name: n, type: integer, default: '1'}\n"
                 "tasks: [{name: a, type: util.noop}]\n", 3, 39, "inputs[0].default",
                 "default must be an integer, got a string", id="input-default-type"),
    pytest.param("name: f\ninputs:\n  - {name: n, type: string}\n  - {name: n, type: string}\n"
                 "tasks: [{name: a, type: util.noop}]\n", 4, 12, "inputs[1].name",
                 "input 'n' is already declared at inputs[0]", id="input-duplicate"),
    pytest.param("name: f\ninputs: {n: 1}\ntasks: [{name: a, type: util.noop}]\n", 2, 9,
                 "inputs", "inputs must be a list, got a mapping", id="inputs-not-list"),
    pytest.param("name: f\ninputs: [3]\ntasks: [{name: a, type: util.noop}]\n", 2, 10,
                 "inputs[0]", "an input must be a mapping, got a number", id="input-not-mapping"),
    pytest.param("name: f\ninputs:\n  - {name: 1n, type: string}\n"
                 "tasks: [{name: a, type: util.noop}]\n", 3, 12, "inputs[0].name",
                 "invalid input name '1n'", id="input-name-pattern"),
    pytest.param("name: f\nvariables: [1]\ntasks: [{name: a, type: util.noop}]\n", 2, 12,
                 "variables", "variables must be a mapping, got a list", id="variables"),
    pytest.param("name: f\nconcurrency: {limit: 0}\ntasks: [{name: a, type: util.noop}]\n", 2, 22,
                 "concurrency.limit", "limit must be at least 1, got 0", id="concurrency-limit"),
    pytest.param("name: f\nconcurrency: {limit: 2, behavior: drop}\n"
                 "tasks: [{name: a, type: util.noop}]\n", 2, 35, "concurrency.behavior",
                 "behavior must be one of queue, cancel, fail, got 'drop'",
                 id="concurrency-behavior"),
    pytest.param("name: f\ntimeout: soon\ntasks: [{name: a, type: util.noop}]\n", 2, 10,
                 "timeout", "timeout: invalid duration 'soon'", id="flow-timeout"),
    pytest.param("name: f\ntasks: []\n", 2, 8, "tasks", "tasks must list at least one task",
                 id="tasks-empty"),
    pytest.param("name: f\n", 1, 1, "tasks", "missing required key 'tasks'", id="tasks-missing"),
    pytest.param("name: f\ntasks: [{name: a, type: util.noop}]\nerrors: {}\n", 3, 9, "errors",
                 "expected a list of tasks, got a mapping", id="errors-not-list"),
    pytest.param("name: f\ntasks: [{name: a, type: util.noop}]\ntriggers:\n"
                 "  - {name: t, type: cron}\n",
                 4, 21, "triggers[0].type", "type must be one of webhook, schedule, flow",
                 id="trigger-type"),
    pytest.param("name: f\ntasks: [{name: a, type: util.noop}]\ntriggers:\n"
                 "  - {name: t, type: webhook}\n  - {name: t, type: flow, enabled: yes, config: {upstreamFlowId: u}}\n",
                 5, 12, "triggers[1].name", "trigger 't' is already declared at triggers[0]",
                 id="trigger-duplicate"),
    pytest.param("name: f\ntasks: [{name: a, type: util.noop}]\ntriggers: t\n", 3, 11,
                 "triggers", "triggers must be a list, got a string", id="triggers-not-list"),
    pytest.param("name: f\ntasks: [{name: a, type: util.noop}]\ntriggers: [x]\n", 3, 12,
                 "triggers[0]", "a trigger must be a mapping, got a string",
                 id="trigger-not-mapping"),
    pytest.param("name: f\ntasks: [{name: a, type: util.noop}]\ntriggers:\n"
                 "  - {name: t, type: webhook, enabeld: true}\n", 4, 30, "triggers[0].enabeld",
                 "unknown key 'enabeld' (did you mean 'enabled'?)", id="trigger-unknown-key"),
    pytest.param("name: f\ntasks: [{name: a, type: util.noop}]\ntriggers:\n"
                 "  - name: nightly\n    type: schedule\n    config: {cron: '61 * * * *'}\n",
                 6, 20, "triggers[0].config.cron", "invalid cron expression '61 * * * *'",
                 id="trigger-bad-cron"),
    pytest.param("name: f\ntasks: [{name: a, type: util.noop}]\ntriggers:\n"
                 "  - name: nightly\n    type: schedule\n    config: {cron: '0 3 * * *', timezone: Mars/Base}\n",
                 6, 43, "triggers[0].config.timezone", "unknown time zone 'Mars/Base'",
                 id="trigger-bad-timezone"),
    pytest.param("name: f\ntasks: [{name: a, type: util.noop}]\ntriggers:\n"
                 "  - {name: t, type: webhook, enabled: 'no'}\n", 4, 39, "triggers[0].enabled",
                 "enabled must be true or false, got a string", id="trigger-enabled"),
    pytest.param("name: f\ntasks: [{name: a, type: util.noop}]\ntriggers:\n"
                 "  - {name: t, type: webhook, config: [1]}\n", 4, 38, "triggers[0].config",
                 "config must be a mapping, got a list", id="trigger-config"),
    pytest.param(_task("type: util.noop"), 3, 5, "tasks[0].name",
                 "missing required key 'name'", id="task-name-missing"),
    pytest.param(_task("name: 1st\ntype: util.noop"), 3, 11, "tasks[0].name",
                 "invalid task name '1st'", id="task-name-pattern"),
    pytest.param(_task("name: a\ntype: util.log\nproperties: {message: hi}\ntimout: 5s"), 6, 5,
                 "tasks[0].timout", "unknown key 'timout' (did you mean 'timeout'?)",
                 id="unknown-task-key"),
    pytest.param(_task("name: a\ntype: util.log"), 3, 5,
                 "tasks[0].properties.message", "missing required property 'message'",
                 id="missing-properties-key"),
    pytest.param(_task("name: a\ntype: util.lgo"), 4, 11, "tasks[0].type",
                 "unknown task type 'util.lgo' (did you mean 'util.log'?)", id="unknown-type"),
    pytest.param(_task("name: a\ntype: [util.log]"), 4, 11, "tasks[0].type",
                 "type must be a string, got a list", id="type-not-string"),
    pytest.param(_task("name: a\ntype: util.noop\nproperties: [1]"), 5, 17, "tasks[0].properties",
                 "properties must be a mapping, got a list", id="properties-not-mapping"),
    pytest.param(_task("name: a\ntype: http.request\nproperties:\n  url: x\n  timeout: fast"),
                 7, 16, "tasks[0].properties.timeout", "'fast' is not of type 'number'",
                 id="property-type"),
    pytest.param(_task("name: a\ntype: http.request\nproperties: {url: x, headers: {A: 1}}"),
                 5, 39, "tasks[0].properties.headers.A", "1 is not of type 'string'",
                 id="nested-property-type"),
    pytest.param(_task("name: a\ntype: http.request\nproperties:\n  url: x\n  methd: GET"),
                 7, 7, "tasks[0].properties.methd", "unknown property 'methd' (did you mean "
                 "'method'?)", id="unknown-property"),
    pytest.param(_task("name: a\ntype: http.request\nproperties:\n  url: x\n  urll: '{{ x }}'"),
                 7, 7, "tasks[0].properties.urll", "unknown property 'urll'",
                 id="unknown-property-with-expression"),
    pytest.param(_task("name: a\ntype: http.request\nproperties:\n  method: GET"), 5, 5,
                 "tasks[0].properties.url", "missing required property 'url'",
                 id="missing-property"),
    pytest.param(_task("name: a\ntype: util.log\nproperties: {message: m, level: loud}"), 5, 37,
                 "tasks[0].properties.level", "'loud' is not one of", id="property-enum"),
    pytest.param(_task("name: a\ntype: util.noop\nwhen: 3"), 5, 11, "tasks[0].when",
                 "when must be a boolean or an expression, got a number", id="when-type"),
    pytest.param(_task("name: a\ntype: util.noop\nallow_failure: 'yes'"), 5, 20,
                 "tasks[0].allow_failure", "allow_failure must be true or false, got a string",
                 id="allow-failure"),
    pytest.param(_task("name: a\ntype: util.noop\nretry: {max_attempts: 0}"), 5, 27,
                 "tasks[0].retry.max_attempts", "max_attempts must be between 1 and 100, got 0",
                 id="retry-attempts"),
    pytest.param(_task("name: a\ntype: util.noop\nretry: {delay: 1s}"), 5, 12,
                 "tasks[0].retry.max_attempts", "missing required key 'max_attempts'",
                 id="retry-attempts-missing"),
    pytest.param(_task("name: a\ntype: util.noop\nretry: {max_attempts: 2, backoff: linear}"),
                 5, 39, "tasks[0].retry.backoff", "backoff must be one of constant, exponential",
                 id="retry-backoff"),
    pytest.param(_task("name: a\ntype: util.noop\nretry: {max_attempts: 2, delay: 1m, "
                       "max_delay: 10s}"), 5, 52, "tasks[0].retry.max_delay",
                 "max_delay must not be shorter than delay", id="retry-max-delay"),
    pytest.param(_task("name: a\ntype: util.noop\nretry: {max_attempts: 2, dealy: 1s}"), 5, 30,
                 "tasks[0].retry.dealy", "unknown key 'dealy' (did you mean 'delay'?)",
                 id="retry-unknown-key"),
    pytest.param(_task("name: a\ntype: util.noop\ntimeout: 0s"), 5, 14, "tasks[0].timeout",
                 "timeout must be longer than zero", id="task-timeout-zero"),
    pytest.param(_task("name: a\ntype: util.noop\ntimeout: 5 minutes"), 5, 14, "tasks[0].timeout",
                 "invalid duration '5 minutes'", id="task-timeout-invalid"),
    pytest.param("name: f\ntasks:\n  - {name: a, type: util.noop}\n"
                 "  - {name: b, type: util.noop, depends_on: [a]}\n", 4, 32, "tasks[1].depends_on",
                 "depends_on is only allowed on tasks directly inside flow.dag",
                 id="depends-on-outside-dag"),
    pytest.param("name: f\ntasks:\n  - name: a\n    type: util.noop\n  - name: b\n"
                 "    type: util.noop\n    timeout: 1s\n    name: c\n", 8, 5, "tasks[1].name",
                 "duplicate key 'name' (first given at line 5)", id="duplicate-task-key"),
    pytest.param("name: f\ntasks:\n  - {name: a, type: util.noop}\n"
                 "  - {name: a, type: util.noop}\n", 4, 12, "tasks[1].name",
                 "duplicate task name 'a': tasks[0] (line 3) has it already", id="duplicate-task-name"),
    pytest.param("name: f\ntasks:\n  - name: a\n    type: util.log\n"
                 "    properties: {message: '{{ foo( }}'}\n", 5, 27,
                 "tasks[0].properties.message", "invalid expression: unexpected '}'",
                 id="expression-syntax"),
    pytest.param("name: f\ntasks:\n  - {name: fetch, type: util.noop}\n  - name: b\n"
                 "    type: util.log\n    properties: {message: '{{ outputs.fetc.body }}'}\n",
                 6, 27, "tasks[1].properties.message",
                 "outputs.fetc refers to no task of this flow (did you mean 'fetch'?)",
                 id="unknown-output-attribute"),
    pytest.param("name: f\ntasks:\n  - name: b\n    type: util.log\n"
                 "    properties: {message: \"{{ outputs['x'] }}\"}\n", 5, 27,
                 "tasks[0].properties.message", "outputs.x refers to no task of this flow",
                 id="unknown-output-item"),
    pytest.param("name: f\ntasks:\n  - name: b\n    type: util.noop\n"
                 "    when: '{{ outputs.nope.ok }}'\n", 5, 11, "tasks[0].when",
                 "outputs.nope refers to no task", id="unknown-output-in-when"),
]


@pytest.mark.parametrize(("text", "line", "column", "path", "message"), ERROR_CASES)
def test_each_error_names_its_line_column_and_path(
    registry: PluginRegistry, text: str, line: int, column: int, path: str, message: str,
) -> None:
    [error] = _errors(text, registry)
    assert (error.line, error.column, error.path) == (line, column, path), error
    assert message in error.message


def test_a_property_written_beside_properties_gets_a_hint(registry: PluginRegistry) -> None:
    errors = _errors(_task("name: a\ntype: util.log\nproperties: {}\nmessage: hi"), registry)
    assert [(e.line, e.column, e.path, e.message) for e in errors] == [
        (5, 5, "tasks[0].properties.message", "missing required property 'message'"),
        (6, 5, "tasks[0].message",
         "unknown key 'message' (util.log takes 'message' under 'properties:')"),
    ]


NESTED = _yaml("""
    name: nested
    tasks:
      - name: fan
        type: flow.parallel
        properties:
          tasks:
            - {name: one, type: util.noop}
            - {name: two, type: util.nope}
      - name: pick
        type: flow.switch
        properties:
          value: x
          cases:
            a:
              - {name: three, type: util.noop, when: 7}
            "b c": "not tasks"
      - name: plan
        type: flow.dag
        properties:
          tasks:
            - {name: d1, type: util.noop, depends_on: [d3]}
            - {name: d2, type: util.noop, depends_on: [d1, one, ghost]}
            - {name: d3, type: util.noop, depends_on: [d2]}
            - {name: d4, type: util.noop, depends_on: [d4]}
      - name: empty
        type: flow.parallel
        properties: {tasks: []}
      - name: lacking
        type: flow.foreach
        properties: {items: [1]}
      - name: flat
        type: flow.parallel
        properties: {tasks: one}
    finally:
      - {name: one, type: util.noop}
""")


def test_nested_tasks_are_validated_where_they_are(registry: PluginRegistry) -> None:
    errors = _errors(NESTED, registry)
    assert [(e.line, e.column, e.path, e.message) for e in errors] == [
        (8, 29, "tasks[0].properties.tasks[1].type",
         "unknown task type 'util.nope' (did you mean 'util.noop'?)"),
        (15, 50, "tasks[1].properties.cases.a[0].when",
         "when must be a boolean or an expression, got a number"),
        (16, 16, 'tasks[1].properties.cases["b c"]', "expected a list of tasks, got a string"),
        (21, 51, "tasks[2].properties.tasks[0].depends_on",
         "dependency cycle: d1 -> d3 -> d2 -> d1 (each task depends on the next)"),
        (22, 56, "tasks[2].properties.tasks[1].depends_on[1]",
         "depends_on names unknown task 'one' (it is not a sibling in this list)"),
        (22, 61, "tasks[2].properties.tasks[1].depends_on[2]",
         "depends_on names unknown task 'ghost'"),
        (24, 52, "tasks[2].properties.tasks[3].depends_on[0]", "task 'd4' depends on itself"),
        (27, 25, "tasks[3].properties.tasks", "[] should be non-empty"),
        (30, 5, "tasks[4].properties.tasks", "missing required property 'tasks'"),
        (33, 25, "tasks[5].properties.tasks", "expected a list of tasks, got a string"),
        (35, 12, "finally[0].name",
         "duplicate task name 'one': tasks[0].properties.tasks[0] (line 7) has it already; "
         "task names are unique in a flow, nested ones included"),
    ]


def test_expressions_stand_in_for_typed_values(registry: PluginRegistry) -> None:
    flow = parse_flow(_task("""
        name: call
        type: http.request
        properties:
          url: https://example.test
          method: "{{ inputs.method }}"
          timeout: "{{ inputs.timeout }}"
          retries: "${RETRIES}"
          headers: "{{ vars.headers }}"
    """), registry)
    assert flow.tasks[0].properties["retries"] == "${RETRIES}"


def test_outputs_may_name_tasks_declared_later_or_nested(registry: PluginRegistry) -> None:
    parse_flow(_yaml("""
        name: refs
        tasks:
          - name: early
            type: util.log
            properties: {message: "{{ outputs.late.x }} {{ outputs['inner'] }}"}
          - name: late
            type: flow.parallel
            properties: {tasks: [{name: inner, type: util.noop}]}
    """), registry)


def test_independent_errors_are_all_reported_in_line_order(registry: PluginRegistry) -> None:
    text = "name: f\ntasks:\n  - {name: a, type: util.noop, retry: {max_attempts: 0}}\n" \
           "  - {name: b, type: util.log}\nconcurrency: {limit: 0}\n"
    errors = _errors(text, registry)
    assert [(e.line, e.path) for e in errors] == [
        (3, "tasks[0].retry.max_attempts"),
        (4, "tasks[1].properties.message"),
        (5, "concurrency.limit"),
    ]
    with pytest.raises(FlowInvalid) as raised:
        parse_flow(text, registry)
    assert raised.value.errors == errors
    assert "line 5, column 22: concurrency.limit: limit must be at least 1" in str(raised.value)


def test_the_report_is_the_api_shape(registry: PluginRegistry) -> None:
    good = validate_flow(FULL_EXAMPLE, registry)
    assert good.to_json() == {"valid": True, "errors": [], "tasksTotal": 5}
    bad = validate_flow("name: f\ntasks:\n  - {name: a, type: util.nope}\n", registry)
    assert bad.to_json() == {"valid": False, "tasksTotal": 1, "errors": [{
        "line": 3, "column": 21, "path": "tasks[0].type",
        "message": "unknown task type 'util.nope' (did you mean 'util.noop'?)"}]}


def test_an_empty_registry_checks_shape_but_not_types() -> None:
    unknown = _yaml("""
        name: f
        tasks:
          - {name: a, type: custom.thing, properties: {anything: 1}}
          - {name: b, type: util.log, properties: {message: "{{ outputs.nested_in_a }}"}}
    """)
    assert parse_flow(unknown, PluginRegistry()).tasks[0].properties == {"anything": 1}
    errors = _errors(unknown.replace("name: a", "name: 9a").replace("}}\"}", "\"}"),
                     PluginRegistry())
    assert [(e.line, e.column, e.path) for e in errors] == [
        (3, 12, "tasks[0].name"), (4, 53, "tasks[1].properties.message")]


def test_anchors_and_merge_keys_work_within_limits(registry: PluginRegistry) -> None:
    flow = parse_flow(_yaml("""
        name: shared
        variables:
          headers: &headers {Accept: application/json, X-Team: ops}
        tasks:
          - name: a
            type: http.request
            properties: {url: x, headers: {<<: *headers, X-Team: core}}
          - name: b
            type: http.request
            properties: {url: y, headers: *headers}
    """), registry)
    assert flow.tasks[0].properties["headers"] == {"Accept": "application/json", "X-Team": "core"}
    assert flow.tasks[1].properties["headers"] == {"Accept": "application/json", "X-Team": "ops"}


BILLION_LAUGHS = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f"{name}: &{name} [{', '.join([f'*{prev}'] * 9)}]\n"
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True))


@pytest.mark.parametrize(("text", "line", "message"), [
    pytest.param(BILLION_LAUGHS, 5, "aliases expand to more than", id="billion-laughs"),
    pytest.param("[" * 10_000 + "]" * 10_000, 1, "nest", id="deep-flow-nesting"),
    pytest.param("".join(" " * level + "- \n" for level in range(200)), 65, "nests deeper "
                 "than 64 levels", id="deep-block-nesting"),
    pytest.param("name: " + "x" * MAX_BYTES, 1, f"the limit is {MAX_BYTES} bytes", id="huge"),
])
def test_documents_built_to_exhaust_the_server_are_refused(
    registry: PluginRegistry, text: str, line: int, message: str,
) -> None:
    [error] = _errors(text, registry)
    assert error.line == line
    assert message in error.message


def test_too_many_tasks_are_refused(registry: PluginRegistry) -> None:
    text = "name: big\ntasks:\n" + "".join(
        f"  - {{name: t{i}, type: util.noop}}\n" for i in range(MAX_TASKS + 1))
    [error] = _errors(text, registry)
    assert (error.line, error.path) == (MAX_TASKS + 3, f"tasks[{MAX_TASKS}]")
    assert error.message == f"a flow may declare at most {MAX_TASKS} tasks"


@pytest.mark.parametrize(("data", "line", "column"), [
    pytest.param(b"name: caf\xe9\ntasks: []\n", 1, 10, id="latin-1"),
    pytest.param(b"name: f\ntasks:\n  - {name: \xc3\xa9\xff}\n", 3, 13, id="after-multibyte"),
])
def test_bytes_that_are_not_utf8_are_refused_where_they_break(
    registry: PluginRegistry, data: bytes, line: int, column: int,
) -> None:
    [error] = _errors(data, registry)
    assert (error.line, error.column, error.path) == (line, column, "")
    assert "not UTF-8" in error.message


def test_utf8_bytes_with_a_byte_order_mark_parse(registry: PluginRegistry) -> None:
    text = "name: cafe\ntasks: [{name: a, type: util.log, properties: {message: é}}]\n"
    flow = parse_flow(b"\xef\xbb\xbf" + text.encode(), registry)
    assert (flow.name, flow.tasks[0].properties["message"]) == ("cafe", "é")


INPUTS_FLOW = _yaml("""
    name: with-inputs
    inputs:
      - {name: customer_id, type: integer, required: true}
      - {name: ratio, type: number, default: 0.5}
      - {name: dry_run, type: boolean, default: false}
      - {name: tags, type: array}
      - {name: options, type: object}
      - {name: note, type: string, default: none}
    tasks: [{name: a, type: util.noop}]
""")


@pytest.mark.parametrize(("given", "expected"), [
    pytest.param({"customer_id": 7}, {"customer_id": 7, "ratio": 0.5, "dry_run": False,
                                      "tags": None, "options": None, "note": "none"},
                 id="defaults-filled"),
    pytest.param({"customer_id": 7, "ratio": 2, "dry_run": True, "tags": [1], "options": {},
                  "note": None},
                 {"customer_id": 7, "ratio": 2, "dry_run": True, "tags": [1], "options": {},
                  "note": "none"}, id="number-takes-int-and-null-means-default"),
])
def test_check_inputs_fills_what_is_missing(
    registry: PluginRegistry, given: dict[str, Any], expected: dict[str, Any],
) -> None:
    assert check_inputs(parse_flow(INPUTS_FLOW, registry), given) == expected


@pytest.mark.parametrize(("given", "errors"), [
    pytest.param(None, [{"path": "inputs.customer_id", "message": "required input is missing"}],
                 id="required-missing"),
    pytest.param({"customer_id": True},
                 [{"path": "inputs.customer_id", "message": "expected an integer, got a boolean"}],
                 id="bool-is-not-integer"),
    pytest.param({"customer_id": 1.5},
                 [{"path": "inputs.customer_id", "message": "expected an integer, got a number"}],
                 id="float-is-not-integer"),
    pytest.param({"customer_id": 1, "ratio": False, "tags": "a", "options": [], "note": 3}, [
        {"path": "inputs.ratio", "message": "expected a number, got a boolean"},
        {"path": "inputs.tags", "message": "expected an array, got a string"},
        {"path": "inputs.options", "message": "expected an object, got a list"},
        {"path": "inputs.note", "message": "expected a string, got a number"},
    ], id="each-type"),
    pytest.param({"customer_id": 1, "customer": 2},
                 [{"path": "inputs.customer",
                   "message": "unknown input (did you mean 'customer_id'?)"}], id="unknown-name"),
])
def test_check_inputs_refuses_what_does_not_match(
    registry: PluginRegistry, given: dict[str, Any] | None, errors: list[dict[str, str]],
) -> None:
    with pytest.raises(InputsInvalid) as raised:
        check_inputs(parse_flow(INPUTS_FLOW, registry), given)
    assert raised.value.errors == errors
