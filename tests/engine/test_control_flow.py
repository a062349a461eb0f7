"""Order of work and the flow.* control tasks, end to end through the HTTP API.

Concurrency is proven by the order of recorded timestamps (every child started before any
finished), never by how long something took.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tests.conftest import Api
from tests.engine.flows_helpers import detail
from tests.engine.flows_helpers import outputs
from tests.engine.flows_helpers import run
from tests.engine.flows_helpers import save_flow
from tests.engine.flows_helpers import start
from tests.engine.flows_helpers import tasks_by_name
from tests.engine.flows_helpers import wait_status


def ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def only(body: dict[str, Any], name: str) -> dict[str, Any]:
    runs = tasks_by_name(body).get(name, [])
    assert len(runs) == 1, f"{name}: expected one run, got {runs}"
    return runs[0]


def max_overlap(runs: list[dict[str, Any]]) -> int:
    """The most runs that were running at the same instant."""
    return max(
        sum(1 for other in runs if ts(other["startedAt"]) <= ts(r["startedAt"]) < ts(other["finishedAt"]))
        for r in runs
    )


# -- order of work ---------------------------------------------------------------------------


async def test_when_false_skips_the_task_and_counts_it(api: Api) -> None:
    body = await run(api, """
name: when-false
tasks:
  - name: first
    type: util.echo
    properties: {value: 1}
  - name: only_for_two
    type: util.log
    when: "{{ outputs.first.value == 2 }}"
    properties: {message: never logged}
  - name: last
    type: util.noop
""")
    execution = body["execution"]
    assert execution["status"] == "SUCCESS", execution
    skipped = only(body, "only_for_two")
    assert skipped["status"] == "SKIPPED" and skipped["outputs"] is None
    assert only(body, "last")["status"] == "SUCCESS"
    assert execution["tasksExecuted"] == execution["tasksTotal"] == 3


async def test_allow_failure_lets_the_execution_succeed(api: Api) -> None:
    body = await run(api, """
name: tolerant
tasks:
  - name: shaky
    type: util.assert
    allow_failure: true
    properties: {condition: false, message: tolerated problem}
  - name: after
    type: util.echo
    properties: {value: went on}
""")
    assert body["execution"]["status"] == "SUCCESS", body["execution"]
    shaky = only(body, "shaky")
    assert shaky["status"] == "FAILED" and "tolerated problem" in shaky["error"]
    assert outputs(only(body, "after")) == {"value": "went on"}
    assert body["execution"]["error"] is None


async def test_failure_stops_the_rest_then_errors_and_finally_run(api: Api) -> None:
    body = await run(api, """
name: breaks
tasks:
  - name: fine
    type: util.noop
  - name: broken
    type: util.assert
    properties: {condition: false, message: the numbers do not add up}
  - name: never
    type: util.noop
errors:
  - name: alert
    type: util.echo
    properties: {value: "{{ error.taskName }}|{{ error.message }}"}
finally:
  - name: done
    type: util.echo
    properties: {value: "{{ execution.status }}"}
""")
    execution = body["execution"]
    assert execution["status"] == "FAILED"
    assert "broken" in execution["error"] and "the numbers do not add up" in execution["error"]
    assert "never" not in tasks_by_name(body)
    assert only(body, "broken")["status"] == "FAILED"
    assert outputs(only(body, "alert")) == {"value": "broken|the numbers do not add up"}
    assert outputs(only(body, "done")) == {"value": "FAILED"}
    assert ts(only(body, "alert")["finishedAt"]) <= ts(only(body, "done")["startedAt"])


async def test_finally_runs_after_success_and_is_not_counted_as_a_task(api: Api) -> None:
    body = await run(api, """
name: tidy
tasks:
  - name: work
    type: util.noop
errors:
  - name: alert
    type: util.log
    properties: {message: not needed}
finally:
  - name: done
    type: util.echo
    properties: {value: "{{ execution.status }}"}
""")
    execution = body["execution"]
    assert execution["status"] == "SUCCESS"
    assert outputs(only(body, "done")) == {"value": "SUCCESS"}
    assert "alert" not in tasks_by_name(body)
    assert execution["tasksExecuted"] == execution["tasksTotal"] == 1


# -- flow.parallel ---------------------------------------------------------------------------


async def test_parallel_children_run_at_the_same_time(api: Api) -> None:
    body = await run(api, """
