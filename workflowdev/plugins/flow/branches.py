"""flow.if and flow.switch: one branch of child tasks chosen by a condition or a value."""

from __future__ import annotations

from typing import ClassVar

from workflowdev.engine.plugin import CONDITION_SCHEMA
from workflowdev.engine.plugin import Manifest
from workflowdev.engine.plugin import RunnerLevelPlugin
from workflowdev.engine.plugin import TaskListShape
from workflowdev.plugins._toolkit import object_schema
from workflowdev.plugins._toolkit import task_example
from workflowdev.plugins.flow._common import TASK_LIST


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
        input_schema=object_schema(
            {
                "condition": {
                    **CONDITION_SCHEMA,
                    "description": "Which branch to run; a boolean, or the text true/false.",
                },
                "then": {**TASK_LIST, "description": "Tasks run when the condition is true."},
                "else": {**TASK_LIST, "description": "Tasks run when the condition is false."},
            },
            ["condition", "then"],
        ),
        output_schema=object_schema(
            {
                "branch": {
                    "type": "string",
                    "enum": ["then", "else"],
                    "description": "The branch taken (else also when no else tasks are given).",
                },
            },
            ["branch"],
        ),
        examples=(
            task_example(
                "report_on_schedule",
                "flow.if",
                """
                condition: "{{ trigger.type == 'schedule' }}"
                then:
                  - name: send_report
                    type: util.log
                    properties: {message: sending the daily report}
                else:
                  - name: manual_note
                    type: util.log
                    properties: {message: "started by hand: no report"}
                """,
            ),
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
        input_schema=object_schema(
            {
                "value": {
                    "type": ["string", "number", "boolean", "null"],
                    "description": "The value to match against the case keys, compared as text.",
                },
                "cases": {
                    "type": "object",
                    "additionalProperties": TASK_LIST,
                    "description": "A mapping of case value to the tasks run for that value.",
                },
                "default": {**TASK_LIST, "description": "Tasks run when no case matches."},
            },
            ["value", "cases"],
        ),
        output_schema=object_schema(
            {
                "case": {
                    "type": ["string", "null"],
                    "description": "The matching case key, or null when none matched.",
                },
            },
            ["case"],
        ),
        examples=(
            task_example(
                "by_trigger",
                "flow.switch",
                """
                value: "{{ trigger.type }}"
                cases:
                  schedule:
                    - name: nightly_run
                      type: util.log
                      properties: {message: nightly run}
                  webhook:
                    - name: on_push
                      type: util.log
                      properties: {message: "pushed: {{ trigger.body }}"}
                default:
                  - name: by_hand
                    type: util.log
                    properties: {message: "started by hand ({{ trigger.type }})"}
                """,
            ),
        ),
    )
