"""flow: the control tasks — sequences, branches, loops, graphs, subflows, gates and waits.

These are runner-level plugins: they have no `run()`. The runner interprets them itself, because
they schedule child tasks, park the execution or poll, which only the runner can do with its
leases and records. Each class here is the manifest, the shape (`task_lists`) and, in its
docstring, the semantics the runner implements.

Rules common to every container (a task with `task_lists`):

- Its own properties are rendered when it starts, like any task's, EXCEPT the task-list
  properties: children are not rendered with the parent; each child renders its own properties
  when it starts, so it sees its earlier siblings' outputs (and `item`/`index` in a foreach).
- Every child is a task run of its own, with `parentId` set to the container's run. Task names
  are unique across the whole flow, so `outputs.<child>` works from anywhere after it ran.
- A child that fails without `allow_failure` fails the container with a message naming the
  child; a child that fails with `allow_failure: true` does not. A child whose `when` is false is
  SKIPPED and counts as done.
- Cancelling or timing out the container (its `timeout`, the execution's cancel or timeout)
  cancels its running children, which end CANCELLED; children never started are not run.
- `when: false` on the container skips it and, without evaluating them, its whole subtree.
- `retry` on a container re-runs it after a failure the way execution retry does: children that
  already succeeded keep their outputs and are not run again.
"""

from __future__ import annotations

from typing import Final

from workflowdev.engine.plugin import Plugin
from workflowdev.plugins.flow.branches import If
from workflowdev.plugins.flow.branches import Switch
from workflowdev.plugins.flow.gates import Approval
from workflowdev.plugins.flow.gates import Fail
from workflowdev.plugins.flow.gates import WaitUntil
from workflowdev.plugins.flow.groups import Dag
from workflowdev.plugins.flow.groups import Parallel
from workflowdev.plugins.flow.groups import Sequential
from workflowdev.plugins.flow.loops import Foreach
from workflowdev.plugins.flow.subflows import Subflow

__all__ = [
    "PLUGINS",
    "Approval",
    "Dag",
    "Fail",
    "Foreach",
    "If",
    "Parallel",
    "Sequential",
    "Subflow",
    "Switch",
    "WaitUntil",
]

PLUGINS: Final[list[type[Plugin]]] = [
    Sequential,
    Parallel,
    Dag,
    If,
    Switch,
    Foreach,
    Subflow,
    Approval,
    Fail,
    WaitUntil,
]
