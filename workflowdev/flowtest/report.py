"""What a flow test run tells its reader: a tree per test, what differed, and JUnit XML for CI."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.text import Text
from rich.tree import Tree

from workflowdev.flowtest.run import Outcome
from workflowdev.local_run import STYLES


def show(console: Console, file: Path, outcomes: Sequence[Outcome]) -> None:
    for outcome in outcomes:
        mark, style = ("✔", "green") if outcome.passed else ("✘", "red")
        head = Text.assemble((f"{mark} ", style), (outcome.test.name, "bold"), (f"  {file}  {outcome.seconds:.2f} s", "dim"))
        tree = Tree(head, guide_style="dim")
        _add_runs(tree, outcome, None)
        for failure in outcome.failures:
            tree.add(Text(f"✘ {failure}", style="red"))
        console.print(tree)


def _add_runs(node: Tree, outcome: Outcome, parent: str | None) -> None:
    for run in (r for r in outcome.runs if r["parentId"] == parent):
        glyph, style = STYLES.get(run["status"], ("?", ""))
        label = Text.assemble((glyph, style), " ", run["taskName"])
        if run["iteration"] is not None:
            label.append(f"[{run['iteration']}]", style="dim")
        label.append(f" {run['taskType']}", style="dim")
        if run["taskName"] in outcome.test.mocks:
            label.append(" mocked", style="cyan")
        if run["attempt"] > 1:
            label.append(f" attempt {run['attempt']}", style="yellow")
        _add_runs(node.add(label), outcome, run["id"])


def summary(results: Sequence[tuple[Path, Sequence[Outcome]]]) -> str:
    outcomes = [o for _file, found in results for o in found]
    failed = sum(not o.passed for o in outcomes)
    return f"{len(outcomes) - failed} passed, {failed} failed" + (f" in {len(results)} files" if len(results) > 1 else "")


def junit(results: Sequence[tuple[Path, Sequence[Outcome]]], path: Path) -> None:
    """One `testsuite` per file, one `testcase` per test, a `failure` listing what differed."""
    suites = ET.Element("testsuites", name="workflowdev flow tests")
    for file, outcomes in results:
        failed = sum(not o.passed for o in outcomes)
        suite = ET.SubElement(suites, "testsuite", _attributes(
            name=str(file), tests=len(outcomes), failures=failed, errors=0, time=sum(o.seconds for o in outcomes)
        ))  # fmt: skip
        for outcome in outcomes:
            case = ET.SubElement(suite, "testcase", _attributes(classname=str(file), name=outcome.test.name, time=outcome.seconds))
            if not outcome.passed:
                failure = ET.SubElement(case, "failure", message=outcome.failures[0])
                failure.text = "\n".join(outcome.failures)
    ET.indent(suites)
    ET.ElementTree(suites).write(path, encoding="utf-8", xml_declaration=True)


def _attributes(**values: Any) -> dict[str, str]:
    return {key: f"{value:.3f}" if isinstance(value, float) else str(value) for key, value in values.items()}
