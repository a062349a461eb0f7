"""Tracing: an execution a trace, each task attempt a span exported as it ends, on both databases.

The spans go to an in-memory exporter through the product's own tracer, so what is asserted is
what an OTLP collector would receive: ids, parents, attributes, statuses and times.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace

import aiohttp
import pytest
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

import workflowdev.engine.run
from tests.conftest import Api
from tests.conftest import serving
from tests.engine.flows_helpers import detail
from tests.engine.flows_helpers import eventually
from tests.engine.flows_helpers import run
from tests.engine.flows_helpers import save_flow
from tests.engine.flows_helpers import start
from tests.engine.flows_helpers import wait_status
from tests.support_plugins import registry_with_test_plugins
from workflowdev.config import Settings
from workflowdev.engine.run import otel
from workflowdev.engine.run import tracing
from workflowdev.engine.secrets import SecretMasker
from workflowdev.runtime import Runtime

SECRET = "sk_live_9f8e7d6c5b4a"
EXE = [sys.executable, "-m", "workflowdev.cli"]


@dataclass
class Spans:
    """What the tracers of one test exported (a restarted node has a tracer of its own)."""

    exporters: list[InMemorySpanExporter] = field(default_factory=list)

    def tracer(self) -> otel.OpenTelemetryTracer:
        exporter = InMemorySpanExporter()
        self.exporters.append(exporter)
        return otel.OpenTelemetryTracer([SimpleSpanProcessor(exporter)])

    def of(self, execution_id: str) -> list[ReadableSpan]:
        """The execution's spans, in the order they were exported."""
        return [s for e in self.exporters for s in e.get_finished_spans() if s.attributes[otel.EXECUTION_ID] == execution_id]

    def tasks(self, execution_id: str, name: str) -> list[ReadableSpan]:
        return [s for s in self.of(execution_id) if s.attributes.get(otel.TASK) == name]

    def root(self, execution_id: str) -> ReadableSpan:
        (span,) = [s for s in self.of(execution_id) if otel.TASK not in s.attributes]
        return span


def traced(settings: Settings, spans: Spans) -> AbstractAsyncContextManager[Api]:
    """The real server, with the test plugins and a tracer that exports into `spans`."""
    return serving(settings, spans.tracer())


@pytest.fixture
def spans() -> Spans:
    return Spans()


@pytest.fixture
async def api(settings: Settings, spans: Spans) -> AsyncIterator[Api]:
    async with traced(settings, spans) as running:
        yield running


