"""flow.approval, flow.fail and flow.wait_until: an execution paused for a person, stopped on
purpose, or held until a condition holds.
"""

from __future__ import annotations

from typing import ClassVar

from workflowdev.engine.plugin import CONDITION_SCHEMA
from workflowdev.engine.plugin import DURATION_SCHEMA
from workflowdev.engine.plugin import DURATION_TEXT_SCHEMA
from workflowdev.engine.plugin import Manifest
from workflowdev.engine.plugin import RunnerLevelPlugin
from workflowdev.plugins._toolkit import object_schema
from workflowdev.plugins._toolkit import task_example
from workflowdev.plugins.flow._common import DEFAULT_WAIT_INTERVAL
from workflowdev.plugins.flow._common import MIN_WAIT_INTERVAL_SECONDS
from workflowdev.plugins.flow._common import NO_OUTPUTS


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
        input_schema=object_schema(
            {
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
            ["message"],
        ),
        output_schema=object_schema(
            {
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
            ["approved", "decidedBy", "comment"],
        ),
        examples=(
            task_example(
                "gate",
                "flow.approval",
                """
                message: "Deploy {{ flow.name }} to production?"
                timeout: 1h
                context: {target: production}
                """,
            ),
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
        input_schema=object_schema(
            {
                "message": {
                    "type": "string",
                    "minLength": 1,
                    "description": "The error the task fails with.",
                },
            },
            ["message"],
        ),
        output_schema=NO_OUTPUTS,
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
        input_schema=object_schema(
            {
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
            ["condition", "timeout"],
        ),
        output_schema=object_schema(
            {
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
            ["polls", "waited_ms"],
        ),
        examples=(
            task_example(
                "wait_for_maintenance_end",
                "flow.wait_until",
                """
                condition: "{{ kv('maintenance') is none }}"
                interval: 5s
                timeout: 10m
                """,
            ),
        ),
    )
