"""The flow test file: which flow, and per test its inputs, mocks and expectations.

```yaml
flow: ../flows/order-sync.yaml        # a flow file, relative to this file,
                                       # or {namespace: shop, name: order-sync}: a stored flow (--server)
tests:
  - name: two orders are synced
    inputs: {customer_id: 7}
    mocks:                             # by task name: the plugin does not run
      fetch: {outputs: {status_code: 200, body: [{id: 1}, {id: 2}]}}
      notify: {error: "smtp is down"}  # or the task fails with this message
    expect:
      status: SUCCESS                  # the execution's final status
      tasks:
        each_order: {status: SUCCESS, outputs: {count: 2}}   # outputs: the keys given must match
        save[1]: {outputs: {key: order-2}}                    # one iteration of a loop
        notify: {that: "{{ status == 'FAILED' }}"}            # an expression on the run
```

The file is checked against a JSON Schema, so a typo (`expects:`) is an error naming its place,
not a test that silently expects nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from workflowdev.engine.run.mocks import TaskMock
from workflowdev.store.statuses import ExecutionStatus
from workflowdev.store.statuses import TaskStatus

EXECUTION_STATUSES = [status.value for status in ExecutionStatus]
TASK_STATUSES = [status.value for status in TaskStatus]
MAX_TESTS = 1_000
"""Tests in one file at most."""

_EXPECT_TASK = {
    "type": "object",
    "additionalProperties": False,
    "properties": {"status": {"enum": TASK_STATUSES}, "outputs": {"type": "object"}, "that": {"type": "string"}},
}
SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["flow", "tests"],
    "properties": {
        "flow": {
            "oneOf": [
                {"type": "string", "minLength": 1},
                {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["namespace", "name"],
                    "properties": {"namespace": {"type": "string"}, "name": {"type": "string"}},
                },
            ]
        },
        "tests": {
            "type": "array",
            "minItems": 1,
            "maxItems": MAX_TESTS,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["name"],
                "properties": {
                    "name": {"type": "string", "minLength": 1},
                    "inputs": {"type": "object"},
                    "mocks": {
                        "type": "object",
                        "additionalProperties": {
                            "type": "object",
                            "additionalProperties": False,
                            "properties": {"outputs": {"type": "object"}, "error": {"type": "string"}},
                        },
                    },
                    "expect": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {
                            "status": {"enum": EXECUTION_STATUSES},
                            "outputs": {"type": "object"},
                            "tasks": {"type": "object", "additionalProperties": _EXPECT_TASK},
                        },
                    },
                },
            },
        },
    },
}


class SpecError(Exception):
    """The test file cannot be used; the message names the file and the place."""


@dataclass(frozen=True)
class Expected:
    status: str | None = None
    outputs: dict[str, Any] | None = None
    that: str | None = None


@dataclass(frozen=True)
class FlowTest:
    name: str
    inputs: dict[str, Any] = field(default_factory=dict)
    mocks: dict[str, TaskMock] = field(default_factory=dict)
    status: str | None = None
    outputs: dict[str, Any] | None = None
    tasks: dict[str, Expected] = field(default_factory=dict)
    """By task name, or `name[i]` for one iteration of a loop."""


@dataclass(frozen=True)
class TestFile:
    path: Path
    flow_file: Path | None
    stored_flow: tuple[str, str] | None
    """(namespace, name) of a flow read from a server instead of a file."""
    tests: tuple[FlowTest, ...]


def load(path: Path) -> TestFile:
    try:
        document = yaml.safe_load(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"{path}: cannot read it: {exc}") from None
    except yaml.YAMLError as exc:
        raise SpecError(f"{path}: not YAML: {exc}") from None
    problem = next(iter(sorted(jsonschema.Draft202012Validator(SCHEMA).iter_errors(document), key=str)), None)
    if problem is not None:
        where = "/".join(str(part) for part in problem.absolute_path) or "the top"
        raise SpecError(f"{path}: at {where}: {problem.message}")
    flow = document["flow"]
    return TestFile(
        path=path,
        flow_file=(path.parent / flow) if isinstance(flow, str) else None,
        stored_flow=(flow["namespace"], flow["name"]) if isinstance(flow, dict) else None,
        tests=tuple(_test(entry) for entry in document["tests"]),
    )


def _test(entry: dict[str, Any]) -> FlowTest:
    expect = entry.get("expect") or {}
    return FlowTest(
        name=entry["name"],
        inputs=entry.get("inputs") or {},
        mocks={name: TaskMock(mock.get("outputs"), mock.get("error")) for name, mock in (entry.get("mocks") or {}).items()},
        status=expect.get("status"),
        outputs=expect.get("outputs"),
        tasks={name: Expected(**wanted) for name, wanted in (expect.get("tasks") or {}).items()},
    )


def dump(file: dict[str, Any]) -> str:
    """A test file's YAML, keys in the order written (a recorded test reads top to bottom)."""
    return yaml.safe_dump(file, sort_keys=False, allow_unicode=True, width=100)
