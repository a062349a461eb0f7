"""Work one execution may not exceed, and long loops that run in bounded memory while the
server goes on answering (issue 14, "Unbounded work").

Limits are set small through the server's settings. Nothing here is judged by how long it
took: the healthz test counts the replies the server gave while a loop ran.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest

from tests.conftest import Api
from tests.conftest import serving
from tests.engine.flows_helpers import TERMINAL
from tests.engine.flows_helpers import detail
from tests.engine.flows_helpers import eventually
from tests.engine.flows_helpers import outputs
from tests.engine.flows_helpers import run
from tests.engine.flows_helpers import save_flow
from tests.engine.flows_helpers import start
from tests.engine.flows_helpers import tasks_by_name
from tests.engine.flows_helpers import wait_status
from workflowdev.config import Settings

Server = Callable[..., Any]


@pytest.fixture
def server(make_settings: Callable[..., Settings]) -> Server:
    """`async with server(max_task_runs=10) as api`: a real server with those settings."""

    return lambda **changes: serving(make_settings(**changes))


def only(body: dict[str, Any], name: str) -> dict[str, Any]:
    runs = tasks_by_name(body).get(name, [])
    assert len(runs) == 1, f"{name}: expected one run, got {runs}"
    return runs[0]


def loop_flow(name: str, items: str, *, concurrency: int = 1, child: str = "{name: echo, type: util.echo, properties: {value: '{{ item }}'}}") -> str:
    return f"""
name: {name}
tasks:
  - name: each
    type: flow.foreach
    properties:
      items: "{items}"
      concurrency: {concurrency}
      tasks:
        - {child}
finally:
  - name: done
    type: util.log
    properties: {{message: "finished with {{{{ execution.status }}}}"}}
"""


async def all_task_runs(api: Api, execution_id: str, **query: Any) -> tuple[list[dict[str, Any]], int]:
    """Every task run through the paged list, and the total the server counted."""
    runs: list[dict[str, Any]] = []
    while True:
        reply = await api.get(f"/api/v1/executions/{execution_id}/tasks", params={**query, "limit": 1000, "offset": len(runs)})
        assert reply.status == 200, reply.body
        runs.extend(reply.body)
        total = int(reply.headers["X-Total-Count"])
        if not reply.body or len(runs) >= total:
            return runs, total


# -- limits ----------------------------------------------------------------------------------


async def test_a_foreach_past_the_item_limit_fails_before_it_starts(server: Server) -> None:
    async with server(max_foreach_items=5) as api:
        body = await run(api, loop_flow("too-many", "{{ range(6) | list }}"))
        assert body["execution"]["status"] == "FAILED", body["execution"]
        each = only(body, "each")
        assert each["status"] == "FAILED"
        assert each["error"] == "items has 6 entries; the limit per foreach is 5 (max_foreach_items)"
        assert "echo" not in tasks_by_name(body), "no iteration starts"
        assert only(body, "done")["status"] == "SUCCESS"
        at_limit = await run(api, loop_flow("just-enough", "{{ range(5) | list }}"))
        assert at_limit["execution"]["status"] == "SUCCESS", at_limit["execution"]
        assert len(tasks_by_name(at_limit)["echo"]) == 5


async def test_outputs_past_the_byte_limit_fail_the_task(server: Server) -> None:
    async with server(max_output_bytes=1000) as api:
        body = await run(api, """
name: big-output
tasks:
  - name: small
    type: util.echo
    properties: {value: "{{ 'x' * 900 }}"}
  - name: big
    type: util.echo
    properties: {value: "{{ 'x' * 2000 }}"}
""")
        assert body["execution"]["status"] == "FAILED", body["execution"]
        assert only(body, "small")["status"] == "SUCCESS"
        big = only(body, "big")
        assert big["status"] == "FAILED" and big["outputs"] is None
        size = len(json.dumps({"value": "x" * 2000}))
        assert big["error"] == f"outputs are {size} bytes of JSON; the limit per task is 1000 (max_output_bytes)"


async def test_the_task_run_limit_fails_the_execution_and_still_runs_finally(server: Server) -> None:
    async with server(max_task_runs=10) as api:
        body = await run(api, loop_flow("many-runs", "{{ range(20) | list }}"))
        execution = body["execution"]
        assert execution["status"] == "FAILED", execution
        limit = "the execution has recorded 10 task runs; the limit per execution is 10 (max_task_runs)"
        assert execution["error"] == f"each: echo in iteration 9 failed: {limit}"
        assert sorted(r["iteration"] for r in tasks_by_name(body)["echo"]) == list(range(9))
        assert only(body, "done")["status"] == "SUCCESS", "finally runs past the limit"
        assert body["taskRunsTotal"] == 11

        # A retry counts what the execution already recorded: at the limit, it fails at once.
        assert (await api.post(f"/api/v1/executions/{execution['id']}/retry")).status == 200
        again = await wait_status(api, execution["id"])
        assert again["execution"]["status"] == "FAILED"
        assert again["execution"]["error"] == "each: the execution has recorded 11 task runs; the limit per execution is 10 (max_task_runs)"
        assert len(tasks_by_name(again)["echo"]) == 9


async def test_execution_outputs_keep_to_the_byte_limit(server: Server) -> None:
    """Each iteration's outputs are small, their list is not: the execution leaves it out."""
    async with server(max_output_bytes=2000) as api:
        await save_flow(api, loop_flow("wide-child", "{{ range(100) | list }}", child="{name: echo, type: util.echo, properties: {value: 'item number {{ item }}'}}"))
        body = await run(api, """
name: wide-parent
tasks:
  - name: call
    type: flow.subflow
    properties: {flow: wide-child}
""")
        assert body["execution"]["status"] == "SUCCESS", body["execution"]
        call = outputs(only(body, "call"))
        assert call["outputs"]["each"] == {"count": 100, "failed": 0}
        assert call["outputs"]["echo"] is None
        assert len(json.dumps(call["outputs"])) <= 2000
        lines = (await api.get(f"/api/v1/executions/{call['execution_id']}/logs")).body
        assert any(line["level"] == "warning" and "max_output_bytes" in line["message"] and "echo" in line["message"] for line in lines)