name: par
tasks:
  - name: fan_out
    type: flow.parallel
    properties:
      tasks:
        - {name: a, type: util.sleep, properties: {duration: 300ms}}
        - {name: b, type: util.sleep, properties: {duration: 300ms}}
        - {name: c, type: util.sleep, properties: {duration: 300ms}}
""")
    assert body["execution"]["status"] == "SUCCESS", body["execution"]
    parent = only(body, "fan_out")
    children = [only(body, n) for n in "abc"]
    assert all(c["status"] == "SUCCESS" and c["parentId"] == parent["id"] for c in children)
    last_start = max(ts(c["startedAt"]) for c in children)
    first_finish = min(ts(c["finishedAt"]) for c in children)
    assert last_start < first_finish, "every child should have started before any finished"
    assert outputs(parent) == {}
    execution = body["execution"]
    assert execution["tasksExecuted"] == execution["tasksTotal"] == 4
    assert execution["durationMs"] >= 300, "it slept that long at least"
    elapsed = (ts(execution["finishedAt"]) - ts(execution["startedAt"])).total_seconds() * 1000
    assert abs(execution["durationMs"] - elapsed) <= 2


async def test_parallel_concurrency_limit(api: Api) -> None:
    body = await run(api, """
name: par-limited
tasks:
  - name: fan_out
    type: flow.parallel
    properties:
      concurrency: 2
      tasks:
        - {name: a, type: util.sleep, properties: {duration: 150ms}}
        - {name: b, type: util.sleep, properties: {duration: 150ms}}
        - {name: c, type: util.sleep, properties: {duration: 150ms}}
        - {name: d, type: util.sleep, properties: {duration: 150ms}}
""")
    assert body["execution"]["status"] == "SUCCESS", body["execution"]
    children = [only(body, n) for n in "abcd"]
    assert max_overlap(children) == 2
    # Children start in list order as slots free up.
    assert ts(children[2]["startedAt"]) >= min(ts(children[0]["finishedAt"]), ts(children[1]["finishedAt"]))


async def test_parallel_fails_fast_and_cancels_siblings(api: Api) -> None:
    body = await run(api, """
name: par-fails
tasks:
  - name: fan_out
    type: flow.parallel
    properties:
      tasks:
        - {name: stuck, type: test.hang}
        - {name: boom, type: flow.fail, properties: {message: child gave up}}
  - name: after
    type: util.noop
""")
    execution = body["execution"]
    assert execution["status"] == "FAILED"
    assert "fan_out" in execution["error"] and "child gave up" in execution["error"]
    assert only(body, "stuck")["status"] == "CANCELLED"
    assert only(body, "boom")["status"] == "FAILED"
    parent = only(body, "fan_out")
    assert parent["status"] == "FAILED" and "boom" in parent["error"] and "child gave up" in parent["error"]
    assert "after" not in tasks_by_name(body)


# -- flow.sequential, flow.if, flow.switch ---------------------------------------------------


async def test_sequential_runs_children_in_order(api: Api) -> None:
    body = await run(api, """
name: seq
tasks:
  - name: group
    type: flow.sequential
    properties:
      tasks:
        - {name: one, type: util.sleep, properties: {duration: 20ms}}
        - {name: two, type: util.echo, properties: {value: "{{ outputs.one.slept_ms >= 0 }}"}}
        - {name: three, type: util.noop}
  - name: outside
    type: util.echo
    properties: {value: "{{ outputs.two.value }}"}
""")
    assert body["execution"]["status"] == "SUCCESS", body["execution"]
    runs = [only(body, n) for n in ("one", "two", "three")]
    assert ts(runs[0]["finishedAt"]) <= ts(runs[1]["startedAt"])
    assert ts(runs[1]["finishedAt"]) <= ts(runs[2]["startedAt"])
    assert all(r["parentId"] == only(body, "group")["id"] for r in runs)
    assert outputs(only(body, "outside")) == {"value": True}


async def test_sequential_stops_at_the_first_failing_child(api: Api) -> None:
    body = await run(api, """
name: seq-fails
tasks:
  - name: group
    type: flow.sequential
    properties:
      tasks:
        - {name: one, type: util.noop}
        - {name: two, type: flow.fail, properties: {message: stop here}}
        - {name: three, type: util.noop}
""")
    assert body["execution"]["status"] == "FAILED"
    assert "three" not in tasks_by_name(body)
    group = only(body, "group")
    assert group["status"] == "FAILED" and "two" in group["error"] and "stop here" in group["error"]


IF_FLOW = """
name: branches
inputs:
  - {name: go, type: string}
