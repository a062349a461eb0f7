"""Built-in manifests: valid schemas, examples that validate (and run), honest shapes, the registry.

The manifests are what `/api/v1/plugins` serves and what flow validation checks, so a schema
that accepts a typo or an example that does not validate is a user-facing bug.
"""

from __future__ import annotations

from collections.abc import Iterator
from collections.abc import Mapping
from importlib.metadata import EntryPoint
from typing import ClassVar

import pytest
import yaml
from jsonschema import Draft202012Validator

import workflowdev.engine.plugin as plugin_contract
from workflowdev.engine.plugin import JSON
from workflowdev.engine.plugin import Manifest
from workflowdev.engine.plugin import Plugin
from workflowdev.engine.plugin import RunnerLevelPlugin
from workflowdev.engine.plugin import TaskListShape
from workflowdev.plugins import build_registry
from workflowdev.plugins import builtin_plugins

from .test_util import FakeContext

EXPECTED_IDS = {
    "util.log",
    "util.echo",
    "util.sleep",
    "util.assert",
    "util.noop",
    "util.uuid",
    "util.datetime",
    "util.random",
    "flow.sequential",
    "flow.parallel",
    "flow.dag",
    "flow.if",
    "flow.switch",
    "flow.foreach",
    "flow.subflow",
    "flow.approval",
    "flow.fail",
    "flow.wait_until",
    "kv.get",
    "kv.set",
    "kv.delete",
    "kv.list",
    "kv.increment",
    "crypto.hash",
    "crypto.hmac",
    "crypto.base64",
    "crypto.encrypt",
    "crypto.decrypt",
    "crypto.jwt_sign",
    "http.request",
    "http.download",
    "http.upload",
    "http.graphql",
    "http.check",
    "data.jmespath",
    "data.transform",
    "data.filter",
    "data.sort",
    "data.group_by",
    "data.aggregate",
    "data.csv_parse",
    "data.csv_format",
    "data.json_parse",
    "data.yaml_parse",
    "data.validate",
    "data.template",
    "script.shell",
    "script.python",
    "script.command",
    "file.read",
    "file.write",
    "file.append",
    "file.list",
    "file.delete",
    "file.copy",
    "file.move",
    "file.stat",
    "archive.zip",
    "archive.unzip",
    "archive.tar",
    "archive.untar",
    "notify.slack",
    "notify.discord",
    "notify.teams",
    "notify.telegram",
    "notify.email",
    "notify.webhook",
    "ssh.command",
    "db.query",
    "db.execute",
    "db.insert_rows",
    "db.transaction",
    "redis.get",
    "redis.set",
    "redis.delete",
    "redis.publish",
    "redis.command",
    "nats.publish",
    "nats.request",
    "mqtt.publish",
    "mqtt.receive",
    "amqp.publish",
    "amqp.receive",
}

BUILTINS = builtin_plugins()
REGISTRY = build_registry(entry_points=False)
EXAMPLES = [
    pytest.param(plugin, example, id=f"{plugin.manifest.id}[{number}]")
    for plugin in BUILTINS
    for number, example in enumerate(plugin.manifest.examples)
]
by_id = pytest.mark.parametrize("plugin", BUILTINS, ids=lambda p: p.manifest.id)


def is_expression(value: JSON) -> bool:
    """As flow validation judges it: a Jinja expression or a `${CREDENTIAL}` reference."""
    return isinstance(value, str) and ("{{" in value or "{%" in value or "${" in value)


def schema_errors(
    schema: Mapping[str, JSON], instance: JSON, *, allow_expressions: bool
) -> list[str]:
    """Validation errors, ignoring those on expression strings as flow validation does."""
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    return [
        f"{error.json_path}: {error.message}"
        for error in validator.iter_errors(instance)
        if not (allow_expressions and is_expression(error.instance))
    ]


def task_list_shape(schema: Mapping[str, JSON]) -> TaskListShape | None:
    """Which properties hold child tasks, judged from the schema alone."""

    def is_list(candidate: Mapping[str, JSON]) -> bool:
        return candidate.get("type") == "array" and candidate.get("items") == {"type": "object"}

    if is_list(schema):
        return "list"
    values = schema.get("additionalProperties")
    if schema.get("type") == "object" and isinstance(values, Mapping) and is_list(values):
        return "map"
    return None


def children(plugin: type[Plugin], properties: Mapping[str, JSON]) -> Iterator[dict[str, JSON]]:
    for name, shape in plugin.task_lists.items():
        value = properties.get(name)
        if value is None:
            continue
        for tasks in value.values() if shape == "map" else [value]:
            yield from tasks


