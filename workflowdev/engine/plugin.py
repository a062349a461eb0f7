"""The plugin contract: what every task type implements, and the registry that finds them.

A task type is a class with a `manifest` (what it is, what it takes, what it returns) and an
`async run(ctx, properties) -> outputs`. Plugins see this module and nothing else of the engine:
everything they may touch at run time comes through the `TaskContext` they are handed.

Control-flow tasks (`flow.*`) are *runner-level*: the runner itself walks their children, so
they declare which properties hold nested task lists (`task_lists`) and are never `run`.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any
from typing import ClassVar
from typing import Literal
from typing import Protocol
from typing import runtime_checkable

from workflowdev.engine.durations import DURATION_PATTERN
from workflowdev.engine.durations import parse_duration
from workflowdev.store.statuses import ExecutionStatus  # noqa: F401 - part of the plugin contract

__all__ = [
    "CONDITION_SCHEMA",
    "DURATION_SCHEMA",
    "DURATION_TEXT_SCHEMA",
    "JSON",
    "KVAccess",
    "ExecutionResources",
    "Manifest",
    "Plugin",
    "PluginRegistry",
    "PluginSettings",
    "RunnerLevelPlugin",
    "TaskContext",
    "TaskFailed",
    "TaskListShape",
    "TaskTimeout",
    "TaskLogger",
    "UnknownPlugin",
    "as_condition",
    "as_text",
    "parse_duration",
    "parse_timeout",
]

log = logging.getLogger(__name__)

JSON = Any
TaskListShape = Literal["list", "map"]
"""`list`: the property is a list of tasks; `map`: a mapping whose values are task lists."""


DURATION_TEXT_SCHEMA: dict[str, JSON] = {"type": "string", "pattern": DURATION_PATTERN}
DURATION_SCHEMA: dict[str, JSON] = {"anyOf": [DURATION_TEXT_SCHEMA, {"type": "number", "minimum": 0}]}
"""A duration as flows write it: 500ms, 30s, 10m, 2h, 1d, PT30S, or a number of seconds."""

CONDITION_SCHEMA: dict[str, JSON] = {
    "anyOf": [
        {"type": "boolean"},
        {"type": "string", "pattern": r"^\s*([Tt][Rr][Uu][Ee]|[Ff][Aa][Ll][Ss][Ee])\s*$"},
    ]
}
"""A boolean, or the words true/false in any case: an expression inside longer text renders to
text, so the words are accepted; anything else is refused rather than guessed at."""


@dataclass(frozen=True, slots=True)
class TaskTimeout:
    """A `timeout` property: seconds, and the text as the flow wrote it for messages."""

    seconds: float
    text: str


def parse_timeout(value: JSON, name: str = "timeout") -> TaskTimeout:
    """Read a positive duration property called `name`, or fail the task saying what is wrong
    with it; the text is kept so that a later "timed out after …" quotes the flow's own words."""
    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        raise TaskFailed(f"{name}: {exc}") from None
    if seconds <= 0:
        raise TaskFailed(f"{name} must be longer than zero")
    return TaskTimeout(seconds, value.strip() if isinstance(value, str) else f"{value:g}s")


def as_text(value: JSON) -> str:
    """Strings as they are; anything else as compact JSON, the way an operator would read it."""
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


def as_condition(value: JSON) -> bool:
    """Read a condition under CONDITION_SCHEMA's rules, or fail the task saying why."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise TaskFailed(f"condition must be true or false, got {as_text(value)}")


@dataclass(frozen=True, slots=True)
class Manifest:
    """The public description of a task type, served by `/api/v1/plugins` and used to validate."""

    id: str
    name: str
    category: str
    description: str
    input_schema: Mapping[str, JSON]
    output_schema: Mapping[str, JSON]
    examples: tuple[str, ...] = ()

    def to_json(self) -> dict[str, JSON]:
        return {
            "id": self.id,
            "name": self.name,
            "category": self.category,
            "description": self.description,
            "inputSchema": dict(self.input_schema),
            "outputSchema": dict(self.output_schema),
            "examples": list(self.examples),
        }


class TaskFailed(Exception):
    """Raised by a plugin to fail its task with a message meant for the operator.

    Any other exception fails the task too, but its message is prefixed with the exception's
    type because it is probably a bug rather than a verdict.
    """


class TaskLogger(Protocol):
    def debug(self, message: str) -> None: ...
    def info(self, message: str) -> None: ...
    def warning(self, message: str) -> None: ...
    def error(self, message: str) -> None: ...


class KVAccess(Protocol):
    """The key-value store as a flow sees it; `namespace=None` means the flow's own namespace."""

    async def get(self, key: str, namespace: str | None = None) -> tuple[bool, JSON]: ...
    async def set(
        self, key: str, value: JSON, namespace: str | None = None, ttl: float | None = None
    ) -> None: ...
    async def delete(self, key: str, namespace: str | None = None) -> bool: ...
    async def list(self, namespace: str | None = None, prefix: str = "") -> list[str]: ...
    async def increment(self, key: str, by: float = 1, namespace: str | None = None) -> float: ...