def _parent(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


def _nanos(text: str) -> int:
    """An API timestamp (milliseconds) in nanoseconds since the epoch."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return round((moment - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds() * 1000) * 1_000_000


STEPS = """
name: steps
tasks:
  - {name: hello, type: util.log, properties: {message: "hello {{ inputs.who }}"}}
  - name: both
    type: flow.parallel
    properties:
      tasks:
        - {name: left, type: util.noop}
        - {name: right, type: util.echo, properties: {value: "{{ inputs.who }}"}}
  - {name: never, type: util.noop, when: "{{ false }}"}
inputs:
  - {name: who, type: string}
"""


async def test_an_execution_is_one_trace_with_a_span_per_task_run_as_recorded(api: Api, spans: Spans) -> None:
    body = await run(api, STEPS, {"who": "private-person"})
    assert body["execution"]["status"] == "SUCCESS", body
    execution_id = body["execution"]["id"]
    root = spans.root(execution_id)
    runs = {t["taskName"]: t for t in body["tasks"]}
    task_spans = {s.attributes[otel.TASK]: s for s in spans.of(execution_id) if s is not root}

    assert sorted(task_spans) == sorted(runs) == ["both", "hello", "left", "never", "right"]
    assert {s.context.trace_id for s in spans.of(execution_id)} == {root.context.trace_id}
    assert root.parent is None and root.name == "default/steps"
    assert dict(root.attributes) == {
        otel.FLOW: "steps",
        otel.NAMESPACE: "default",
        otel.EXECUTION_ID: execution_id,
        otel.REVISION: 1,
        otel.TRIGGER: "manual",
        otel.STATUS: "SUCCESS",
    }
    hello = task_spans["hello"]
    assert hello.name == "hello"
    assert dict(hello.attributes) == {
        otel.FLOW: "steps",
        otel.NAMESPACE: "default",
        otel.EXECUTION_ID: execution_id,
        otel.TASK: "hello",
        otel.TASK_TYPE: "util.log",
        otel.TASK_RUN_ID: runs["hello"]["id"],
        otel.ATTEMPT: 1,
        otel.STATUS: "SUCCESS",
    }
    assert hello.status.status_code == StatusCode.UNSET
    assert (hello.start_time // 1_000_000 * 1_000_000, hello.end_time // 1_000_000 * 1_000_000) == (
        _nanos(runs["hello"]["startedAt"]),
        _nanos(runs["hello"]["finishedAt"]),
    )
    assert task_spans["never"].attributes[otel.STATUS] == "SKIPPED"
    assert _parent(task_spans["left"]) == _parent(task_spans["right"]) == task_spans["both"].context.span_id
    assert {_parent(task_spans[n]) for n in ("hello", "both", "never")} == {root.context.span_id}
    assert root.start_time <= hello.start_time and task_spans["never"].end_time <= root.end_time
    assert "private-person" not in json.dumps([json.loads(s.to_json()) for s in spans.of(execution_id)])


RETRIED = """
name: retried
tasks:
  - name: shaky
    type: test.flaky
    properties: {succeed_on_attempt: 3}
    retry: {max_attempts: 3, delay: 10ms}
"""


async def test_each_attempt_of_a_retried_task_is_its_own_span(api: Api, spans: Spans) -> None:
    body = await run(api, RETRIED)
    assert body["execution"]["status"] == "SUCCESS", body
    attempts = spans.tasks(body["execution"]["id"], "shaky")
    assert [(s.attributes[otel.ATTEMPT], s.attributes[otel.STATUS]) for s in attempts] == [
        (1, "FAILED"),
        (2, "FAILED"),
        (3, "SUCCESS"),
    ]
    assert [s.status.status_code for s in attempts] == [StatusCode.ERROR, StatusCode.ERROR, StatusCode.UNSET]
    assert attempts[1].status.description == attempts[1].attributes[otel.ERROR] == "flaky failure on attempt 2"
    assert len({s.context.span_id for s in attempts}) == 3
    assert attempts[0].end_time <= attempts[1].start_time


FAILING = """
name: refused
tasks:
  - {name: call, type: util.log, properties: {message: "calling with ${SHOP_TOKEN}"}}
  - {name: stop, type: flow.fail, properties: {message: "the shop refused ${SHOP_TOKEN}"}}
"""


async def test_a_failure_is_an_error_span_whose_message_has_its_secrets_masked(api: Api, spans: Spans) -> None:
    assert (await api.post("/api/v1/credentials", json={"name": "SHOP_TOKEN", "value": SECRET})).status == 201
    body = await run(api, FAILING)
    assert body["execution"]["status"] == "FAILED", body
    execution_id = body["execution"]["id"]
    (stop,) = spans.tasks(execution_id, "stop")
    root = spans.root(execution_id)

    assert stop.status.status_code == root.status.status_code == StatusCode.ERROR
    assert stop.status.description == "the shop refused ***"
    assert root.status.description == root.attributes[otel.ERROR] == "stop: the shop refused ***"
    assert root.attributes[otel.STATUS] == "FAILED"
    exported = json.dumps([json.loads(s.to_json()) for s in spans.of(execution_id)])
    assert SECRET not in exported and "***" in exported


async def test_a_subflow_is_a_child_of_its_parent_task_in_the_same_trace(api: Api, spans: Spans) -> None:
    await save_flow(api, "name: grandchild\ntasks:\n  - {name: deepest, type: util.noop}\n")
    await save_flow(api, "name: child\ntasks:\n  - {name: call, type: flow.subflow, properties: {flow: grandchild}}\n")
    body = await run(api, "name: parent\ntasks:\n  - {name: call, type: flow.subflow, properties: {flow: child}}\n")
    assert body["execution"]["status"] == "SUCCESS", body
    parent_id = body["execution"]["id"]
    child_id = json.loads(body["tasks"][0]["outputs"])["execution_id"]
    grandchild_id = json.loads((await detail(api, child_id))["tasks"][0]["outputs"])["execution_id"]

    (parent_call,) = spans.tasks(parent_id, "call")
    (child_call,) = spans.tasks(child_id, "call")
    child_root, grandchild_root = spans.root(child_id), spans.root(grandchild_id)
    (deepest,) = spans.tasks(grandchild_id, "deepest")
    assert _parent(child_root) == parent_call.context.span_id
    assert _parent(grandchild_root) == child_call.context.span_id
    assert _parent(deepest) == grandchild_root.context.span_id
    every = spans.of(parent_id) + spans.of(child_id) + spans.of(grandchild_id)
    assert {s.context.trace_id for s in every} == {spans.root(parent_id).context.trace_id}
    assert child_root.attributes[otel.TRIGGER] == "subflow"


GATED = """
name: gated
tasks:
  - {name: prepare, type: util.log, properties: {message: ready}}
  - {name: gate, type: flow.approval, properties: {message: go?}}
  - {name: ship, type: util.noop}
"""


async def test_a_span_is_exported_when_its_task_ends_not_when_the_execution_does(api: Api, spans: Spans) -> None:
    execution_id = await start(api, await save_flow(api, GATED))
    await wait_status(api, execution_id, {"PAUSED"})
    assert [s.attributes.get(otel.TASK) for s in spans.of(execution_id)] == ["prepare"]

    (approval,) = (await api.get("/api/v1/approvals", params={"status": "PENDING"})).body
    assert (await api.post(f"/api/v1/approvals/{approval['id']}/approve")).status == 200
    assert (await wait_status(api, execution_id))["execution"]["status"] == "SUCCESS"
    root = spans.root(execution_id)
    names = [s.attributes.get(otel.TASK) for s in spans.of(execution_id)]
    assert names == ["prepare", "gate", "ship", None]  # the execution's own span comes last
    assert {_parent(s) for s in spans.of(execution_id) if s is not root} == {root.context.span_id}


async def test_a_retried_execution_starts_a_new_span_in_the_same_trace(api: Api, spans: Spans) -> None:
    flow = "name: once-more\ntasks:\n  - {name: shaky, type: test.flaky, properties: {succeed_on_attempt: 2}}\n"
    body = await run(api, flow)
    assert body["execution"]["status"] == "FAILED", body
    execution_id = body["execution"]["id"]
    assert (await api.post(f"/api/v1/executions/{execution_id}/retry")).status in (200, 202)
    assert (await wait_status(api, execution_id, {"SUCCESS"}))["execution"]["status"] == "SUCCESS"

    roots = [s for s in spans.of(execution_id) if otel.TASK not in s.attributes]
    assert [r.attributes[otel.STATUS] for r in roots] == ["FAILED", "SUCCESS"]
    assert roots[0].context.span_id != roots[1].context.span_id
    first, second = spans.tasks(execution_id, "shaky")
    assert (_parent(first), _parent(second)) == (roots[0].context.span_id, roots[1].context.span_id)
    assert {s.context.trace_id for s in spans.of(execution_id)} == {roots[0].context.trace_id}


NAPPING = """
name: napping
tasks:
  - {name: first, type: util.log, properties: {message: before}}
  - {name: nap, type: util.sleep, properties: {duration: "{{ '60s' if task.attempt == 1 else '10ms' }}"}}
"""


async def test_an_execution_resumed_after_a_restart_continues_its_trace(settings: Settings) -> None:
    spans = Spans()
    async with traced(settings, spans) as api:
        execution_id = await start(api, await save_flow(api, NAPPING))

        async def napping() -> bool:
            return any(t["taskName"] == "nap" and t["status"] == "RUNNING" for t in (await detail(api, execution_id))["tasks"])

        await eventually(napping, what="the nap to be running")
    assert [s.attributes[otel.TASK] for s in spans.of(execution_id)] == ["first"]  # a stop leaves no span open

    async with traced(settings, spans) as api:
        body = await wait_status(api, execution_id)
    assert body["execution"]["status"] == "SUCCESS", body
    root = spans.root(execution_id)
    (first,) = spans.tasks(execution_id, "first")
    naps = spans.tasks(execution_id, "nap")
    assert [(s.attributes[otel.ATTEMPT], s.attributes[otel.STATUS]) for s in naps] == [(1, "CANCELLED"), (2, "SUCCESS")]
    assert "interrupted" in naps[0].attributes[otel.ERROR] and naps[0].status.status_code == StatusCode.UNSET
    assert {s.context.trace_id for s in spans.of(execution_id)} == {root.context.trace_id}
    assert {_parent(s) for s in (first, *naps)} == {root.context.span_id}  # made by the node before the restart too
    assert root.start_time <= first.start_time


# -- when tracing is on, and what it is built from ---------------------------------------------


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, False),
        ({"OTEL_TRACES_EXPORTER": "otlp"}, True),
        ({"OTEL_TRACES_EXPORTER": "console, none"}, True),
        ({"OTEL_TRACES_EXPORTER": " none "}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, True),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_TRACES_EXPORTER": "none"}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_SDK_DISABLED": "TRUE"}, False),
        ({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_SDK_DISABLED": "false"}, True),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "  "}, False),
        ({"OTEL_SERVICE_NAME": "shop", "OTEL_METRICS_EXPORTER": "otlp"}, False),
    ],
)
def test_the_standard_variables_decide_whether_to_trace(environ: dict[str, str], expected: bool) -> None:
    assert tracing.wanted(environ) is expected


OTEL_NAMES = st.sampled_from(
    ["OTEL_TRACES_EXPORTER", "OTEL_SDK_DISABLED", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]
)
OTEL_VALUES = st.sampled_from(["none", "otlp", "console", "true", " TRUE ", "none, otlp", ",", ""])


@hsettings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(OTEL_NAMES | st.text(max_size=8), OTEL_VALUES | st.text(max_size=20)))
def test_any_environment_is_answered_without_an_error(environ: dict[str, str]) -> None:
    answer = tracing.wanted(environ)
    assert isinstance(answer, bool)
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        assert answer is False


def test_an_unknown_exporter_is_refused_by_name() -> None:
    with pytest.raises(tracing.TracingError, match="jaeger.*use otlp, console or none"):
        tracing.exporter_names({"OTEL_TRACES_EXPORTER": "otlp,jaeger"})
    assert tracing.exporter_names({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}) == ["otlp"]
    assert tracing.exporter_names({"OTEL_TRACES_EXPORTER": "Console,none"}) == ["console"]


def test_a_server_asked_for_an_exporter_it_lacks_refuses_to_start(tmp_path: Path) -> None:
    env = {**os.environ, "OTEL_TRACES_EXPORTER": "zipkin"}
    result = subprocess.run(
        [*EXE, "server", "--port", "0", "--data-dir", str(tmp_path)], capture_output=True, text=True, timeout=60, env=env
    )
    assert result.returncode == 2, result.stderr
    assert "OTEL_TRACES_EXPORTER names zipkin" in result.stderr


def test_the_service_is_workflowdev_unless_the_variables_name_it(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES"):
        monkeypatch.delenv(name, raising=False)
    default = otel.service_resource("node-1").attributes
    assert (default["service.name"], default["service.instance.id"]) == ("workflowdev", "node-1")
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "service.name=orders,deployment.environment=prod")
    assert otel.service_resource(None).attributes["service.name"] == "orders"
    monkeypatch.setenv("OTEL_SERVICE_NAME", "shop")
    named = otel.service_resource(None).attributes
    assert (named["service.name"], named["deployment.environment"]) == ("shop", "prod")


def test_a_trace_the_sampler_leaves_out_makes_no_spans(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "always_off")
    exporter = InMemorySpanExporter()
    tracer = otel.OpenTelemetryTracer([SimpleSpanProcessor(exporter)])
    execution = SimpleNamespace(
        id="e1", namespace="default", flow_name="f", flow_revision=1, trigger=None, parent_task_run_id=None
    )
    trace = tracer.execution(execution, datetime.now(UTC), SecretMasker())
    trace.execution_ended("SUCCESS", None, datetime.now(UTC))
    assert trace is tracing.NO_TRACE and exporter.get_finished_spans() == ()


def test_ids_are_derived_so_every_node_computes_the_same() -> None:
    started = datetime(2030, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    child = SimpleNamespace(id="c", trigger={"type": "subflow", "executionId": "p", "rootExecutionId": "r"})
    assert otel.trace_id_of(child) == otel.trace_id_of(SimpleNamespace(id="r", trigger={"type": "manual"}))
    assert otel.execution_span_id("e", started) == otel.execution_span_id("e", started.astimezone())
    assert otel.execution_span_id("e", started) != otel.execution_span_id("e", started.replace(microsecond=0))
    assert otel.task_span_id("run-1") != otel.task_span_id("run-2")
    assert otel.trace_id_of(child).bit_length() > 64  # all 128 bits are used


async def test_without_the_extra_a_node_asked_for_spans_says_so_and_runs_untraced(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry", None)  # as if the extra were not installed
    monkeypatch.delitem(sys.modules, "workflowdev.engine.run.otel")
    monkeypatch.delattr(workflowdev.engine.run, "otel")
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "console")
    caplog.set_level(logging.WARNING, logger="workflowdev.engine.run.tracing")
    runtime = Runtime(settings, registry=registry_with_test_plugins())
    await runtime.start()
    try:
        assert runtime.engine is not None and runtime.engine.deps.tracer is tracing.NO_TRACER
        async with aiohttp.ClientSession() as session:
            body = await run(Api(runtime.base_url, session, runtime), STEPS, {"who": "x"})
    finally:
        await runtime.stop()
    assert body["execution"]["status"] == "SUCCESS"
    assert any("install workflowdev[otel]" in r.getMessage() for r in caplog.records)


def test_the_package_imports_and_stays_untraced_without_opentelemetry() -> None:
    script = (
        "import sys; sys.modules['opentelemetry'] = None\n"
        "import workflowdev.cli.main, workflowdev.runtime, workflowdev.local_run\n"
        "from workflowdev.engine.run import tracing\n"
        "assert tracing.from_environment('n') is tracing.NO_TRACER\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 0, result.stderr
