"""Replay from a chosen task: the tasks before it are copied from the original, it and what
follows run anew, the original is untouched; on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC
from datetime import datetime
from typing import Any

import pytest
from aiohttp import web
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from tests.conftest import Api
from tests.engine.flows_helpers import cli
from tests.engine.flows_helpers import detail
from tests.engine.flows_helpers import run
from tests.engine.flows_helpers import save_flow
from tests.engine.flows_helpers import wait_status
from workflowdev.engine.language.flow import parse_flow
from workflowdev.engine.run.replay import Declarations
from workflowdev.engine.run.replay import ReplayRefused
from workflowdev.engine.run.replay import resolve
from workflowdev.plugins import build_registry
from workflowdev.store import flows as flows_store

SEQUENCE = """
name: sequence
inputs:
  - {name: word, type: string, default: hello}
tasks:
  - name: first
    type: util.echo
    properties: {value: "{{ uuid() }}"}
  - name: second
    type: util.echo
    properties: {value: "{{ outputs.first.value }}-{{ inputs.word }}"}
  - name: third
    type: util.echo
    properties: {value: "{{ uuid() }}"}
"""

LOOP = """
name: loop
tasks:
  - name: each
    type: flow.foreach
    properties:
      items: [a, b, c]
      tasks:
        - {name: stamp, type: util.echo, properties: {value: "{{ item }}-{{ uuid() }}"}}
  - name: after
    type: util.echo
    properties: {value: "{{ outputs.stamp | map(attribute='value') | join(',') }}"}
"""

SHAPES = """
name: shapes
tasks:
  - name: both
    type: flow.parallel
    properties:
      tasks:
        - {name: left, type: util.echo, properties: {value: "{{ uuid() }}"}}
        - {name: right, type: util.echo, properties: {value: "{{ uuid() }}"}}
  - name: check
    type: flow.if
    properties:
      condition: "{{ true }}"
      then:
        - {name: t1, type: util.echo, properties: {value: "{{ uuid() }}"}}
        - {name: t2, type: util.echo, properties: {value: "{{ outputs.t1.value }}"}}
"""

CHILD = """
name: child
tasks:
  - {name: inner, type: util.echo, properties: {value: "{{ uuid() }}"}}
"""

PARENT = """
name: parent
tasks:
  - name: call
    type: flow.subflow
    properties: {flow: child}
  - name: use
    type: util.echo
    properties: {value: "{{ outputs.call.outputs.inner.value }}"}
"""


def latest(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each task's latest run, keyed by name plus the iteration inside a loop (`stamp[1]`)."""
    runs: dict[str, dict[str, Any]] = {}
    for task in sorted(body["tasks"], key=lambda t: t["attempt"]):
        name = task["taskName"] if task["iteration"] is None else f"{task['taskName']}[{task['iteration']}]"
        runs[name] = task
    return runs


def value(run: dict[str, Any]) -> Any:
    return json.loads(run["outputs"])["value"]


async def replay(api: Api, execution_id: str, **body: Any) -> dict[str, Any]:
    reply = await api.post(f"/api/v1/executions/{execution_id}/replay", json=body)
    assert reply.status == 201, reply.body
    assert reply.body["status"] == "QUEUED"
    return await wait_status(api, reply.body["executionId"])


async def test_replay_copies_what_ran_before_and_runs_the_rest_anew(api: Api) -> None:
    original = await run(api, SEQUENCE)
    before = latest(original)
    replayed = await replay(api, original["execution"]["id"], fromTask="second", inputs={"word": "again"})
    assert replayed["execution"]["status"] == "SUCCESS", replayed["execution"]
    assert replayed["execution"]["trigger"]["type"] == "replay"
    assert replayed["execution"]["tasksExecuted"] == 3
    after = latest(replayed)
    assert after["first"]["replayedFrom"] == original["execution"]["id"]
    assert value(after["first"]) == value(before["first"]) and after["first"]["status"] == "SUCCESS"
    assert after["second"]["replayedFrom"] is None and after["third"]["replayedFrom"] is None
    assert value(after["second"]) == f"{value(before['first'])}-again", "the copied output and the new input"
    assert value(after["third"]) != value(before["third"]), "third ran again"
    assert await detail(api, original["execution"]["id"]) == original, "the original is never changed"
    entries = (await api.get("/api/v1/audit", params={"action": "execution.replay"})).body
    assert [e["resourceId"] for e in entries] == [replayed["execution"]["id"]]


