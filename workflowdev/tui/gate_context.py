"""What surrounds a gate: the task runs that finished before it opened, and the tasks still to come.

A person deciding a gate should see what they are letting through, so the approval prompt shows
both sides. "Before" comes from the execution's task runs; "after" from the flow's declared tasks
(`flow_outline`), because tasks that have not run yet have no runs. The prompt must never fail
over a flow shape it did not expect, so a surprise gives None ("unknown").
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from workflowdev.tui.flow_outline import Planned
from workflowdev.tui.flow_outline import outline
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
    declared = [task for task in outline(yaml_content or "") if task.section == "tasks"]
    following = _after(declared, gate_name)
    return None if following is None else [(task.name, task.type) for task in following]


def _after(tasks: Sequence[Planned], gate_name: str) -> list[Planned] | None:
    """The tasks after the gate within `tasks` (nested ones first, then this level), or None."""
    for index, task in enumerate(tasks):
        later = list(tasks[index + 1 :])
        if task.name == gate_name:
            return later
        found = _after(task.children, gate_name)
        if found is not None:
            return found + later
    return None
