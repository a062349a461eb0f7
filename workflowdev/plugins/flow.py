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

from typing import ClassVar, Final

from workflowdev.engine.plugin import (
    CONDITION_SCHEMA,
    DURATION_SCHEMA,
    DURATION_TEXT_SCHEMA,
    JSON,
    ExecutionStatus,
    Manifest,
    Plugin,
    RunnerLevelPlugin,
    TaskListShape,
)

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

# Children are checked by the flow validator against their own plugins, so the schema only
# says "a list of task objects".
_TASK_LIST: Final[dict[str, JSON]] = {"type": "array", "items": {"type": "object"}}

_CONCURRENCY: Final[dict[str, JSON]] = {"type": "integer", "minimum": 1}

_NO_OUTPUTS: Final[dict[str, JSON]] = {
    "type": "object",
    "properties": {},
    "additionalProperties": False,
}

DEFAULT_FOREACH_CONCURRENCY: Final = 1
DEFAULT_SUBFLOW_WAIT: Final = True
DEFAULT_WAIT_INTERVAL: Final = "5s"
MIN_WAIT_INTERVAL_SECONDS: Final = 1.0


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
        input_schema={
            "type": "object",
            "properties": {
                "tasks": {**_TASK_LIST, "description": "The child tasks, run in order."},
            },
            "required": ["tasks"],
            "additionalProperties": False,
        },
        output_schema=_NO_OUTPUTS,
        examples=(
            "- name: prepare\n"
            "  type: flow.sequential\n"
            "  properties:\n"
            "    tasks:\n"
            "      - name: announce\n"
            "        type: util.log\n"
            "        properties: {message: preparing}\n"
            "      - name: settle\n"
            "        type: util.sleep\n"
            "        properties: {duration: 1s}\n",
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
        input_schema={
            "type": "object",
            "properties": {
                "tasks": {**_TASK_LIST, "description": "The child tasks, run concurrently."},
                "concurrency": {
                    **_CONCURRENCY,
                    "description": "How many children may run at once; unset means all.",
                },
            },
            "required": ["tasks"],
            "additionalProperties": False,
        },
        output_schema=_NO_OUTPUTS,
        examples=(
            "- name: warm_caches\n"
            "  type: flow.parallel\n"
            "  properties:\n"
            "    concurrency: 2\n"
            "    tasks:\n"
            "      - name: warm_eu\n"
            "        type: util.log\n"
            "        properties: {message: warming eu}\n"
            "      - name: warm_us\n"
            "        type: util.log\n"
            "        properties: {message: warming us}\n"
            "      - name: warm_ap\n"
            "        type: util.log\n"
            "        properties: {message: warming ap}\n",
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
        input_schema={
            "type": "object",
            "properties": {
                "tasks": {
                    **_TASK_LIST,
                    "description": "The child tasks; each may list sibling names in depends_on.",
                },
                "concurrency": {
                    **_CONCURRENCY,
                    "description": "How many children may run at once; unset means no limit.",
                },
            },
            "required": ["tasks"],
            "additionalProperties": False,
        },
        output_schema=_NO_OUTPUTS,
        examples=(
            "- name: build\n"
            "  type: flow.dag\n"
            "  properties:\n"
            "    concurrency: 4\n"
            "    tasks:\n"
            "      - name: extract\n"
            "        type: util.log\n"
            "        properties: {message: extracting}\n"
            "      - name: transform_a\n"
            "        type: util.log\n"
            "        depends_on: [extract]\n"
            "        properties: {message: transforming a}\n"
            "      - name: transform_b\n"
            "        type: util.log\n"
            "        depends_on: [extract]\n"
            "        properties: {message: transforming b}\n"
            "      - name: load\n"
            "        type: util.noop\n"
            "        depends_on: [transform_a, transform_b]\n",
        ),
    )


class If(RunnerLevelPlugin):
    """Run `then` when `condition` is true, otherwise `else` (when given).

    Runner: `condition` is rendered with the task's properties; it must be a boolean or the
    text true/false in any case — anything else fails the task (no Python truthiness, so the
    string "False" never counts as true). The chosen list runs like flow.sequential; the tasks
    of the other list are recorded SKIPPED so the execution's task count stays whole.
    Outputs: `{branch: "then" | "else"}` — "else" also when there is no `else` list.
    """

    task_lists: ClassVar[dict[str, TaskListShape]] = {"then": "list", "else": "list"}
    manifest: ClassVar[Manifest] = Manifest(
        id="flow.if",
        name="If / else",
        category="flow",
        description=(
            "Runs the `then` tasks when `condition` is true, otherwise the `else` tasks. The "
            "condition must be a boolean (or the text true/false); any other value fails the "
            "task. The output `branch` says which side ran."
        ),
        input_schema={
            "type": "object",
            "properties": {
                "condition": {
                    **CONDITION_SCHEMA,
                    "description": "Which branch to run; a boolean, or the text true/false.",
                },
                "then": {**_TASK_LIST, "description": "Tasks run when the condition is true."},
                "else": {**_TASK_LIST, "description": "Tasks run when the condition is false."},
            },
            "required": ["condition", "then"],
            "additionalProperties": False,
        },
        output_schema={
            "type": "object",
            "properties": {
                "branch": {
                    "type": "string",
                    "enum": ["then", "else"],
                    "description": "The branch taken (else also when no else tasks are given).",
                },
            },
            "required": ["branch"],
            "additionalProperties": False,
        },
        examples=(
            "- name: report_on_schedule\n"
            "  type: flow.if\n"
            "  properties:\n"
            "    condition: \"{{ trigger.type == 'schedule' }}\"\n"
            "    then:\n"
            "      - name: send_report\n"
            "        type: util.log\n"
            "        properties: {message: sending the daily report}\n"
            "    else:\n"
            "      - name: manual_note\n"
            "        type: util.log\n"
            "        properties: {message: \"started by hand: no report\"}\n",
        ),
    )


class Switch(RunnerLevelPlugin):
    """Run the task list of the case matching `value`, or `default` when none matches.

    Runner: `value` is rendered with the task's properties and must be a scalar (an object or a
    list fails the task). Matching is on text: a string as it is, any other scalar as its JSON
    text (1 → "1", true → "true", null → "null"), against the case keys normalised the same way
    (YAML loads an unquoted key `1:` as a number and `true:` or `yes:` as a boolean, so they
    become "1" and "true"; quote a key to keep it as text). The matched list (or `default`)
    runs like flow.sequential; every other case's tasks are recorded SKIPPED. No match and no
    default: success, nothing runs.
    Outputs: `{case: <matched key> | null}` — null when no case matched (default or nothing ran).
    """

    task_lists: ClassVar[dict[str, TaskListShape]] = {"cases": "map", "default": "list"}
    manifest: ClassVar[Manifest] = Manifest(
        id="flow.switch",
        name="Switch",
        category="flow",
        description=(
            "Runs the tasks of the case whose key equals `value` (compared as text), or the "
            "`default` tasks when no case matches. The output `case` names the case that ran."
        ),
        input_schema={
            "type": "object",
            "properties": {
                "value": {
                    "type": ["string", "number", "boolean", "null"],
                    "description": "The value to match against the case keys, compared as text.",
                },
                "cases": {
                    "type": "object",
                    "additionalProperties": _TASK_LIST,
                    "description": "A mapping of case value to the tasks run for that value.",
                },
                "default": {**_TASK_LIST, "description": "Tasks run when no case matches."},
            },
            "required": ["value", "cases"],
            "additionalProperties": False,
        },
        output_schema={
            "type": "object",
            "properties": {
                "case": {
                    "type": ["string", "null"],
                    "description": "The matching case key, or null when none matched.",
                },
            },
            "required": ["case"],
            "additionalProperties": False,
        },
        examples=(
            "- name: by_trigger\n"
            "  type: flow.switch\n"
            "  properties:\n"
            "    value: \"{{ trigger.type }}\"\n"
            "    cases:\n"
            "      schedule:\n"
            "        - name: nightly_run\n"
            "          type: util.log\n"
            "          properties: {message: nightly run}\n"
            "      webhook:\n"
            "        - name: on_push\n"
            "          type: util.log\n"
            "          properties: {message: \"pushed: {{ trigger.body }}\"}\n"
            "    default:\n"
            "      - name: by_hand\n"
            "        type: util.log\n"
            "        properties: {message: \"started by hand ({{ trigger.type }})\"}\n",
        ),
    )


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
        input_schema={
            "type": "object",
            "properties": {
                "items": {
                    "type": "array",
                    "description": "The elements to iterate over; usually an expression.",
                },
                "concurrency": {
                    **_CONCURRENCY,
                    "default": DEFAULT_FOREACH_CONCURRENCY,
                    "description": "How many iterations may run at once.",
                },
                "tasks": {**_TASK_LIST, "description": "The child tasks run for each item."},
            },
            "required": ["items", "tasks"],
            "additionalProperties": False,
        },
        output_schema={
            "type": "object",
            "properties": {
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
            "required": ["count", "failed"],
            "additionalProperties": False,
        },
        examples=(
            "- name: each_order\n"
            "  type: flow.foreach\n"
            "  properties:\n"
            "    items: [{id: 101, total: 12.5}, {id: 102, total: 80}, {id: 103, total: 7}]\n"
            "    concurrency: 4\n"
            "    tasks:\n"
            "      - name: show_order\n"
            "        type: util.log\n"
            "        properties: {message: \"order {{ index }}: {{ item.id }} ({{ item.total }})\"}\n",
            "- name: greet_everyone\n"
            "  type: flow.foreach\n"
            "  properties:\n"
            "    items: [ada, grace, linus]\n"
            "    tasks:\n"
            "      - name: greet\n"
            "        type: util.log\n"
            "        properties: {message: \"hello {{ item }}\"}\n",
        ),
    )


class Subflow(RunnerLevelPlugin):
    """Start an execution of another flow, and by default wait for it and take its outputs.

    Runner: look up (`namespace`, default: this execution's namespace; `flow`) at its current
    revision — not found fails the task. `inputs` are checked against the child flow's declared
    inputs like an API call (a mismatch fails the task with those errors); `labels` are set on
    the child execution. The child's trigger is `{type: "subflow", executionId, taskName}` of
    the parent. Refuse a chain of nested subflows deeper than a configured limit, so a flow that
    calls itself fails cleanly instead of flooding the queue.
    - `wait: false`: succeed as soon as the child is queued: `{execution_id, status: "QUEUED"}`.
    - `wait: true` (default): the task is WAITING until the child is terminal (park it like a
      gate if possible rather than holding a coroutine). Child SUCCESS → task SUCCESS with
      `{execution_id, status: "SUCCESS", outputs}`, where `outputs` maps each child task name
      to its outputs — the same `outputs` the child flow's own expressions saw when it ended.
      Child FAILED, CANCELLED or TIMED_OUT → the task fails with a message naming the child
      execution id, its status and its error. Cancelling the parent task cancels the child.
    """

    manifest: ClassVar[Manifest] = Manifest(
        id="flow.subflow",
        name="Run a subflow",
        category="flow",
        description=(
            "Starts an execution of another flow with the given inputs. By default waits for it "
            "to finish: success gives its execution id and the outputs of its tasks, by task "
            "name; any other end fails this task. With `wait: false` it only queues the child."
        ),
        input_schema={
            "type": "object",
            "properties": {
                "namespace": {
                    "type": "string",
                    "minLength": 1,
                    "description": "The child flow's namespace; defaults to this flow's.",
                },
                "flow": {
                    "type": "string",
                    "pattern": r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
                    "description": "The child flow's name.",
                },
                "inputs": {
                    "type": "object",
                    "default": {},
                    "description": "Inputs of the child execution, checked against its flow.",
                },
                "wait": {
                    "type": "boolean",
                    "default": DEFAULT_SUBFLOW_WAIT,
                    "description": "Wait for the child to finish and take its outputs.",
                },
                "labels": {
                    "type": "object",
                    "additionalProperties": {"type": "string"},
                    "description": "Labels set on the child execution.",
                },
            },
            "required": ["flow"],
            "additionalProperties": False,
        },
        output_schema={
            "type": "object",
            "properties": {
                "execution_id": {
                    "type": "string",
                    "description": "The child execution's id.",
                },
                "status": {
                    "type": "string",
                    "enum": [ExecutionStatus.QUEUED.value, ExecutionStatus.SUCCESS.value],
                    "description": "QUEUED without wait; SUCCESS when waited for.",
                },
                "outputs": {
                    "type": "object",
                    "additionalProperties": True,
                    "description": "When waited for: each child task's outputs, by task name.",
                },
            },
            "required": ["execution_id", "status"],
            "if": {"properties": {"status": {"const": ExecutionStatus.SUCCESS.value}}},
            "then": {"required": ["outputs"]},
            "else": {"not": {"required": ["outputs"]}},
            "additionalProperties": False,
        },
        examples=(
            "- name: invoice\n"
            "  type: flow.subflow\n"
            "  properties:\n"
            "    namespace: billing\n"
            "    flow: create-invoice\n"
            "    inputs: {customer_id: 42, currency: EUR}\n"
            "    labels: {caller: order-sync}\n",
            "- name: kick_off_report\n"
            "  type: flow.subflow\n"
            "  properties:\n"
            "    flow: nightly-report\n"
            "    wait: false\n",
        ),
    )


class Approval(RunnerLevelPlugin):
    """A gate: pause the execution until a person approves or rejects it.

    Runner (API.md, "Approvals"): write an approval row (PENDING, `message`, `context`,
    `expiresAt` = now + `timeout` when given), set the task WAITING and the execution PAUSED,
    and release the execution without holding a coroutine or a lease. Approve → the execution
    is re-queued and the task succeeds with `{approved: true, decidedBy, comment}`. Reject →
    the task fails with "rejected by <user>: <comment>". No decision before `timeout` → the
    approval becomes EXPIRED and the task TIMED_OUT. Without `timeout` the gate waits for as
    long as it takes. Its `retry` policy is not applied: a rejection is a decision, not a
    transient error (an execution retry does ask again).
    """

    manifest: ClassVar[Manifest] = Manifest(
        id="flow.approval",
        name="Approval gate",
        category="flow",
        description=(
            "Pauses the execution until someone approves or rejects it (API, console or CLI). "
            "Approval lets the flow go on; rejection fails the task; with a `timeout`, a gate "
            "nobody decides in time expires and the task times out."
        ),
        input_schema={
            "type": "object",
            "properties": {
                "message": {
                    "type": "string",
                    "minLength": 1,
                    "description": "The question shown to the approver.",
                },
                "timeout": {
                    **DURATION_SCHEMA,
                    "description": "How long to wait for a decision; unset waits indefinitely.",
                },
                "context": {
                    "type": "object",
                    "description": "Facts shown to the approver beside the message.",
                },
            },
            "required": ["message"],
            "additionalProperties": False,
        },
        output_schema={
            "type": "object",
            "properties": {
                "approved": {
                    "type": "boolean",
                    "const": True,
                    "description": "Always true: a rejection fails the task instead.",
                },
                "decidedBy": {"type": "string", "description": "Who approved."},
                "comment": {
                    "type": ["string", "null"],
                    "description": "The approver's comment, if any.",
                },
            },
            "required": ["approved", "decidedBy", "comment"],
            "additionalProperties": False,
        },
        examples=(
            "- name: gate\n"
            "  type: flow.approval\n"
            "  properties:\n"
            "    message: \"Deploy {{ flow.name }} to production?\"\n"
            "    timeout: 1h\n"
            "    context: {target: production}\n",
        ),
    )


class Fail(RunnerLevelPlugin):
    """Fail the task on purpose with `message`.

    Runner: end the task FAILED with `message` as its error, without calling anything, and
    without applying its `retry` policy (the outcome is deliberate, another attempt cannot
    change it). `allow_failure`, `errors` and `finally` apply as for any failed task.
    It never succeeds, so it has no outputs.
    """

    manifest: ClassVar[Manifest] = Manifest(
        id="flow.fail",
        name="Fail",
        category="flow",
        description=(
            "Fails the task, and so the execution unless it allows failure, with the given "
            "message. Use it in a branch that must not be reached."
        ),
        input_schema={
            "type": "object",
            "properties": {
                "message": {
                    "type": "string",
                    "minLength": 1,
                    "description": "The error the task fails with.",
                },
            },
            "required": ["message"],
            "additionalProperties": False,
        },
        output_schema=_NO_OUTPUTS,
        examples=(
            "- name: refuse_manual_runs\n"
            "  type: flow.fail\n"
            "  when: \"{{ trigger.type != 'schedule' }}\"\n"
            "  properties:\n"
            "    message: only the nightly schedule may start this flow\n",
        ),
    )


class WaitUntil(RunnerLevelPlugin):
    """Poll `condition` every `interval` until it is true, or fail after `timeout`.

    Runner: `condition` is NOT rendered with the other properties: the runner keeps the raw
    expression and renders it afresh at each poll (first poll at once), so `kv(...)`, `now()`
    and outputs are re-read every time. Each result must be a boolean or the text true/false —
    anything else, or an expression error, fails the task at once. True → SUCCESS with
    `{polls, waited_ms}`. `timeout` reached first → the task ends TIMED_OUT. An `interval`
    shorter than one second fails the task (it would hammer whatever the condition reads).
    Between polls the task is WAITING; the wait is cancellable.
    """

    manifest: ClassVar[Manifest] = Manifest(
        id="flow.wait_until",
        name="Wait until",
        category="flow",
        description=(
            "Re-evaluates `condition` every `interval` until it is true, then succeeds; times "
            "out after `timeout`. The condition is an expression evaluated afresh at each poll "
            "(for example a key in the key-value store)."
        ),
        input_schema={
            "type": "object",
            "properties": {
                "condition": {
                    **CONDITION_SCHEMA,
                    "description": "An expression re-evaluated at each poll until true.",
                },
                "interval": {
                    "anyOf": [
                        DURATION_TEXT_SCHEMA,
                        {"type": "number", "minimum": MIN_WAIT_INTERVAL_SECONDS},
                    ],
                    "default": DEFAULT_WAIT_INTERVAL,
                    "description": "Time between polls; at least 1s.",
                },
                "timeout": {
                    **DURATION_SCHEMA,
                    "description": "How long to wait for the condition before timing out.",
                },
            },
            "required": ["condition", "timeout"],
            "additionalProperties": False,
        },
        output_schema={
            "type": "object",
            "properties": {
                "polls": {
                    "type": "integer",
                    "minimum": 1,
                    "description": "How many times the condition was evaluated.",
                },
                "waited_ms": {
                    "type": "integer",
                    "minimum": 0,
                    "description": "Milliseconds from the first poll until the condition held.",
                },
            },
            "required": ["polls", "waited_ms"],
            "additionalProperties": False,
        },
        examples=(
            "- name: wait_for_maintenance_end\n"
            "  type: flow.wait_until\n"
            "  properties:\n"
            "    condition: \"{{ kv('maintenance') is none }}\"\n"
            "    interval: 5s\n"
            "    timeout: 10m\n",
        ),
    )


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
