"""flow.foreach: the same child tasks for every item of a list, a bounded number at a time."""

from __future__ import annotations

from typing import ClassVar

from workflowdev.engine.plugin import Manifest
from workflowdev.engine.plugin import RunnerLevelPlugin
from workflowdev.engine.plugin import TaskListShape
from workflowdev.plugins._toolkit import object_schema
from workflowdev.plugins._toolkit import task_example
from workflowdev.plugins.flow._common import CONCURRENCY
from workflowdev.plugins.flow._common import DEFAULT_FOREACH_CONCURRENCY
from workflowdev.plugins.flow._common import TASK_LIST


class Foreach(RunnerLevelPlugin):
    """Run `tasks` once per element of `items`, up to `concurrency` iterations at once.

    Runner: `items` is rendered with the task's properties and must be a list (anything else
    fails the task) of at most the server's `max_foreach_items` elements (100,000 unless the
    operator set otherwise; a longer list fails the task before any iteration). Iteration `index` (0-based) runs the children like flow.sequential with
    `item` and `index` in scope; each child run carries `iteration = index` (in nested loops,
    the innermost index; `parentId` tells the levels apart). Inside an iteration,
    `outputs.<sibling>` is that iteration's output; after the loop, `outputs.<child>` is the
    list of its outputs ordered by index (null where it did not run). Iterations start in index
    order, at most `concurrency` at once (default 1, i.e. one after another). Fail fast: when an
    iteration fails, start no more, cancel the running ones, and fail naming the index.
    An empty list succeeds with count 0.
    Outputs: `{count, failed}` — iterations run, and how many of them had a child that failed
    under `allow_failure` (always 0 otherwise, since such a failure ends the loop).
    """

    task_lists: ClassVar[dict[str, TaskListShape]] = {"tasks": "list"}
    manifest: ClassVar[Manifest] = Manifest(
        id="flow.foreach",
        name="For each",
        category="flow",
        description=(
            "Runs its child tasks once per element of `items`, with `item` and `index` in "
            "scope, at most `concurrency` iterations at once. After the loop, "
            "`outputs.<child>` is the list of that child's outputs, one per iteration."
        ),
        input_schema=object_schema(
            {
                "items": {
                    "type": "array",
                    "description": "The elements to iterate over; usually an expression.",
                },
                "concurrency": {
                    **CONCURRENCY,
                    "default": DEFAULT_FOREACH_CONCURRENCY,
                    "description": "How many iterations may run at once.",
                },
                "tasks": {**TASK_LIST, "description": "The child tasks run for each item."},
            },
            ["items", "tasks"],
        ),
        output_schema=object_schema(
            {
                "count": {
                    "type": "integer",
                    "minimum": 0,
                    "description": "Number of iterations run (the number of items).",
                },
                "failed": {
                    "type": "integer",
                    "minimum": 0,
                    "description": "Iterations in which a child failed under allow_failure.",
                },
            },
            ["count", "failed"],
        ),
        examples=(
            task_example(
                "each_order",
                "flow.foreach",
                """
                items: [{id: 101, total: 12.5}, {id: 102, total: 80}, {id: 103, total: 7}]
                concurrency: 4
                tasks:
                  - name: show_order
                    type: util.log
                    properties: {message: "order {{ index }}: {{ item.id }} ({{ item.total }})"}
                """,
            ),
            task_example(
                "greet_everyone",
                "flow.foreach",
                """
                items: [ada, grace, linus]
                tasks:
                  - name: greet
                    type: util.log
                    properties: {message: "hello {{ item }}"}
                """,
            ),
        ),
    )