async def test_replay_of_one_foreach_iteration_keeps_the_others(api: Api) -> None:
    original = await run(api, LOOP)
    before = latest(original)
    replayed = await replay(api, original["execution"]["id"], fromTask="each[1].stamp")
    assert replayed["execution"]["status"] == "SUCCESS", replayed["execution"]
    after = latest(replayed)
    assert [after[f"stamp[{i}]"]["replayedFrom"] is not None for i in range(3)] == [True, False, True]
    assert value(after["stamp[0]"]) == value(before["stamp[0]"]) and value(after["stamp[2]"]) == value(before["stamp[2]"])
    assert value(after["stamp[1]"]) != value(before["stamp[1]"]) and value(after["stamp[1]"]).startswith("b-")
    assert after["each"]["replayedFrom"] is None and after["each"]["status"] == "SUCCESS"
    assert value(after["after"]) == ",".join(value(after[f"stamp[{i}]"]) for i in range(3))
    whole = latest(await replay(api, original["execution"]["id"], fromTask="each[2]"))
    assert [whole[f"stamp[{i}]"]["replayedFrom"] is not None for i in range(3)] == [True, True, False]
    every = latest(await replay(api, original["execution"]["id"], fromTask="stamp"))
    assert all(every[f"stamp[{i}]"]["replayedFrom"] is None for i in range(3)), "a bare name replays every iteration"


async def test_replay_inside_parallel_and_if_keeps_the_other_branch_and_earlier_steps(api: Api) -> None:
    original = await run(api, SHAPES)
    before = latest(original)
    right = latest(await replay(api, original["execution"]["id"], fromTask="right"))
    assert value(right["left"]) == value(before["left"]) and right["left"]["replayedFrom"]
    assert right["right"]["replayedFrom"] is None and right["t1"]["replayedFrom"] is None
    assert right["left"]["parentId"] == right["both"]["id"], "the copy hangs under the new container run"
    t2 = latest(await replay(api, original["execution"]["id"], fromTask="t2"))
    assert t2["left"]["replayedFrom"] and t2["right"]["replayedFrom"] and t2["both"]["replayedFrom"]
    assert t2["t1"]["replayedFrom"] and value(t2["t2"]) == value(before["t1"])
    assert t2["check"]["replayedFrom"] is None and t2["check"]["status"] == "SUCCESS"


async def test_replay_after_a_subflow_reuses_its_child_and_from_it_starts_a_new_one(api: Api) -> None:
    child_flow = await save_flow(api, CHILD)
    original = await run(api, PARENT)
    children = lambda: api.get("/api/v1/executions", params={"flowId": child_flow})  # noqa: E731
    assert len((await children()).body) == 1
    kept = latest(await replay(api, original["execution"]["id"], fromTask="use"))
    assert kept["call"]["replayedFrom"] and value(kept["use"]) == value(latest(original)["use"])
    assert len((await children()).body) == 1, "no second child for a subflow task that was copied"
    anew = latest(await replay(api, original["execution"]["id"], fromTask="call"))
    assert anew["call"]["replayedFrom"] is None
    assert len((await children()).body) == 2, "replaying from the subflow task runs its flow again"
    assert value(anew["use"]) != value(latest(original)["use"])


async def test_bad_replays_are_refused_with_what_would_be_right(api: Api) -> None:
    original = await run(api, SEQUENCE)
    execution_id = original["execution"]["id"]
    listed = await api.get("/api/v1/executions")
    cases = [
        ({"fromTask": "nope"}, 400, "replay can start from: first, second, third"),
        ({"fromTask": "first[1]"}, 400, "not a flow.foreach"),
        ({}, 400, "fromTask is required"),
        ({"fromTask": "first", "extra": 1}, 400, "unknown field 'extra'"),
        ({"fromTask": "first", "revision": 9}, 400, "no revision 9"),
        ({"fromTask": "first", "inputs": {"word": 5}}, 400, "inputs"),
    ]
    for body, status, words in cases:
        reply = await api.post(f"/api/v1/executions/{execution_id}/replay", json=body)
        assert reply.status == status and words in json.dumps(reply.body), (body, reply.status, reply.body)
    missing = await api.post("/api/v1/executions/00000000-0000-0000-0000-000000000000/replay", json={"fromTask": "first"})
    assert missing.status == 404
    assert (await api.get("/api/v1/executions")).body == listed.body, "nothing refused started anything"


async def test_only_an_ended_execution_is_replayed(api: Api) -> None:
    gated = await save_flow(api, "name: gated\ntasks:\n  - {name: gate, type: flow.approval, properties: {message: ok?}}\n")
    started = await api.post(f"/api/v1/flows/{gated}/execute", json={})
    await wait_status(api, started.body["executionId"], {"PAUSED"})
    reply = await api.post(f"/api/v1/executions/{started.body['executionId']}/replay", json={"fromTask": "gate"})
    assert reply.status == 409 and "only an ended execution" in reply.body["error"]["message"]


