"""The task graph of a list whose tasks run by dependencies: `depends_on` names siblings only,
never the task itself, and makes no cycle. Each cycle is reported once, from the task declared
first, so an operator sees one error per loop to break rather than one per task in it.
"""

from __future__ import annotations

import graphlib
from collections.abc import Iterator
from collections.abc import Mapping
from typing import Any

from workflowdev.engine.language.flow.messages import did_you_mean
from workflowdev.engine.language.yaml_source import Path


def dependency_problems(raw_tasks: list[Any], path: Path,
                        task_names: Mapping[str, Path]) -> Iterator[tuple[Path, str]]:
    """Where and what is wrong with the `depends_on` of one task list, as written.

    `task_names` holds every task of the flow, so a name that exists elsewhere gets a hint that
    it is not a sibling rather than a guess at a typo.
    """
    siblings: dict[str, int] = {}
    for index, raw in enumerate(raw_tasks):
        if isinstance(raw, dict) and isinstance(raw.get("name"), str):
            siblings.setdefault(raw["name"], index)
    graph: dict[str, set[str]] = {}
    for index, raw in enumerate(raw_tasks):
        if not isinstance(raw, dict) or not isinstance(raw.get("depends_on"), list):
            continue
        name = raw.get("name")
        deps_path = path + (index, "depends_on")
        for position, dependency in enumerate(raw["depends_on"]):
            if not isinstance(dependency, str):
                continue
            if dependency == name:
                yield deps_path + (position,), f"task '{name}' depends on itself"
            elif dependency not in siblings:
                where = " (it is not a sibling in this list)" \
                    if dependency in task_names else did_you_mean(dependency, siblings)
                yield (deps_path + (position,),
                       f"depends_on names unknown task '{dependency}'{where}")
            elif isinstance(name, str) and siblings.get(name) == index:
                graph.setdefault(name, set()).add(dependency)
    for cycle in _cycles(graph, order=siblings):
        first = siblings[cycle[0]]
        yield (path + (first, "depends_on"),
               f"dependency cycle: {' -> '.join(cycle)} (each task depends on the next)")


def _cycles(graph: Mapping[str, set[str]], order: Mapping[str, int]) -> Iterator[list[str]]:
    """Every cycle graphlib finds, breaking each before looking again; starts at the first task.

    `graph` maps a task to the tasks it depends on; each cycle is listed in that direction.
    """
    edges = {node: set(deps) for node, deps in graph.items()}
    for _ in range(sum(len(deps) for deps in edges.values())):
        try:
            graphlib.TopologicalSorter(edges).prepare()
            return
        except graphlib.CycleError as exc:
            found: list[str] = exc.args[1][:-1]
        start = min(range(len(found)), key=lambda i: order[found[i]])
        cycle = found[start:] + found[:start]
        if cycle[1] not in edges.get(cycle[0], ()):
            cycle = [cycle[0], *reversed(cycle[1:])]
        yield [*cycle, cycle[0]]
        edges[cycle[0]].discard(cycle[1])
