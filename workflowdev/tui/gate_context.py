"""What surrounds a gate: the task runs that finished before it opened, and the tasks still to come.

A person deciding a gate should see what they are letting through, so the approval prompt shows
both sides. "Before" comes from the execution's task runs; "after" is read from the flow's YAML,
because tasks that have not run yet have no runs. The YAML is read loosely (any mapping holding a
`name` and a `type` inside a list is a task, wherever a control-flow task nests it): the prompt
must never fail over a flow shape it did not expect, so a surprise gives None ("unknown").
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import yaml

from workflowdev.tui.formatting import parse_time

Json = dict[str, Any]


def one_line_json(value: Any) -> str:
    """Inputs and context where space is short: `{"version": "1.4.2"}` on one line."""
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


def ran_before(tasks: list[Json], approval: Json) -> list[Json]:
    """Task runs that had finished when the gate opened, in the order they started.

    Measured against the gate's creation rather than "finished now", so a decided gate in the
    history still shows what it was asked after, not what ran once it let the execution go on.
    """
    opened = parse_time(approval.get("createdAt"))
    done = []
    for task in tasks:
        finished = parse_time(task.get("finishedAt"))
        if finished is not None and (opened is None or finished <= opened):
            done.append(task)
    return sorted(done, key=lambda task: task.get("startedAt") or "")


def runs_after(yaml_content: str | None, gate_name: str) -> list[tuple[str, str]] | None:
    """`(name, type)` of the tasks declared after the gate: its later siblings, then its ancestors'.

    None when the YAML cannot be read or the gate is not in it (the flow changed since, say).
    """
    try:
        document = yaml.safe_load(yaml_content or "")
    except yaml.YAMLError:
        return None
    if not isinstance(document, dict):
        return None
    following = _after(document.get("tasks"), gate_name)
    if following is None:
        return None
    return [(str(task.get("name")), str(task.get("type"))) for task in following]


def _after(tasks: Any, gate_name: str) -> list[Json] | None:
    """The tasks after the gate within `tasks` (nested lists first, then this level), or None."""
    if not isinstance(tasks, list):
        return None
    for index, task in enumerate(tasks):
        if not _is_task(task):
            continue
        later = [t for t in tasks[index + 1 :] if _is_task(t)]
        if task["name"] == gate_name:
            return later
        for nested in _task_lists(task.get("properties")):
            found = _after(nested, gate_name)
            if found is not None:
                return found + later
    return None


def _task_lists(properties: Any) -> Iterator[list[Any]]:
    """Lists of tasks a control-flow task holds: `tasks: [...]` or `cases: {key: [...]}` shapes."""
    if not isinstance(properties, dict):
        return
    for value in properties.values():
        candidates = value.values() if isinstance(value, dict) else (value,)
        for candidate in candidates:
            if isinstance(candidate, list) and any(_is_task(item) for item in candidate):
                yield candidate


def _is_task(item: Any) -> bool:
    return isinstance(item, dict) and isinstance(item.get("name"), str) and "type" in item