tasks:
  - name: decide
    type: flow.if
    properties:
      condition: "{{ inputs.go }}"
      then:
        - {name: yes_path, type: util.echo, properties: {value: took then}}
      else:
        - {name: no_path, type: util.echo, properties: {value: took else}}
"""


async def test_if_runs_then_and_skips_else(api: Api) -> None:
    flow_id = await save_flow(api, IF_FLOW)
    body = await wait_status(api, await start(api, flow_id, {"go": "true"}))
    assert body["execution"]["status"] == "SUCCESS", body["execution"]
    assert outputs(only(body, "decide")) == {"branch": "then"}
    assert outputs(only(body, "yes_path")) == {"value": "took then"}
    assert only(body, "no_path")["status"] == "SKIPPED"
    assert body["execution"]["tasksExecuted"] == body["execution"]["tasksTotal"] == 3

    body = await wait_status(api, await start(api, flow_id, {"go": "False"}))
    assert body["execution"]["status"] == "SUCCESS", body["execution"]
    assert outputs(only(body, "decide")) == {"branch": "else"}
    assert outputs(only(body, "no_path")) == {"value": "took else"}
    assert only(body, "yes_path")["status"] == "SKIPPED"


async def test_if_with_a_non_boolean_condition_fails(api: Api) -> None:
    flow_id = await save_flow(api, IF_FLOW)
    body = await wait_status(api, await start(api, flow_id, {"go": "maybe"}))
    assert body["execution"]["status"] == "FAILED"
    decide = only(body, "decide")
    assert decide["status"] == "FAILED" and "maybe" in decide["error"]
    assert "yes_path" not in tasks_by_name(body) or only(body, "yes_path")["status"] != "SUCCESS"
    assert "no_path" not in tasks_by_name(body) or only(body, "no_path")["status"] != "SUCCESS"


SWITCH_FLOW = """
name: switching
inputs:
  - {name: env, type: string, default: ""}
  - {name: level, type: integer, default: 0}
tasks:
  - name: by_env
    type: flow.switch
    properties:
      value: "{{ inputs.env }}"
      cases:
        production:
          - {name: careful, type: util.echo, properties: {value: canary}}
        staging:
          - {name: quick, type: util.echo, properties: {value: at once}}
      default:
        - {name: unknown, type: util.echo, properties: {value: "unknown {{ inputs.env }}"}}
  - name: by_level
    type: flow.switch
    properties:
      value: "{{ inputs.level }}"
      cases:
        1:
          - {name: level_one, type: util.noop}
        "2":
          - {name: level_two, type: util.noop}
"""


async def test_switch_runs_the_matching_case_and_skips_the_others(api: Api) -> None:
    flow_id = await save_flow(api, SWITCH_FLOW)
    body = await wait_status(api, await start(api, flow_id, {"env": "staging", "level": 2}))
    assert body["execution"]["status"] == "SUCCESS", body["execution"]
    assert outputs(only(body, "by_env")) == {"case": "staging"}
    assert outputs(only(body, "quick")) == {"value": "at once"}
    assert only(body, "careful")["status"] == "SKIPPED"
    assert only(body, "unknown")["status"] == "SKIPPED"
    # A number matches the key of the same text, quoted or not.
    assert outputs(only(body, "by_level")) == {"case": "2"}
    assert only(body, "level_two")["status"] == "SUCCESS"
    assert only(body, "level_one")["status"] == "SKIPPED"
    assert body["execution"]["tasksExecuted"] == body["execution"]["tasksTotal"]


async def test_switch_default_and_numeric_key(api: Api) -> None:
    flow_id = await save_flow(api, SWITCH_FLOW)
    body = await wait_status(api, await start(api, flow_id, {"env": "moon", "level": 1}))
    assert body["execution"]["status"] == "SUCCESS", body["execution"]
    assert outputs(only(body, "by_env")) == {"case": None}
    assert outputs(only(body, "unknown")) == {"value": "unknown moon"}
    assert only(body, "careful")["status"] == "SKIPPED" and only(body, "quick")["status"] == "SKIPPED"
    assert outputs(only(body, "by_level")) == {"case": "1"}
    assert only(body, "level_one")["status"] == "SUCCESS"
    assert only(body, "level_two")["status"] == "SKIPPED"


# -- flow.dag --------------------------------------------------------------------------------


async def test_dag_respects_dependencies(api: Api) -> None:
    body = await run(api, """
