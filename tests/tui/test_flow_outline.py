"""The declared tasks of a flow, read by the console: nesting kept, any source survived."""

from __future__ import annotations

from typing import Any

import yaml
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from workflowdev.tui.flow_outline import MAX_PLANNED
from workflowdev.tui.flow_outline import Planned
from workflowdev.tui.flow_outline import outline

FLOW = """
name: shapes
tasks:
  - name: pick
    type: flow.switch
    properties:
      value: "{{ inputs.kind }}"
      cases:
        a: [{name: on_a, type: util.log, properties: {message: a}}]
        b: [{name: on_b, type: util.log, properties: {message: b}}]
      default: [{name: otherwise, type: util.log, properties: {message: other}}]
  - name: each
    type: flow.foreach
    properties:
      items: [1, 2]
      tasks: [{name: body, type: util.log, properties: {message: "{{ item }}"}}]
  - name: logger
    type: util.log
    properties: {message: "not a container", tasks: [{name: fake, type: util.log}]}
errors:
  - {name: alert, type: util.log}
finally:
  - {name: cleanup, type: util.log}
"""


def paths(planned: tuple[Planned, ...]) -> list[str]:
    return [p for task in planned for p in (task.path, *paths(task.children))]


def test_a_flow_reads_as_its_nested_tasks_in_order() -> None:
    planned = outline(FLOW)
    assert paths(planned) == [
        "/pick", "/pick/on_a", "/pick/on_b", "/pick/otherwise", "/each", "/each/body", "/logger", "/alert", "/cleanup",
    ]  # fmt: skip
    assert [task.section for task in planned] == ["tasks", "tasks", "tasks", "errors", "finally"]
    assert planned[0].type == "flow.switch" and planned[2].children == (), "only flow.* tasks hold tasks"


def test_a_source_that_is_not_a_flow_reads_as_nothing() -> None:
    for source in ("", "tasks: [", "- just\n- a list\n", "tasks: 3", "tasks: [1, {name: 2}, {type: x}]"):
        assert outline(source) == ()


def test_a_huge_flow_is_outlined_up_to_the_limit() -> None:
    source = yaml.safe_dump({"tasks": [{"name": f"t{i}", "type": "util.log"} for i in range(MAX_PLANNED + 50)]})
    assert len(outline(source)) == MAX_PLANNED


json_like = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(
        ["name", "type", "properties", "tasks", "then", "else", "cases", "default", "errors", "finally", "x"]
    ), inner, max_size=5),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(document=json_like)
def test_any_document_outlines_without_error(document: Any) -> None:
    planned = outline(yaml.safe_dump(document))
    assert all(isinstance(task, Planned) and task.path.startswith("/") for task in planned)
