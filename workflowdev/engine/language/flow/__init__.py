"""The flow language: parse a YAML flow into typed structures, and say precisely what is wrong.

One validator serves `POST /flows/validate`, flow create and update, `workflowdev validate FILE`
and the executor, so all of them agree on what a valid flow is (FLOWS.md). Validation never stops
at the first problem: an operator fixing a file wants every error, each with its line, column and
path, in one pass.

The work is split in two walks over the plain data that `yaml_source` produced: the first checks
the shape and builds `Task`s while collecting every task name and every expression; the second
parses the expressions, because `outputs.<task>` may name a task declared further down.

The package, by job: `model` (the structures and errors), `reader` (the document and the entry
points), `tasks` (task declarations and their expressions), `graph` (`depends_on`), `fields`
(one field's type and range), `inputs` (what an execution is given), `messages` (shared words).
"""

from __future__ import annotations

from workflowdev.engine.language.flow.inputs import InputsInvalid
from workflowdev.engine.language.flow.inputs import check_inputs
from workflowdev.engine.language.flow.model import Concurrency
from workflowdev.engine.language.flow.model import Flow
from workflowdev.engine.language.flow.model import FlowError
from workflowdev.engine.language.flow.model import FlowInvalid
from workflowdev.engine.language.flow.model import InputSpec
from workflowdev.engine.language.flow.model import RetryPolicy
from workflowdev.engine.language.flow.model import Task
from workflowdev.engine.language.flow.model import TaskList
from workflowdev.engine.language.flow.model import TriggerSpec
from workflowdev.engine.language.flow.model import ValidationReport
from workflowdev.engine.language.flow.reader import parse_flow
from workflowdev.engine.language.flow.reader import validate_flow
from workflowdev.engine.language.flow.tasks import MAX_TASKS

__all__ = [
    "MAX_TASKS",
    "Concurrency",
    "Flow",
    "FlowError",
    "FlowInvalid",
    "InputSpec",
    "InputsInvalid",
    "RetryPolicy",
    "Task",
    "TaskList",
    "TriggerSpec",
    "ValidationReport",
    "check_inputs",
    "parse_flow",
    "validate_flow",
]