# -- long loops ------------------------------------------------------------------------------


@pytest.mark.parametrize("concurrency", [1, 50])
async def test_a_loop_of_5000_items_succeeds_with_every_output(api: Api, concurrency: int) -> None:
    body = await run(api, f"""
name: long-loop
tasks:
  - name: each
    type: flow.foreach
    properties:
      items: "{{{{ range(5000) | list }}}}"
      concurrency: {concurrency}
      tasks:
        - name: double
          type: util.echo
          properties: {{value: "{{{{ item * 2 }}}}"}}
  - name: summary
    type: util.echo
    properties:
      value:
        count: "{{{{ outputs.double | length }}}}"
        total: "{{{{ outputs.double | map(attribute='value') | sum }}}}"
        first: "{{{{ outputs.double[0] }}}}"
        last: "{{{{ outputs.double[-1] }}}}"
""", timeout=180)
    assert body["execution"]["status"] == "SUCCESS", body["execution"]
    assert outputs(only(body, "each")) == {"count": 5000, "failed": 0}
    summary, _ = await all_task_runs(api, body["execution"]["id"], taskName="summary")
    assert [outputs(r)["value"] for r in summary] == [{
        "count": 5000, "total": 2 * sum(range(5000)), "first": {"value": 0}, "last": {"value": 9998},
    }]  # fmt: skip
    assert len(body["tasks"]) == 1000, "the detail carries the first 1,000 runs"
    assert body["taskRunsTotal"] == 5002
    runs, total = await all_task_runs(api, body["execution"]["id"])
    assert total == 5002 and len({r["id"] for r in runs}) == 5002
    doubles, total = await all_task_runs(api, body["execution"]["id"], taskName="double", status="SUCCESS")
    assert total == 5000
    assert sorted(r["iteration"] for r in doubles) == list(range(5000))
    assert all(outputs(r) == {"value": 2 * r["iteration"]} for r in doubles)


async def test_healthz_answers_while_a_long_loop_runs(api: Api) -> None:
    """A loop of quick tasks never waits on anything; it must still leave the server time to
    answer. Counted: replies to /healthz (each may take up to 30 s) while the loop is running."""
    flow_id = await save_flow(api, loop_flow("busy-loop", "{{ range(10000) | list }}"))
    execution_id = await start(api, flow_id)
    timeout = aiohttp.ClientTimeout(total=30)
    answered_while_running = 0

    async def ended() -> str | None:
        nonlocal answered_while_running
        rows = (await api.get("/api/v1/executions", params={"flowId": flow_id})).body
        status = rows[0]["status"]
        if status in TERMINAL:
            return status
        reply = await api.get("/healthz", timeout=timeout)
        assert reply.status == 200 and reply.body == {"status": "ok"}
        if status == "RUNNING":
            answered_while_running += 1
        return None

    assert await eventually(ended, timeout=300, what="the loop to end") == "SUCCESS"
    assert answered_while_running >= 5, f"only {answered_while_running} /healthz replies while the loop ran"
    assert (await detail(api, execution_id))["taskRunsTotal"] == 10002


async def test_a_long_loop_stopped_midway_resumes_without_repeating_iterations(server: Server) -> None:
    """Shutdown hands the lease back mid-loop; the next start takes the loop up where it was."""
    flow = loop_flow("resumed-loop", "{{ range(1000) | list }}", child="""name: step
          type: flow.sequential
          properties:
            tasks:
              - {name: nap, type: util.sleep, properties: {duration: 2ms}}
              - {name: echo, type: util.echo, properties: {value: "{{ item * 3 }}"}}""")
    async with server() as api:
        execution_id = await start(api, await save_flow(api, flow))

        async def some_done() -> bool:
            _, done = await all_task_runs(api, execution_id, taskName="echo", status="SUCCESS")
            return done >= 100

        await eventually(some_done, timeout=60, what="100 iterations to finish")
    async with server() as api:
        body = await wait_status(api, execution_id, timeout=300)
        assert body["execution"]["status"] == "SUCCESS", body["execution"]
        echoes, done = await all_task_runs(api, execution_id, taskName="echo", status="SUCCESS")
        assert sorted(r["iteration"] for r in echoes) == list(range(1000)), "no finished iteration ran again"
        assert all(outputs(r) == {"value": 3 * r["iteration"]} for r in echoes)
        _, every_echo = await all_task_runs(api, execution_id, taskName="echo")
        assert every_echo <= 1001, "at most the one cut short by the stop runs twice"
        loops = sorted((r for r in body["tasks"] if r["taskName"] == "each"), key=lambda r: r["attempt"])
        assert len(loops) == 2 and loops[0]["status"] == "CANCELLED", loops
        assert loops[1]["status"] == "SUCCESS" and outputs(loops[1]) == {"count": 1000, "failed": 0}
