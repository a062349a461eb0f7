"""flow.sequential, flow.parallel and flow.dag: child tasks one after another, side by side, or
in the order of their dependencies.
"""

from __future__ import annotations

from typing import ClassVar

from workflowdev.engine.plugin import Manifest
from workflowdev.engine.plugin import RunnerLevelPlugin
from workflowdev.engine.plugin import TaskListShape
from workflowdev.plugins._toolkit import object_schema
from workflowdev.plugins._toolkit import task_example
from workflowdev.plugins.flow._common import CONCURRENCY
from workflowdev.plugins.flow._common import NO_OUTPUTS
from workflowdev.plugins.flow._common import TASK_LIST


class Sequential(RunnerLevelPlugin):
    """Run `tasks` one after another, in list order — a group inside a branch or a DAG.

    Runner: exactly the order of work of a flow's top-level `tasks`. The first child that fails
    (without `allow_failure`) stops the group: the children after it are not run and the
    container fails. Outputs: `{}`; children's outputs are reached by their own names.
    """

    task_lists: ClassVar[dict[str, TaskListShape]] = {"tasks": "list"}
    manifest: ClassVar[Manifest] = Manifest(
        id="flow.sequential",
        name="Run in sequence",
        category="flow",
        description=(
            "Runs its child tasks one after another, in order. The first child that fails "
            "stops the rest. Use it to group steps inside a branch, a parallel block or a DAG."
        ),
        input_schema=object_schema(
            {
                "tasks": {**TASK_LIST, "description": "The child tasks, run in order."},
            },
            ["tasks"],
        ),
        output_schema=NO_OUTPUTS,
        examples=(
            task_example(
                "prepare",
                "flow.sequential",
                """
                tasks:
                  - name: announce
                    type: util.log
                    properties: {message: preparing}
                  - name: settle
                    type: util.sleep
                    properties: {duration: 1s}
                """,
            ),
        ),
    )


class Parallel(RunnerLevelPlugin):
    """Run `tasks` at the same time, at most `concurrency` at once (default: all of them).

    Runner: start children in list order as slots free up. Fail fast: when a child fails
    (without `allow_failure`), start no more children, cancel the running ones (CANCELLED) and
    fail the container with the first failure's message once they have stopped. Success when
    every child ended SUCCESS, SKIPPED, or FAILED with `allow_failure`. Outputs: `{}`.
    """

    task_lists: ClassVar[dict[str, TaskListShape]] = {"tasks": "list"}
    manifest: ClassVar[Manifest] = Manifest(
        id="flow.parallel",
        name="Run in parallel",
        category="flow",
        description=(
            "Runs its child tasks at the same time, at most `concurrency` at once (all of them "
            "when unset). When one fails, the others are cancelled and the task fails."
        ),
        input_schema=object_schema(
            {
                "tasks": {**TASK_LIST, "description": "The child tasks, run concurrently."},
                "concurrency": {
                    **CONCURRENCY,
                    "description": "How many children may run at once; unset means all.",
                },
            },
            ["tasks"],
        ),
        output_schema=NO_OUTPUTS,
        examples=(
            task_example(
                "warm_caches",
                "flow.parallel",
                """
                concurrency: 2
                tasks:
                  - name: warm_eu
                    type: util.log
                    properties: {message: warming eu}
                  - name: warm_us
                    type: util.log
                    properties: {message: warming us}
                  - name: warm_ap
                    type: util.log
                    properties: {message: warming ap}
                """,
            ),
        ),
    )


class Dag(RunnerLevelPlugin):
    """Run `tasks` as a dependency graph: each child starts as soon as its `depends_on` are done.

    Children (and only the children of a flow.dag) may carry `depends_on: [sibling names]`; the
    validator rejects unknown names, names outside this DAG, and cycles. Runner: a child with no
    `depends_on` is ready at once; a child becomes ready when every dependency ended SUCCESS or
    FAILED with `allow_failure`. If a dependency was SKIPPED (its `when` was false), the
    dependent is SKIPPED too, and so on down the graph: it asked for that work to have happened.
    At most `concurrency` children run at once (default: no limit); ready children start in
    list order. Failure is fail-fast, as in flow.parallel. Outputs: `{}`.
    """

    task_lists: ClassVar[dict[str, TaskListShape]] = {"tasks": "list"}
    children_have_dependencies: ClassVar[bool] = True
    manifest: ClassVar[Manifest] = Manifest(
        id="flow.dag",
        name="Run a dependency graph",
        category="flow",
        description=(
            "Runs its child tasks as a graph: each child names the siblings it needs in "
            "`depends_on` and starts as soon as they have succeeded. Children skipped by `when` "
            "skip their dependents. When one fails, the others are cancelled and the task fails."
        ),
        input_schema=object_schema(
            {
                "tasks": {
                    **TASK_LIST,
                    "description": "The child tasks; each may list sibling names in depends_on.",
                },
                "concurrency": {
                    **CONCURRENCY,
                    "description": "How many children may run at once; unset means no limit.",
                },
            },
            ["tasks"],
        ),
        output_schema=NO_OUTPUTS,
        examples=(
            task_example(
                "build",
                "flow.dag",
                """
                concurrency: 4
                tasks:
                  - name: extract
                    type: util.log
                    properties: {message: extracting}
                  - name: transform_a
                    type: util.log
                    depends_on: [extract]
                    properties: {message: transforming a}
                  - name: transform_b
                    type: util.log
                    depends_on: [extract]
                    properties: {message: transforming b}
                  - name: load
                    type: util.noop
                    depends_on: [transform_a, transform_b]
                """,
            ),
        ),
    )