name: graph
tasks:
  - name: build
    type: flow.dag
    properties:
      tasks:
        - {name: load, type: util.noop, depends_on: [left, right]}
        - {name: left, type: util.sleep, depends_on: [extract], properties: {duration: 50ms}}
        - {name: right, type: util.sleep, depends_on: [extract], properties: {duration: 50ms}}
        - {name: extract, type: util.sleep, properties: {duration: 50ms}}
""")
    assert body["execution"]["status"] == "SUCCESS", body["execution"]
    extract, left, right, load = (only(body, n) for n in ("extract", "left", "right", "load"))
    assert ts(left["startedAt"]) >= ts(extract["finishedAt"])
    assert ts(right["startedAt"]) >= ts(extract["finishedAt"])
    assert ts(load["startedAt"]) >= max(ts(left["finishedAt"]), ts(right["finishedAt"]))
    assert max(ts(left["startedAt"]), ts(right["startedAt"])) < min(ts(left["finishedAt"]), ts(right["finishedAt"]))
    assert body["execution"]["tasksExecuted"] == body["execution"]["tasksTotal"] == 5


async def test_dag_skipped_dependency_skips_its_dependents(api: Api) -> None:
    body = await run(api, """
name: graph-skips
tasks:
  - name: build
    type: flow.dag
    properties:
      tasks:
        - {name: optional, type: util.noop, when: false}
        - {name: needs_optional, type: util.noop, depends_on: [optional]}
        - {name: needs_that, type: util.noop, depends_on: [needs_optional]}
        - {name: independent, type: util.noop}
""")
    assert body["execution"]["status"] == "SUCCESS", body["execution"]
    assert only(body, "optional")["status"] == "SKIPPED"
    assert only(body, "needs_optional")["status"] == "SKIPPED"
    assert only(body, "needs_that")["status"] == "SKIPPED"
    assert only(body, "independent")["status"] == "SUCCESS"
    assert body["execution"]["tasksExecuted"] == body["execution"]["tasksTotal"] == 5


# -- flow.foreach ----------------------------------------------------------------------------


async def test_foreach_runs_each_item_and_collects_outputs(api: Api) -> None:
    flow_id = await save_flow(api, """
name: loop
inputs:
  - {name: names, type: array}
tasks:
  - name: each
    type: flow.foreach
    properties:
      items: "{{ inputs.names }}"
      tasks:
        - name: greet
          type: util.echo
          properties: {value: "{{ index }}:{{ item }}"}
        - name: again
          type: util.echo
          properties: {value: "{{ outputs.greet.value }}!"}
  - name: collected
    type: util.echo
    properties: {value: "{{ outputs.greet }}"}
""")
    body = await wait_status(api, await start(api, flow_id, {"names": ["ada", "grace", "linus"]}))
    assert body["execution"]["status"] == "SUCCESS", body["execution"]
    each = only(body, "each")
    assert outputs(each) == {"count": 3, "failed": 0}
    greets = sorted(tasks_by_name(body)["greet"], key=lambda r: r["iteration"])
    assert [r["iteration"] for r in greets] == [0, 1, 2]
    assert all(r["parentId"] == each["id"] and r["status"] == "SUCCESS" for r in greets)
    assert [outputs(r) for r in greets] == [{"value": "0:ada"}, {"value": "1:grace"}, {"value": "2:linus"}]
    agains = sorted(tasks_by_name(body)["again"], key=lambda r: r["iteration"])
    assert [outputs(r)["value"] for r in agains] == ["0:ada!", "1:grace!", "2:linus!"]
    collected = outputs(only(body, "collected"))
    assert collected == {"value": [{"value": "0:ada"}, {"value": "1:grace"}, {"value": "2:linus"}]}
    # Loop bodies count once per declaration, not once per iteration.
    assert body["execution"]["tasksExecuted"] == body["execution"]["tasksTotal"] == 4


async def test_foreach_concurrency(api: Api) -> None:
    body = await run(api, """
name: loop-wide
tasks:
  - name: each
    type: flow.foreach
    properties:
      items: [1, 2, 3, 4]
      concurrency: 2
      tasks:
        - {name: nap, type: util.sleep, properties: {duration: 150ms}}
