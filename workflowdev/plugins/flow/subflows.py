"""flow.subflow: another flow started as a step of this one, waited for or not."""

from __future__ import annotations

from typing import ClassVar

from workflowdev.engine.plugin import ExecutionStatus
from workflowdev.engine.plugin import Manifest
from workflowdev.engine.plugin import RunnerLevelPlugin
from workflowdev.plugins._toolkit import flag_schema
from workflowdev.plugins._toolkit import object_schema
from workflowdev.plugins._toolkit import task_example
from workflowdev.plugins.flow._common import DEFAULT_SUBFLOW_WAIT


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
        input_schema=object_schema(
            {
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
                "wait": flag_schema(DEFAULT_SUBFLOW_WAIT, "Wait for the child to finish and take its outputs."),
                "labels": {
                    "type": "object",
                    "additionalProperties": {"type": "string"},
                    "description": "Labels set on the child execution.",
                },
            },
            ["flow"],
        ),
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
            task_example(
                "invoice",
                "flow.subflow",
                """
                namespace: billing
                flow: create-invoice
                inputs: {customer_id: 42, currency: EUR}
                labels: {caller: order-sync}
                """,
            ),
            task_example(
                "kick_off_report",
                "flow.subflow",
                """
                flow: nightly-report
                wait: false
                """,
            ),
        ),
    )