NESTED = """
name: nested
tasks:
  - name: outer
    type: flow.foreach
    properties:
      items: [1, 2]
      tasks:
        - name: inner
          type: flow.foreach
          properties:
            items: [1, 2]
            tasks:
              - {name: leaf, type: util.echo, properties: {value: x}}
  - {name: last, type: util.log, properties: {message: done}}
errors:
  - {name: alert, type: util.log, properties: {message: oops}}
"""


@pytest.fixture(scope="module")
def nested() -> Declarations:
    return Declarations.of(parse_flow(NESTED, build_registry(entry_points=False)))


def test_paths_through_nested_loops_pin_each_iteration(nested: Declarations) -> None:
    target = resolve(nested, "outer[1].inner[0].leaf")
    assert target.task.name == "leaf" and target.pins == {"outer": 1, "inner": 0}
    assert resolve(nested, "outer[1]").pins == {"outer": 1}
    with pytest.raises(ReplayRefused, match="errors or finally handler"):
        resolve(nested, "alert")
    with pytest.raises(ReplayRefused, match="not inside outer"):
        resolve(nested, "outer[0].last")


@settings(max_examples=400, deadline=None)
@given(spec=st.text(max_size=40) | st.from_regex(r"(outer|inner|leaf|last|x)(\[\d{1,3}\])?(\.(outer|inner|leaf|last)(\[\d\])?){0,3}"))
def test_any_from_task_resolves_or_is_refused_with_a_reason(nested: Declarations, spec: str) -> None:
    try:
        target = resolve(nested, spec)
    except ReplayRefused as refused:
        assert str(refused)
    else:
        assert target.task.name in nested.tasks and set(target.pins) <= set(nested.ancestors(target.task.name))


async def test_workflowdev_replay_asks_the_server_and_names_the_new_execution(api: Api) -> None:
    original = await run(api, SEQUENCE)
    execution_id = original["execution"]["id"]
    code, out, err = await cli("replay", execution_id, "--from", "third", "-i", "word=cli", "--server", api.base_url)
    assert code == 0, err
    new_id = out.split()[0]
    assert f"replays {execution_id} from third, 2 task runs kept" in out
    replayed = latest(await wait_status(api, new_id))
    assert replayed["first"]["replayedFrom"] == execution_id and replayed["third"]["replayedFrom"] is None
    code, _out, err = await cli("replay", execution_id, "--from", "fourth", "--server", api.base_url)
    assert code == 1 and "replay refused (400): no task 'fourth'" in err


async def test_a_dry_run_names_what_would_be_kept_and_starts_nothing(api: Api) -> None:
    original = await run(api, LOOP)
    listed = (await api.get("/api/v1/executions")).body
    reply = await api.post(f"/api/v1/executions/{original['execution']['id']}/replay", json={"fromTask": "each[1]", "dryRun": True})
    assert reply.status == 200, reply.body
    assert reply.body == {"dryRun": True, "kept": 2, "keptTasks": ["each[0].stamp", "each[2].stamp"]}
    assert (await api.get("/api/v1/executions")).body == listed


async def test_a_revision_that_no_longer_validates_is_a_400_not_a_500(api: Api) -> None:
    original = await run(api, SEQUENCE)
    flow_id = original["execution"]["flowId"]
    assert api.runtime.db is not None
    async with api.runtime.db.write() as conn:  # as if a plugin this revision used were uninstalled
        await flows_store.insert_revision(conn, flow_id, 2, "name: sequence\ntasks:\n  - {name: a, type: gone.plugin}\n", datetime.now(UTC), None)
    reply = await api.post(f"/api/v1/executions/{original['execution']['id']}/replay", json={"fromTask": "a", "revision": 2})
    assert reply.status == 400, reply.body
    assert "revision 2 of the flow does not validate" in reply.body["error"]["message"]
    assert "gone.plugin" in json.dumps(reply.body["error"]["details"])


async def test_the_cli_names_a_server_that_is_not_workflowdev(api: Api) -> None:
    async def bad_gateway(_request: web.Request) -> web.Response:
        return web.Response(text="<html>502 Bad Gateway</html>", status=502)

    proxy = web.Application()
    proxy.router.add_route("*", "/{tail:.*}", bad_gateway)
    runner = web.AppRunner(proxy)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        code, _out, err = await cli("replay", "some-id", "--from", "a", "--server", f"http://127.0.0.1:{port}")
    finally:
        await runner.cleanup()
    assert code == 1 and "did not answer as a workflowdev server" in err and "Traceback" not in err, err
    code, _out, err = await cli("replay", "some-id", "--from", "a", "--server", "http://127.0.0.1:9")
    assert code == 1 and "cannot reach http://127.0.0.1:9" in err and "Traceback" not in err