""")
    assert body["execution"]["status"] == "SUCCESS", body["execution"]
    naps = tasks_by_name(body)["nap"]
    assert sorted(r["iteration"] for r in naps) == [0, 1, 2, 3]
    assert max_overlap(naps) == 2


async def test_foreach_default_runs_one_after_another(api: Api) -> None:
    body = await run(api, """
name: loop-narrow
tasks:
  - name: each
    type: flow.foreach
    properties:
      items: [1, 2, 3]
      tasks:
        - {name: nap, type: util.sleep, properties: {duration: 20ms}}
""")
    assert body["execution"]["status"] == "SUCCESS", body["execution"]
    assert max_overlap(tasks_by_name(body)["nap"]) == 1


async def test_foreach_fails_fast_naming_the_index(api: Api) -> None:
    body = await run(api, """
name: loop-fails
tasks:
  - name: each
    type: flow.foreach
    properties:
      items: [10, 20, 30, 40]
      tasks:
        - name: check
          type: util.assert
          properties: {condition: "{{ item != 20 }}", message: "bad item {{ item }}"}
""")
    execution = body["execution"]
    assert execution["status"] == "FAILED"
    each = only(body, "each")
    assert each["status"] == "FAILED"
    assert "iteration 1" in each["error"], each["error"]
    assert "bad item 20" in each["error"]
    checks = tasks_by_name(body)["check"]
    assert sorted(r["iteration"] for r in checks) == [0, 1], "no iteration starts after a failure"


async def test_foreach_over_an_empty_list(api: Api) -> None:
    body = await run(api, """
name: loop-empty
tasks:
  - name: each
    type: flow.foreach
    properties:
      items: "{{ [] }}"
      tasks:
        - {name: never, type: util.noop}
""")
    assert body["execution"]["status"] == "SUCCESS", body["execution"]
    assert outputs(only(body, "each")) == {"count": 0, "failed": 0}
    assert "never" not in tasks_by_name(body)


async def test_foreach_items_must_be_a_list(api: Api) -> None:
    body = await run(api, """
name: loop-not-list
tasks:
  - name: each
    type: flow.foreach
    properties:
      items: "{{ 'text' }}"
      tasks:
        - {name: never, type: util.noop}
""")
    assert body["execution"]["status"] == "FAILED"
    assert "items must be a list" in only(body, "each")["error"]


# -- flow.fail, flow.wait_until --------------------------------------------------------------


async def test_fail_fails_with_its_message(api: Api) -> None:
    body = await run(api, """
name: failing-on-purpose
tasks:
  - name: refuse
    type: flow.fail
    retry: {max_attempts: 3, delay: 10ms}
    properties: {message: "the batch is empty"}
""")
    assert body["execution"]["status"] == "FAILED"
    refuse = only(body, "refuse")  # no retry: the outcome is deliberate
    assert refuse["status"] == "FAILED" and refuse["error"] == "the batch is empty"
    assert "refuse" in body["execution"]["error"] and "the batch is empty" in body["execution"]["error"]


async def test_wait_until_true_at_the_first_poll(api: Api) -> None:
    body = await run(api, """
name: waits-not
tasks:
  - name: ready
    type: util.echo
    properties: {value: true}
  - name: wait
    type: flow.wait_until
    properties: {condition: "{{ outputs.ready.value }}", interval: 1s, timeout: 10s}
""")
    assert body["execution"]["status"] == "SUCCESS", body["execution"]
    result = outputs(only(body, "wait"))
    assert result["polls"] == 1 and result["waited_ms"] >= 0


async def test_wait_until_times_out(api: Api) -> None:
    body = await run(api, """
name: waits-forever
tasks:
  - name: wait
    type: flow.wait_until
    properties: {condition: "{{ false }}", interval: 1s, timeout: 1s}
""")
    assert body["execution"]["status"] == "FAILED"
    wait = only(body, "wait")
    assert wait["status"] == "TIMED_OUT" and "condition still false" in wait["error"]


# -- flow.subflow ----------------------------------------------------------------------------

CHILD = """
name: child
inputs:
  - {name: n, type: integer, required: true}
tasks:
  - name: double
    type: util.echo
    properties: {value: "{{ inputs.n * 2 }}"}
"""


async def test_subflow_waits_and_returns_the_child_outputs(api: Api) -> None:
    await save_flow(api, CHILD)
    body = await run(api, """
