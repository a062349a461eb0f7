"""The tasks a flow declares, for the console's views of what has not run yet.

The API gives the flow's source, not a plan, so the console reads the YAML itself and keeps only
names, types and nesting: the execution tree shows declared tasks before they run, and a gate's
prompt lists what it lets through. Containers are known by their keys (`tasks`, `then`, `else`,
`cases`, `default` under a `flow.*` task's properties); a `flow.foreach` body is its children
too, though each iteration runs it again.

The reading is loose on purpose: a source that does not parse, or a shape it does not expect,
gives fewer tasks (an empty outline at worst), never an error, so no view fails over a flow.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

CHILD_LISTS = ("tasks", "then", "else", "cases", "default")
"""Properties of a `flow.*` container that hold its tasks: a list, or for `cases` a map of lists."""
SECTIONS = ("tasks", "errors", "finally")
"""The flow's own task lists, in the order the engine runs them."""
MAX_PLANNED = 2_000
"""Tasks outlined at most: a flow bigger than that shows the rest as they start."""


@dataclass(frozen=True)
class Planned:
    """One declared task: `path` is its place in the tree (`/deploy/smoke`), as runs are keyed."""

    path: str
    name: str
    type: str
    section: str
    """`tasks`, `errors` (runs only when a task fails) or `finally`."""
    children: tuple[Planned, ...] = ()


def outline(source: str) -> tuple[Planned, ...]:
    """The declared tasks of a flow's YAML, nested; empty when the source is not a flow."""
    import yaml  # only once an execution is opened: the console's first screen does without it

    try:
        document = yaml.safe_load(source)
    except yaml.YAMLError:
        return ()
    if not isinstance(document, dict):
        return ()
    budget = [MAX_PLANNED]
    planned: list[Planned] = []
    for section in SECTIONS:
        planned.extend(_tasks(document.get(section), "", section, budget))
    return tuple(planned)


def _tasks(value: Any, parent: str, section: str, budget: list[int]) -> list[Planned]:
    if not isinstance(value, list):
        return []
    planned: list[Planned] = []
    for entry in value:
        if budget[0] <= 0:
            break
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            continue
        budget[0] -= 1
        path = f"{parent}/{entry['name']}"
        kind = str(entry.get("type") or "")
        planned.append(Planned(path, entry["name"], kind, section, tuple(_children(entry, kind, path, section, budget))))
    return planned


def _children(entry: dict[str, Any], kind: str, path: str, section: str, budget: list[int]) -> list[Planned]:
    properties = entry.get("properties")
    if not kind.startswith("flow.") or not isinstance(properties, dict):
        return []
    children: list[Planned] = []
    for key in CHILD_LISTS:
        value = properties.get(key)
        for tasks in value.values() if key == "cases" and isinstance(value, dict) else (value,):
            children.extend(_tasks(tasks, path, section, budget))
    return children
