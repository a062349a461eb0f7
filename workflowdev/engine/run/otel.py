"""The OpenTelemetry tracer: an execution a trace, each task attempt a span, exported as it ends.

Imported only when tracing is asked for (`tracing.from_environment`): the package runs without
the `otel` extra.

A span is made when what it describes has ended, from what the runner recorded (start and end,
status, the masked error), and handed to the span processor at once, so an exporter sees each
attempt as it ends rather than the whole execution at its end. Nothing is held open while tasks
run: a walk that stops (a park, a shutdown, a lost lease) leaves no span behind, and the walk
that takes the execution up, on this node or another, makes the spans that are left.

That works because every id is derived, not drawn: the trace's from the execution the tree of
subflows started from, a task span's from its task run's id, the execution span's from the
execution's id and its start (a retry starts it again, with a span of its own). Any node
computes the same ids, so a resumed execution continues its trace, and a subflow's execution
span is the child of its parent task's span without anyone passing a context along. The SDK
asks its id generator for a new span's ids; `_DerivedIds` answers the ones derived for it.

What a span holds is listed in `TASK_ATTRIBUTES` and `EXECUTION_ATTRIBUTES`: names, ids,
attempt and status, and the error after the execution's masker. Never inputs, outputs, rendered
properties or log lines: those may hold secrets or personal data.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import Iterable
from collections.abc import Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import SERVICE_INSTANCE_ID
from opentelemetry.sdk.resources import SERVICE_NAME
from opentelemetry.sdk.resources import SERVICE_VERSION
from opentelemetry.sdk.resources import OTELResourceDetector
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.export import ConsoleSpanExporter
from opentelemetry.sdk.trace.export import SpanExporter
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.trace import NonRecordingSpan
from opentelemetry.trace import SpanContext
from opentelemetry.trace import Status
from opentelemetry.trace import StatusCode
from opentelemetry.trace import TraceFlags
from opentelemetry.util.types import AttributeValue

import workflowdev
from workflowdev.engine.run.lifecycle import ExecutionStatus
from workflowdev.engine.run.lifecycle import TaskStatus
from workflowdev.engine.run.recorder import TaskRunState
from workflowdev.engine.run.tracing import NO_TRACE
from workflowdev.engine.run.tracing import ExecutionTrace
from workflowdev.engine.run.tracing import TracingError
from workflowdev.engine.run.walk import root_execution_id
from workflowdev.engine.secrets import SecretMasker

DEFAULT_SERVICE_NAME = "workflowdev"
MAX_ERROR_CHARS = 4096
"""Characters of an error a span carries (the task run keeps it whole): a span is meant to be
small, and an error can be a page of a failed command's output."""
FAILED = frozenset({TaskStatus.FAILED, TaskStatus.TIMED_OUT, ExecutionStatus.FAILED, ExecutionStatus.TIMED_OUT})
"""Statuses whose span has status ERROR; a cancelled or skipped run did not fail."""

FLOW, NAMESPACE, EXECUTION_ID = "workflowdev.flow", "workflowdev.namespace", "workflowdev.execution_id"
TASK, TASK_TYPE, TASK_RUN_ID = "workflowdev.task", "workflowdev.task_type", "workflowdev.task_run_id"
ATTEMPT, ITERATION, STATUS, ERROR = "workflowdev.attempt", "workflowdev.iteration", "workflowdev.status", "workflowdev.error"
REVISION, TRIGGER = "workflowdev.flow_revision", "workflowdev.trigger"
TASK_ATTRIBUTES = (FLOW, NAMESPACE, EXECUTION_ID, TASK, TASK_TYPE, TASK_RUN_ID, ATTEMPT, ITERATION, STATUS, ERROR)
EXECUTION_ATTRIBUTES = (FLOW, NAMESPACE, EXECUTION_ID, REVISION, TRIGGER, STATUS, ERROR)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NEXT_IDS: ContextVar[tuple[int, int] | None] = ContextVar("workflowdev_next_span_ids", default=None)
"""(trace id, span id) of the span being started, for `_DerivedIds`; set only around `start_span`."""


class _DerivedIds(IdGenerator):
    """Answers the ids derived for the span being started; random ones for any other span."""

    def __init__(self) -> None:
        self._random = RandomIdGenerator()

    def generate_span_id(self) -> int:
        ids = _NEXT_IDS.get()
        return ids[1] if ids is not None else self._random.generate_span_id()

    def generate_trace_id(self) -> int:
        ids = _NEXT_IDS.get()
        return ids[0] if ids is not None else self._random.generate_trace_id()