@dataclass(frozen=True)
class PluginSettings:
    """The operator's settings that task types obey (from workflowdev's Settings)."""

    scripts_enabled: bool = True
    """False on servers that must not run arbitrary code: script.* tasks fail at once."""
    files_root: Path | None = None
    """Where file.* and archive.* may work; None means the execution's working directory."""
    http_max_response_bytes: int = 10 * 1024 * 1024
    """A response body larger than this fails the task instead of filling memory."""
    http_allow: tuple[str, ...] = ()
    """CIDR ranges http.* may reach even though they are blocked by default (link-local, metadata)."""
    http_deny: tuple[str, ...] = ()
    """CIDR ranges http.* must never reach, on top of the default ones (private ranges, say)."""


class ExecutionResources(Protocol):
    """Things a plugin keeps for the rest of an execution (an HTTP session, a connection pool).

    `get(key, factory, close)` returns the object stored under `key`, creating it with
    `factory()` the first time; `close(obj)` is awaited when the execution stops running here.
    """

    async def get(
        self, key: str, factory: Callable[[], Any], close: Callable[[Any], Awaitable[None]]
    ) -> Any: ...


@runtime_checkable
class TaskContext(Protocol):
    """What a running task may know and use. The runner builds one per task attempt."""

    execution_id: str
    flow_name: str
    namespace: str
    task_name: str
    attempt: int
    iteration: int | None
    idempotency_key: str
    """The same for every attempt of this task in this execution (retries, resumes, execution
    retries), different for any other task or loop iteration: send it with a side effect so
    the receiver can drop a repeat."""
    workdir: Path
    log: TaskLogger
    kv: KVAccess
    cancelled: asyncio.Event
    settings: PluginSettings
    resources: ExecutionResources


class Plugin:
    """Base class of every task type. Subclasses set `manifest` and implement `run`."""

    manifest: ClassVar[Manifest]
    runner_level: ClassVar[bool] = False
    task_lists: ClassVar[Mapping[str, TaskListShape]] = {}
    children_have_dependencies: ClassVar[bool] = False
    """True for `flow.dag`: its children may name siblings in `depends_on`."""

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        raise NotImplementedError(f"{type(self).__name__} does not implement run()")


class RunnerLevelPlugin(Plugin):
    """A control-flow task the runner interprets itself (children, gates, waits)."""

    runner_level: ClassVar[bool] = True


class UnknownPlugin(KeyError):
    pass


@dataclass
class PluginRegistry:
    """Task types by id. Built-ins first, then the `workflowdev.plugins` entry-point group."""

    _plugins: dict[str, type[Plugin]] = field(default_factory=dict)
    _category_descriptions: dict[str, str] = field(default_factory=dict)

    def describe_category(self, name: str, description: str) -> None:
        self._category_descriptions[name] = description

    def categories(self) -> list[tuple[str, str, int]]:
        """(name, description, number of task types), by name."""
        counts: dict[str, int] = {}
        for plugin in self._plugins.values():
            counts[plugin.manifest.category] = counts.get(plugin.manifest.category, 0) + 1
        return [(name, self._category_descriptions.get(name, ""), counts[name]) for name in sorted(counts)]

    def register(self, plugin: type[Plugin]) -> type[Plugin]:
        manifest = getattr(plugin, "manifest", None)
        if not isinstance(manifest, Manifest):
            raise TypeError(f"{plugin!r} has no Manifest")
        if manifest.id in self._plugins and self._plugins[manifest.id] is not plugin:
            raise ValueError(f"plugin id {manifest.id!r} is registered twice")
        self._plugins[manifest.id] = plugin
        return plugin

    def register_all(self, plugins: Iterable[type[Plugin]]) -> None:
        for plugin in plugins:
            self.register(plugin)

    def get(self, plugin_id: str) -> type[Plugin]:
        try:
            return self._plugins[plugin_id]
        except KeyError:
            raise UnknownPlugin(plugin_id) from None

    def __contains__(self, plugin_id: object) -> bool:
        return plugin_id in self._plugins

    def __len__(self) -> int:
        return len(self._plugins)

    def ids(self) -> list[str]:
        return sorted(self._plugins)

    def manifests(self) -> list[Manifest]:
        return [self._plugins[i].manifest for i in self.ids()]

    def load_entry_points(self, group: str = "workflowdev.plugins") -> None:
        """Register third-party task types; one broken package must not stop the server."""
        for ep in entry_points(group=group):
            try:
                loaded = ep.load()
                self.register_all(loaded if isinstance(loaded, (list, tuple)) else [loaded])
            except Exception:  # noqa: BLE001 - a plugin package is outside our control
                log.exception("could not load plugin entry point %s", ep.name)
