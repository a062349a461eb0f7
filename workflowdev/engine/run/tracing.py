"""Tracing as the engine sees it: a tracer that hands out one trace per walk of an execution.

The runner reports two things, a task attempt that ended and an execution that ended, and
nothing while they run: everything a span says (times, status, the masked error) is what the
recorder wrote, so a span can be made the moment its run ends, by whichever node ends it.

Off by default, and then free: `NO_TRACER` hands out `NO_TRACE`, whose methods do nothing, so
the hot path pays one empty call per task. It is on when the standard OpenTelemetry variables
ask for spans (`wanted`); `from_environment` then builds the OpenTelemetry tracer of `otel.py`,
imported only then, so the package runs without the `otel` extra installed.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING
from typing import Any
from typing import Protocol

if TYPE_CHECKING:
    from workflowdev.engine.run.recorder import TaskRunState
    from workflowdev.engine.secrets import SecretMasker

log = logging.getLogger(__name__)

EXPORTERS = ("otlp", "console")
"""The OTEL_TRACES_EXPORTER values a node can export to (besides `none`)."""


class TracingError(Exception):
    """The OTEL_* variables ask for tracing this node cannot do: it refuses to start."""


class ExecutionTrace(Protocol):
    """The spans of one walk of one execution."""

    def task_ended(self, run: TaskRunState) -> None:
        """`run` ended (its status, `finished_at` and masked error are set): its span, now."""

    def execution_ended(self, status: str, error: str | None, at: datetime) -> None:
        """The execution ended with `status`: the span that holds its tasks' spans."""


class Tracer(Protocol):
    def execution(self, execution: Any, started_at: datetime, masker: SecretMasker) -> ExecutionTrace:
        """The trace of a walk of `execution` (its row), which first started at `started_at`.

        `masker` is the execution's: every error passes through it before it is in a span.
        """

    async def shutdown(self) -> None:
        """Export what is still waiting, then stop (the node is stopping)."""


class _NoTrace:
    def task_ended(self, run: TaskRunState) -> None:
        pass

    def execution_ended(self, status: str, error: str | None, at: datetime) -> None:
        pass


class _NoTracer:
    def execution(self, execution: Any, started_at: datetime, masker: SecretMasker) -> ExecutionTrace:
        return NO_TRACE

    async def shutdown(self) -> None:
        pass


NO_TRACE: ExecutionTrace = _NoTrace()
NO_TRACER: Tracer = _NoTracer()


def _value(environ: Mapping[str, str], name: str) -> str:
    return environ.get(name, "").strip()


def exporter_names(environ: Mapping[str, str]) -> list[str]:
    """The exporters OTEL_TRACES_EXPORTER names (a comma-separated list; `otlp` when unset).

    An unknown name is refused rather than skipped: spans that silently go nowhere are what
    an operator who set the variable least expects.
    """
    names = [n.strip().lower() for n in _value(environ, "OTEL_TRACES_EXPORTER").split(",") if n.strip()] or ["otlp"]
    unknown = [n for n in names if n not in (*EXPORTERS, "none")]
    if unknown:
        raise TracingError(
            f"OTEL_TRACES_EXPORTER names {', '.join(unknown)}, which this node cannot export to; "
            f"use {', '.join(EXPORTERS)} or none"
        )
    return [n for n in names if n != "none"]


def wanted(environ: Mapping[str, str]) -> bool:
    """Whether the standard variables ask for spans; never raises, whatever they hold.

    Yes when OTEL_TRACES_EXPORTER names anything but `none`, or, with it unset, when an OTLP
    endpoint is set (the exporter then defaults to `otlp`); OTEL_SDK_DISABLED=true turns
    everything off.
    """
    if _value(environ, "OTEL_SDK_DISABLED").lower() == "true":
        return False
    exporters = _value(environ, "OTEL_TRACES_EXPORTER")
    if exporters:
        return any(n.strip().lower() not in ("", "none") for n in exporters.split(","))
    return bool(_value(environ, "OTEL_EXPORTER_OTLP_ENDPOINT") or _value(environ, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))


def from_environment(instance_id: str | None = None) -> Tracer:
    """The tracer the OTEL_* variables of this process ask for; `instance_id`: this node's id.

    Without the `otel` extra a node that was asked for spans says so once and runs untraced:
    tracing is an aid, and a missing package must not keep the workflows from running.
    """
    if not wanted(os.environ):
        return NO_TRACER
    names = exporter_names(os.environ)
    try:
        from workflowdev.engine.run import otel
    except ImportError as exc:
        log.warning(
            "tracing is asked for (OTEL_* variables) but OpenTelemetry is not installed (%s); "
            "install workflowdev[otel] to export spans. Running without tracing.",
            exc,
        )
        return NO_TRACER
    return otel.exporting_tracer(names, instance_id)