name: parent
tasks:
  - name: call
    type: flow.subflow
    properties: {flow: child, inputs: {n: 21}}
  - name: use
    type: util.echo
    properties: {value: "{{ outputs.call.outputs.double.value }}"}
""")
    assert body["execution"]["status"] == "SUCCESS", body["execution"]
    call = outputs(only(body, "call"))
    assert call["status"] == "SUCCESS" and call["outputs"] == {"double": {"value": 42}}
    assert outputs(only(body, "use")) == {"value": 42}
    child = await detail(api, call["execution_id"])
    assert child["execution"]["status"] == "SUCCESS"
    assert child["execution"]["trigger"]["type"] == "subflow"
    assert child["execution"]["trigger"]["executionId"] == body["execution"]["id"]


async def test_subflow_without_wait_only_queues_the_child(api: Api) -> None:
    await save_flow(api, CHILD)
    body = await run(api, """
name: parent-nowait
tasks:
  - name: call
    type: flow.subflow
    properties: {flow: child, inputs: {n: 2}, wait: false}
""")
    assert body["execution"]["status"] == "SUCCESS", body["execution"]
    call = outputs(only(body, "call"))
    assert call["status"] == "QUEUED" and "outputs" not in call
    child = await wait_status(api, call["execution_id"])
    assert child["execution"]["status"] == "SUCCESS"
    assert outputs(only(child, "double")) == {"value": 4}


async def test_subflow_child_failure_fails_the_task(api: Api) -> None:
    await save_flow(api, """
name: bad-child
tasks:
  - name: nope
    type: flow.fail
    properties: {message: child refuses}
""")
    body = await run(api, """
name: parent-of-bad
tasks:
  - name: call
    type: flow.subflow
    properties: {flow: bad-child}
""")
    assert body["execution"]["status"] == "FAILED"
    call = only(body, "call")
    assert call["status"] == "FAILED"
    assert "FAILED" in call["error"] and "child refuses" in call["error"]
    child_id = next(e["id"] for e in (await api.get("/api/v1/executions")).body if e["flowName"] == "bad-child")
    assert child_id in call["error"]


async def test_subflow_with_bad_inputs_or_unknown_flow_fails_the_task(api: Api) -> None:
    await save_flow(api, CHILD)
    body = await run(api, """
name: parent-confused
tasks:
  - name: call_missing
    type: flow.subflow
    allow_failure: true
    properties: {flow: no-such-flow}
  - name: call_wrong
    type: flow.subflow
    properties: {flow: child, inputs: {n: many}}
""")
    assert body["execution"]["status"] == "FAILED"
    missing = only(body, "call_missing")
    assert missing["status"] == "FAILED" and "no-such-flow" in missing["error"] and "not found" in missing["error"]
    wrong = only(body, "call_wrong")
    assert wrong["status"] == "FAILED" and "inputs.n" in wrong["error"]
    listed = await api.get("/api/v1/executions")
    assert [e["flowName"] for e in listed.body] == ["parent-confused"]


async def test_a_flow_calling_itself_hits_the_depth_limit(api: Api) -> None:
    body = await run(api, """
name: ouroboros
tasks:
  - name: call
    type: flow.subflow
    properties: {flow: ouroboros}
""")
    execution = body["execution"]
    assert execution["status"] == "FAILED"
    assert "nested deeper than" in execution["error"]
    listed = await api.get("/api/v1/executions", params={"limit": 1000})
    assert listed.status == 200
    assert all(e["status"] == "FAILED" for e in listed.body)
    assert len(listed.body) == 11


async def test_when_false_on_a_container_skips_its_whole_subtree(api: Api) -> None:
    body = await run(api, """
name: skip-tree
tasks:
  - name: group
    type: flow.sequential
    when: "{{ 1 > 2 }}"
    properties:
      tasks:
        - {name: inner, type: util.noop}
        - name: deeper
          type: flow.parallel
          properties:
            tasks:
              - {name: deepest, type: util.noop}
  - {name: after, type: util.noop}
""")
    assert body["execution"]["status"] == "SUCCESS", body["execution"]
    statuses = {r["taskName"]: r["status"] for r in body["tasks"]}
    assert statuses.get("group") == "SKIPPED" and statuses.get("after") == "SUCCESS"
    assert all(statuses.get(n, "SKIPPED") == "SKIPPED" for n in ("inner", "deeper", "deepest"))
    assert body["execution"]["tasksExecuted"] == body["execution"]["tasksTotal"] == 5