def assert_task_validates(task: dict[str, JSON], where: str) -> None:
    """A task and, recursively, its children validate against their plugins' input schemas."""
    assert isinstance(task.get("name"), str), f"{where}: a task needs a name"
    plugin = REGISTRY.get(task["type"])
    properties = task.get("properties", {})
    errors = schema_errors(plugin.manifest.input_schema, properties, allow_expressions=True)
    assert errors == [], f"{where} ({task['name']}): {errors}"
    for child in children(plugin, properties):
        assert_task_validates(child, where)


def parse_example(manifest: Manifest, example: str) -> dict[str, JSON]:
    tasks = yaml.safe_load(example)
    assert isinstance(tasks, list) and len(tasks) == 1, "an example is one YAML list item"
    task = tasks[0]
    assert task["type"] == manifest.id
    return task


def test_the_builtins_are_the_documented_ids_once_each() -> None:
    ids = [plugin.manifest.id for plugin in BUILTINS]
    assert len(ids) == len(set(ids))
    assert set(ids) == EXPECTED_IDS


def test_build_registry_has_exactly_the_builtins() -> None:
    assert set(build_registry().ids()) == EXPECTED_IDS


@by_id
def test_category_is_the_id_prefix(plugin: type[Plugin]) -> None:
    manifest = plugin.manifest
    assert manifest.category in {"util", "flow", "kv", "http", "data", "crypto", "notify", "ssh", "db", "redis", "messaging", "script", "file", "archive"}
    # messaging groups three protocols, each the prefix of its ids (PLUGINS.md's catalogue).
    prefixes = {"nats", "mqtt", "amqp"} if manifest.category == "messaging" else {manifest.category}
    assert manifest.id.split(".", 1)[0] in prefixes
    assert manifest.name and manifest.description


@by_id
def test_schemas_are_valid_draft_2020_12(plugin: type[Plugin]) -> None:
    Draft202012Validator.check_schema(plugin.manifest.input_schema)
    Draft202012Validator.check_schema(plugin.manifest.output_schema)


@by_id
def test_schemas_are_closed_objects_with_described_properties(plugin: type[Plugin]) -> None:
    for schema in (plugin.manifest.input_schema, plugin.manifest.output_schema):
        assert schema["type"] == "object"
        assert schema["additionalProperties"] is False
        assert set(schema.get("required", [])) <= set(schema["properties"])
        for name, prop in schema["properties"].items():
            assert prop.get("description"), f"{name} has no description"


@by_id
def test_a_misspelt_property_is_rejected(plugin: type[Plugin]) -> None:
    task = parse_example(plugin.manifest, plugin.manifest.examples[0])
    properties = {**task.get("properties", {}), "no_such_property": 1}

    errors = schema_errors(plugin.manifest.input_schema, properties, allow_expressions=True)

    assert any("no_such_property" in error for error in errors)


@pytest.mark.parametrize(
    ("plugin_id", "properties"),
    [
        ("util.log", {"message": "hi", "level": "loud"}),
        ("util.log", {"level": "info"}),
        ("util.sleep", {"duration": "5 minutes"}),
        ("util.sleep", {"duration": 90_000}),
        ("util.assert", {"condition": "yes"}),
        ("util.assert", {"condition": True, "message": ["not", "text"]}),
        ("flow.parallel", {"tasks": [], "concurrency": 0}),
        ("flow.parallel", {"tasks": {"name": "not a list"}}),
        ("flow.if", {"condition": 1, "then": []}),
        ("flow.switch", {"value": {"an": "object"}, "cases": {}}),
        ("flow.switch", {"value": "a", "cases": [{"name": "x", "type": "util.noop"}]}),
        ("flow.foreach", {"items": "not a list", "tasks": []}),
        ("flow.subflow", {"flow": "has spaces"}),
        ("flow.subflow", {"flow": "report", "wait": "no"}),
        ("flow.approval", {"message": "ok?", "timeout": "an hour"}),
        ("flow.wait_until", {"condition": True, "interval": 0.1, "timeout": "1m"}),
        ("flow.wait_until", {"condition": True}),
    ],
)
def test_wrong_types_and_missing_properties_are_rejected(
    plugin_id: str, properties: dict[str, JSON]
) -> None:
    schema = REGISTRY.get(plugin_id).manifest.input_schema

    assert schema_errors(schema, properties, allow_expressions=True) != []


@pytest.mark.parametrize(("plugin", "example"), EXAMPLES)
def test_every_example_is_a_task_that_validates(plugin: type[Plugin], example: str) -> None:
    task = parse_example(plugin.manifest, example)

    assert_task_validates(task, f"example of {plugin.manifest.id}")


@by_id
def test_every_plugin_has_an_example(plugin: type[Plugin]) -> None:
    assert plugin.manifest.examples