def derived_id(bits: int, *parts: str) -> int:
    """A non-zero id of `bits` bits named by `parts`: the same on every node, for ever."""
    digest = hashlib.blake2b("\x1f".join(parts).encode(), digest_size=bits // 8, person=b"workflowdev-otel").digest()
    return int.from_bytes(digest, "big") or 1


def trace_id_of(execution: Any) -> int:
    return derived_id(128, "trace", root_execution_id(execution))


def task_span_id(task_run_id: str) -> int:
    return derived_id(64, "task", task_run_id)


def execution_span_id(execution_id: str, started_at: datetime) -> int:
    return derived_id(64, "execution", execution_id, started_at.astimezone(UTC).isoformat())


def _nanos(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(microseconds=1) * 1000


def service_resource(instance_id: str | None) -> Resource:
    """What the SDK finds (OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES, its detectors), with
    our name and this node's id where the variables give none: the SDK's own defaults for
    those (`unknown_service`, a random instance id) would say nothing about this node."""
    found = Resource.create()
    named = OTELResourceDetector().detect().attributes
    attributes = dict(found.attributes)
    if SERVICE_NAME not in named:
        attributes[SERVICE_NAME] = DEFAULT_SERVICE_NAME
    if instance_id is not None and SERVICE_INSTANCE_ID not in named:
        attributes[SERVICE_INSTANCE_ID] = instance_id
    attributes.setdefault(SERVICE_VERSION, workflowdev.__version__)
    return Resource(attributes, found.schema_url)


class OpenTelemetryTracer:
    """Spans through a provider of its own (never the global one: that belongs to the host
    application when workflowdev is embedded), handed to `processors` as they end."""

    def __init__(self, processors: Iterable[SpanProcessor], resource: Resource | None = None) -> None:
        self._provider = TracerProvider(
            resource=resource if resource is not None else service_resource(None),
            id_generator=_DerivedIds(),
            shutdown_on_exit=False,  # the engine's stop shuts it down, after its last span
        )
        for processor in processors:
            self._provider.add_span_processor(processor)
        self._tracer = self._provider.get_tracer("workflowdev", workflowdev.__version__)

    def execution(self, execution: Any, started_at: datetime, masker: SecretMasker) -> ExecutionTrace:
        """No spans at all for a trace the sampler (OTEL_TRACES_SAMPLER) leaves out: it decides
        once, for the trace's root, and every span of the trace follows that decision."""
        trace_id = trace_id_of(execution)
        name = f"{execution.namespace}/{execution.flow_name}"
        if not self._provider.sampler.should_sample(Context(), trace_id, name).decision.is_sampled():
            return NO_TRACE
        parent = execution.parent_task_run_id
        return _ExecutionSpans(
            tracer=self._tracer,
            trace_id=trace_id,
            span_id=execution_span_id(execution.id, started_at),
            parent_span_id=task_span_id(parent) if parent else None,
            name=name,
            started_at=started_at,
            masker=masker,
            common={FLOW: execution.flow_name, NAMESPACE: execution.namespace, EXECUTION_ID: execution.id},
            own={REVISION: execution.flow_revision, TRIGGER: str((execution.trigger or {}).get("type", "manual"))},
        )

    async def shutdown(self) -> None:
        """In a thread: a batch processor's last export may wait for its collector."""
        await asyncio.to_thread(self._provider.shutdown)


@dataclass
class _ExecutionSpans:
    tracer: trace.Tracer
    trace_id: int
    span_id: int
    parent_span_id: int | None
    """The span of the subflow task that started this execution, if one did."""
    name: str
    started_at: datetime
    masker: SecretMasker
    common: dict[str, AttributeValue]
    """What every span of this execution says."""
    own: dict[str, AttributeValue]
    """What only the execution's span says."""

    def task_ended(self, run: TaskRunState) -> None:
        attributes = {
            **self.common,
            TASK: run.task_name,
            TASK_TYPE: run.task_type,
            TASK_RUN_ID: run.id,
            ATTEMPT: run.attempt,
            STATUS: run.status,
        }
        if run.iteration is not None:
            attributes[ITERATION] = run.iteration
        parent = task_span_id(run.parent_id) if run.parent_id else self.span_id
        ended = run.finished_at or run.started_at
        self._emit(run.task_name, task_span_id(run.id), parent, run.started_at, ended, run.status, run.error, attributes)

    def execution_ended(self, status: str, error: str | None, at: datetime) -> None:
        attributes = {**self.common, **self.own, STATUS: status}
        self._emit(self.name, self.span_id, self.parent_span_id, self.started_at, at, status, error, attributes)

    def _emit(
        self,
        name: str,
        span_id: int,
        parent_span_id: int | None,
        started: datetime,
        ended: datetime,
        status: str,
        error: str | None,
        attributes: dict[str, AttributeValue],
    ) -> None:
        """Start and end one span at the recorded times, under the ids derived for it."""
        context = Context()
        if parent_span_id is not None:
            parent = SpanContext(self.trace_id, parent_span_id, is_remote=True, trace_flags=TraceFlags(TraceFlags.SAMPLED))
            context = trace.set_span_in_context(NonRecordingSpan(parent), context)
        text = self.masker.mask(error)[:MAX_ERROR_CHARS] if error else None
        if text:
            attributes[ERROR] = text
        token = _NEXT_IDS.set((self.trace_id, span_id))
        try:
            span = self.tracer.start_span(name, context, attributes=attributes, start_time=_nanos(started))
        finally:
            _NEXT_IDS.reset(token)
        if status in FAILED:
            span.set_status(Status(StatusCode.ERROR, text))
        span.end(end_time=_nanos(ended))


def _exporter(name: str) -> SpanExporter:
    """The exporter `name` stands for, configured by the SDK from its own OTEL_* variables."""
    if name == "console":
        return ConsoleSpanExporter()
    protocol = _protocol()
    if protocol == "grpc":
        try:
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
        except ImportError:
            raise TracingError(
                "OTEL_EXPORTER_OTLP_PROTOCOL is grpc, which needs opentelemetry-exporter-otlp-proto-grpc "
                "installed; install it, or use http/protobuf"
            ) from None
        return GrpcExporter()
    if protocol != "http/protobuf":
        raise TracingError(f"OTEL_EXPORTER_OTLP_PROTOCOL is {protocol}; this node speaks http/protobuf or grpc")
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()


def _protocol() -> str:
    for variable in ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"):
        value = os.environ.get(variable, "").strip().lower()
        if value:
            return value
    return "http/protobuf"


def exporting_tracer(exporters: Sequence[str], instance_id: str | None) -> OpenTelemetryTracer:
    """A tracer exporting to each of `exporters` in the background (OTEL_BSP_* tune the
    batches), so an export never holds up a runner."""
    processors = [BatchSpanProcessor(_exporter(name)) for name in exporters]
    return OpenTelemetryTracer(processors, service_resource(instance_id))
