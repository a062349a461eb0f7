"""Running flow tests: each test one execution on the real engine, on a throwaway SQLite.

The engine is the one a server runs, so a test sees what production would: the walk, retries,
`when`, loops, handlers, expressions. Only the tasks the test mocks skip their plugin. Tests of
a file run one after another in one engine (mocks are the engine's, by task name).
"""

from __future__ import annotations

import contextlib
import json
import tempfile
import time
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

from workflowdev.engine.errors import DomainError
from workflowdev.engine.events import EXECUTION_UPDATED
from workflowdev.engine.language.expressions import ExpressionError
from workflowdev.engine.language.flow import parse_flow
from workflowdev.engine.node.engine import Engine
from workflowdev.engine.node.engine import EngineSettings
from workflowdev.engine.run.lifecycle import ENDED
from workflowdev.engine.run.lifecycle import ExecutionStatus
from workflowdev.engine.services.actor import Actor
from workflowdev.engine.services.flows import FlowService
from workflowdev.flowtest.spec import Expected
from workflowdev.flowtest.spec import FlowTest
from workflowdev.flowtest.spec import TestFile
from workflowdev.plugins import build_registry
from workflowdev.store.database import Database

TESTER = Actor("flow-test")
TEST_SECONDS = 60.0
"""How long one test's execution may take before it counts as failed (a gate nobody decides)."""
MAX_RUNS = 100_000
"""Task runs read back per test: a bigger loop is compared on its first runs."""
SETTLED = frozenset({*ENDED, ExecutionStatus.PAUSED})


@dataclass
class Outcome:
    """One test's execution and what did not match."""

    test: FlowTest
    status: str | None
    error: str | None
    runs: list[dict[str, Any]]
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return not self.failures


async def run_tests(test_file: TestFile, yaml_content: str) -> list[Outcome]:
    with tempfile.TemporaryDirectory(prefix="workflowdev-test-") as tmp:
        db = Database(f"sqlite:///{Path(tmp) / 'test.db'}")
        await db.migrate()
        registry = build_registry()
        engine = Engine(db, registry, EngineSettings(node_id="flow-test", workdir_root=Path(tmp) / "work", poll_interval=0.2))
        await engine.start()
        try:
            flow = await FlowService(db, registry).create(yaml_content=yaml_content, actor=TESTER)
            declared = {task.name for task in parse_flow(yaml_content, registry).iter_tasks()}
            return [await _run_one(engine, flow.id, declared, test) for test in test_file.tests]
        finally:
            await engine.stop()
            await db.close()


async def _run_one(engine: Engine, flow_id: str, declared: set[str], test: FlowTest) -> Outcome:
    began = time.perf_counter()
    engine.deps.mocks.clear()
    engine.deps.mocks.update(test.mocks)
    subscription = engine.bus.subscribe(types=[EXECUTION_UPDATED])
    try:
        started = await engine.executions.start(flow_id, actor=TESTER, inputs=test.inputs, trigger={"type": "test"})
        execution_id = started["executionId"]
        row = await engine.executions.get_row(execution_id)
        deadline = time.monotonic() + TEST_SECONDS
        while row.status not in SETTLED and time.monotonic() < deadline:
            await subscription.get(timeout=0.2)
            row = await engine.executions.get_row(execution_id)
        if row.status not in SETTLED:  # cancelled while its mocks still stand: no real plugin runs
            with contextlib.suppress(DomainError):  # it may have ended meanwhile
                await engine.executions.cancel(execution_id, actor=TESTER)
                await engine.executions.wait(execution_id)
        runs, _total = await engine.executions.task_runs(execution_id, status=(), task_name=None, limit=MAX_RUNS, offset=0)
    except DomainError as exc:
        details = "; ".join(f"{d.get('path')}: {d.get('message')}" for d in exc.details)
        outcome = Outcome(test, None, exc.message, [], [f"did not start: {exc.message}{' (' + details + ')' if details else ''}"])
        outcome.seconds = time.perf_counter() - began
        return outcome
    finally:
        subscription.close()
        engine.deps.mocks.clear()
    outcome = Outcome(test, row.status, row.error, [_run_json(run) for run in runs])
    outcome.failures = await _compare(engine, test, row, outcome.runs)
    outcome.failures.extend(f"mocks: the flow has no task {name!r}" for name in test.mocks if name not in declared)
    if row.status not in SETTLED:
        outcome.failures.insert(0, f"still {row.status} after {TEST_SECONDS:g} s: cancelled")
    outcome.seconds = time.perf_counter() - began
    return outcome


def _run_json(run: Any) -> dict[str, Any]:
    return {
        "id": run.id, "parentId": run.parent_id, "taskName": run.task_name, "taskType": run.task_type,
        "iteration": run.iteration, "attempt": run.attempt, "status": run.status, "error": run.error,
        "outputs": json.loads(run.outputs) if run.outputs else None,
    }  # fmt: skip


def latest_runs(runs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The last attempt of each task, keyed `name`, or `name[i]` inside loop iteration i."""
    found: dict[str, dict[str, Any]] = {}
    for run in runs:
        key = run["taskName"] if run["iteration"] is None else f"{run['taskName']}[{run['iteration']}]"
        if key not in found or run["attempt"] >= found[key]["attempt"]:
            found[key] = run
    return found


async def _compare(engine: Engine, test: FlowTest, row: Any, runs: list[dict[str, Any]]) -> list[str]:
    failures: list[str] = []
    if test.status is not None and row.status != test.status:
        failures.append(f"status: expected {test.status}, got {row.status}" + (f" ({row.error})" if row.error else ""))
    if test.outputs is not None:
        failures.extend(differences("outputs", test.outputs, row.outputs or {}))
    latest = latest_runs(runs)
    for name, wanted in test.tasks.items():
        chosen = [run for key, run in latest.items() if key == name or key.split("[", 1)[0] == name]
        if not chosen:
            failures.append(f"{name}: did not run")
            continue
        for run in chosen:
            failures.extend(await _check_run(engine, name, wanted, run))
    return failures


async def _check_run(engine: Engine, name: str, wanted: Expected, run: dict[str, Any]) -> list[str]:
    label = name if run["iteration"] is None or "[" in name else f"{name}[{run['iteration']}]"
    failures: list[str] = []
    if wanted.status is not None and run["status"] != wanted.status:
        failures.append(f"{label}.status: expected {wanted.status}, got {run['status']}" + (f" ({run['error']})" if run["error"] else ""))
    if wanted.outputs is not None:
        failures.extend(differences(f"{label}.outputs", wanted.outputs, run["outputs"] or {}))
    if wanted.that is not None:
        scope = {"status": run["status"], "outputs": run["outputs"] or {}, "error": run["error"], "attempt": run["attempt"]}
        try:
            holds = await engine.deps.renderer.evaluate_condition(wanted.that, scope)
        except ExpressionError as exc:
            failures.append(f"{label}: cannot evaluate {wanted.that!r}: {exc}")
        else:
            if not holds:
                failures.append(f"{label}: {wanted.that} is false")
    return failures


def differences(where: str, expected: Any, actual: Any) -> list[str]:
    """Each place where `actual` differs from `expected`; a mapping need only hold the keys given."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        found: list[str] = []
        for key, value in expected.items():
            if key not in actual:
                found.append(f"{where}.{key}: expected {_short(value)}, missing")
            else:
                found.extend(differences(f"{where}.{key}", value, actual[key]))
        return found
    return [] if expected == actual else [f"{where}: expected {_short(expected)}, got {_short(actual)}"]


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 120 else text[:117] + "…"