UTIL_EXAMPLES = [param for param in EXAMPLES if param.values[0].manifest.category == "util"]


@pytest.mark.parametrize(("plugin", "example"), UTIL_EXAMPLES)
async def test_util_examples_run_and_return_what_the_output_schema_says(
    plugin: type[Plugin], example: str
) -> None:
    assert "{{" not in example, "util examples use literal values, so they can run here"
    properties = parse_example(plugin.manifest, example).get("properties", {})

    outputs = await plugin().run(FakeContext(), properties)

    assert schema_errors(plugin.manifest.output_schema, outputs, allow_expressions=False) == []


@by_id
def test_runner_level_exactly_for_flow_tasks(plugin: type[Plugin]) -> None:
    if plugin.manifest.category == "flow":
        assert issubclass(plugin, RunnerLevelPlugin) and plugin.runner_level
        assert "run" not in vars(plugin), "the runner interprets flow tasks; they have no run()"
    else:
        assert not plugin.runner_level
        assert "run" in vars(plugin)


@by_id
def test_task_lists_match_the_task_list_properties(plugin: type[Plugin]) -> None:
    properties = plugin.manifest.input_schema["properties"]
    from_schema = {
        name: shape for name, prop in properties.items() if (shape := task_list_shape(prop))
    }

    assert dict(plugin.task_lists) == from_schema


@by_id
def test_only_the_dag_lets_children_name_dependencies(plugin: type[Plugin]) -> None:
    assert plugin.children_have_dependencies == (plugin.manifest.id == "flow.dag")


class ThirdPartyHello(Plugin):
    manifest: ClassVar[Manifest] = Manifest(
        id="acme.hello",
        name="Hello",
        category="acme",
        description="A third-party task type.",
        input_schema={"type": "object"},
        output_schema={"type": "object"},
    )


class ThirdPartyLog(Plugin):
    manifest: ClassVar[Manifest] = Manifest(
        id="util.log",
        name="Impostor",
        category="util",
        description="Tries to replace a built-in.",
        input_schema={"type": "object"},
        output_schema={"type": "object"},
    )


@pytest.fixture
def installed_plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two installed packages in the entry-point group: a new task type and an impostor."""
    installed = [
        EntryPoint("hello", f"{__name__}:ThirdPartyHello", "workflowdev.plugins"),
        EntryPoint("impostor", f"{__name__}:ThirdPartyLog", "workflowdev.plugins"),
    ]

    def entry_points(*, group: str) -> list[EntryPoint]:
        return [ep for ep in installed if ep.group == group]

    monkeypatch.setattr(plugin_contract, "entry_points", entry_points)


@pytest.mark.usefixtures("installed_plugins")
def test_entry_points_add_task_types_but_cannot_replace_a_builtin() -> None:
    registry = build_registry()

    assert set(registry.ids()) == EXPECTED_IDS | {"acme.hello"}
    assert registry.get("acme.hello") is ThirdPartyHello
    assert registry.get("util.log").manifest.name == "Log a message"


@pytest.mark.usefixtures("installed_plugins")
def test_entry_points_can_be_left_out() -> None:
    assert set(build_registry(entry_points=False).ids()) == EXPECTED_IDS


DURATION_SAMPLES = [
    "500ms", "30s", "10m", "2h", "1d", "1.5h", " 30 s ", "PT30S", "pt0.5s", "P1DT2H", "P2D",
    "30", "5 minutes", "1w", "-1s", "PT", "P", "soon", "",
]


@pytest.mark.parametrize("plugin_id", ["flow.approval", "flow.wait_until"])
@pytest.mark.parametrize("text", DURATION_SAMPLES)
def test_duration_schemas_accept_what_parse_duration_accepts(plugin_id: str, text: str) -> None:
    schema = REGISTRY.get(plugin_id).manifest.input_schema["properties"]["timeout"]
    try:
        plugin_contract.parse_duration(text)
        parses = True
    except ValueError:
        parses = False
    passes_schema = Draft202012Validator(schema).is_valid(text)

    # The bare designators "P" and "PT" slip through the pattern; run time refuses them.
    assert passes_schema == parses or text in {"P", "PT"}


@pytest.mark.parametrize("text", DURATION_SAMPLES)
def test_util_sleep_duration_schema_matches_the_flow_one(text: str) -> None:
    sleep = REGISTRY.get("util.sleep").manifest.input_schema["properties"]["duration"]
    timeout = REGISTRY.get("flow.wait_until").manifest.input_schema["properties"]["timeout"]

    accepted_by_sleep = Draft202012Validator(sleep).is_valid(text)

    assert accepted_by_sleep == Draft202012Validator(timeout).is_valid(text)
