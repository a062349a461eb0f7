"""The lifecycle rule book: every move not declared is refused, and no module spells a status."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import workflowdev
from workflowdev.engine.run.lifecycle import EXECUTION_RULES
from workflowdev.engine.run.lifecycle import TASK_RULES
from workflowdev.engine.run.lifecycle import ExecutionStatus
from workflowdev.engine.run.lifecycle import IllegalTransition
from workflowdev.engine.run.lifecycle import TaskStatus
from workflowdev.engine.run.lifecycle import contracts_table
from workflowdev.engine.run.lifecycle import execution_move
from workflowdev.engine.run.lifecycle import execution_updated
from workflowdev.engine.run.lifecycle import expect
from workflowdev.engine.run.lifecycle import task_move

PACKAGE = Path(workflowdev.__file__).parent
ALLOWED_TO_SPELL = {PACKAGE / "engine" / "run" / "lifecycle.py", PACKAGE / "store" / "statuses.py"}
STATUS_NAMES = {s.value for s in ExecutionStatus} | {s.value for s in TaskStatus}


def _forbidden(statuses: type[ExecutionStatus] | type[TaskStatus], rules: tuple) -> list[tuple[str | None, str]]:
    allowed = {pair for rule in rules for pair in rule.pairs()}
    return [(s, t) for s in [None, *statuses] for t in statuses if (s, t) not in allowed]


@pytest.mark.parametrize(("source", "target"), _forbidden(ExecutionStatus, EXECUTION_RULES), ids=str)
def test_a_forbidden_execution_move_is_refused(source: str | None, target: str) -> None:
    with pytest.raises(IllegalTransition, match=f"to {target}"):
        execution_move(source, target)
    if source is not None:
        with pytest.raises(IllegalTransition):
            expect(target, source)


@pytest.mark.parametrize(("source", "target"), _forbidden(TaskStatus, TASK_RULES), ids=str)
def test_a_forbidden_task_move_is_refused(source: str | None, target: str) -> None:
    with pytest.raises(IllegalTransition, match=f"to {target}"):
        task_move(source, target)


def test_each_move_is_declared_once_and_allowed() -> None:
    for rules, check in ((EXECUTION_RULES, execution_move), (TASK_RULES, task_move)):
        pairs = [pair for rule in rules for pair in rule.pairs()]
        assert len(pairs) == len(set(pairs))
        assert all(check(*pair) is rule for rule in rules for pair in rule.pairs())


def test_a_success_is_final_and_only_failures_retry() -> None:
    pairs = {pair for rule in EXECUTION_RULES for pair in rule.pairs()}
    assert not [p for p in pairs if p[0] == ExecutionStatus.SUCCESS]
    assert {s for s, t in pairs if t == ExecutionStatus.QUEUED} == {
        None, ExecutionStatus.PAUSED, ExecutionStatus.FAILED, ExecutionStatus.CANCELLED, ExecutionStatus.TIMED_OUT
    }


def test_the_update_event_is_built_one_way() -> None:
    event = execution_updated("e1", ExecutionStatus.PAUSED, tasks_executed=3, flowId="f")
    assert event.data == {"id": "e1", "status": "PAUSED", "tasksExecuted": 3, "flowId": "f"}
    assert type(event.data["status"]) is str


def test_contracts_md_carries_the_table_of_the_code() -> None:
    assert contracts_table() in (PACKAGE / "engine" / "CONTRACTS.md").read_text()


def test_no_module_outside_the_rule_book_spells_a_status() -> None:
    """The console is left out: it sees only the API, whose answers carry the names."""
    spelled = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path in ALLOWED_TO_SPELL or (PACKAGE / "tui") in path.parents:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and node.value in STATUS_NAMES:
                spelled.append(f"{path.relative_to(PACKAGE)}:{node.lineno}: {node.value}")
    assert spelled == []
