"""A flow test written from a past execution: its inputs, what its outside world answered, and
what it did, so running the test against a changed flow shows what the change changed.

Tasks that talk to the outside world (every type but `flow.*`, `util.*`, `data.*` and `crypto.*`;
`flow.subflow` too, whose child flow the test's throwaway engine does not have) become mocks
answering their recorded outputs, or failing with their recorded error. Every task's last status
and the outputs of the others become the expectations. A mock is by task name: inside a loop
the first iteration's answer stands for all of them.
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp

from workflowdev.flowtest.run import latest_runs
from workflowdev.store.statuses import TaskStatus

PURE_FAMILIES = ("flow.", "util.", "data.", "crypto.")
PAGE = 1_000


class RecordError(Exception):
    """The execution could not be read from the server; the message says why."""


def is_external(task_type: str) -> bool:
    return task_type == "flow.subflow" or not task_type.startswith(PURE_FAMILIES)


async def fetch(server: str, execution_id: str, token: str | None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The execution and all its task runs, a page at a time."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    base = server.rstrip("/") + "/api/v1"
    async with aiohttp.ClientSession(headers=headers) as session:
        execution = (await _get(session, f"{base}/executions/{execution_id}"))["execution"]
        runs: list[dict[str, Any]] = []
        while True:
            page = await _get(session, f"{base}/executions/{execution_id}/tasks", limit=str(PAGE), offset=str(len(runs)))
            runs.extend(page)
            if len(page) < PAGE:
                return execution, runs


async def _get(session: aiohttp.ClientSession, url: str, **params: str) -> Any:
    try:
        async with session.get(url, params=params) as reply:
            body = await reply.json(content_type=None)
            if reply.status != 200:
                message = body.get("error", {}).get("message") if isinstance(body, dict) else body
                raise RecordError(f"{url}: {reply.status} {message}")
            return body
    except aiohttp.ClientError as exc:
        raise RecordError(f"cannot reach {url}: {exc}") from None
    except ValueError:  # not JSON: not a workflowdev server (a proxy's error page, say)
        raise RecordError(f"{url} did not answer as a workflowdev server") from None


def recorded_test(execution: dict[str, Any], runs: list[dict[str, Any]], flow: str | dict[str, str]) -> dict[str, Any]:
    """The test file (as data) that expects what `execution` did, its outside world mocked."""
    mocks: dict[str, Any] = {}
    tasks: dict[str, Any] = {}
    for key, run in latest_runs(runs).items():
        outputs = json.loads(run["outputs"]) if run["outputs"] else {}
        if is_external(run["taskType"]):
            if run["taskName"] not in mocks and run["status"] in (TaskStatus.SUCCESS, TaskStatus.FAILED):
                succeeded = run["status"] == TaskStatus.SUCCESS
                mocks[run["taskName"]] = {"outputs": outputs} if succeeded else {"error": run["error"] or "failed"}
            tasks[key] = {"status": run["status"]}
        else:
            tasks[key] = {"status": run["status"], **({"outputs": outputs} if outputs else {})}
    test: dict[str, Any] = {"name": f"as execution {execution['id']} ran"}
    if execution.get("inputs"):
        test["inputs"] = execution["inputs"]
    if mocks:
        test["mocks"] = mocks
    test["expect"] = {"status": execution["status"], "tasks": tasks}
    return {"flow": flow, "tests": [test]}


async def stored_flow(server: str, namespace: str, name: str, token: str | None) -> str:
    """The current YAML of a flow saved on the server (a test file's `flow: {namespace, name}`)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession(headers=headers) as session:
        flows = await _get(session, server.rstrip("/") + "/api/v1/flows", namespace=namespace, q=name)
    for flow in flows:
        if flow["name"] == name and flow["namespace"] == namespace:
            return str(flow["yamlContent"])
    raise RecordError(f"no flow {namespace}/{name} on {server}")
