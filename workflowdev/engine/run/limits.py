"""What one execution may take from its node, so a single flow cannot take the node down.

A loop over a million elements or a task returning a gigabyte would otherwise fill the server's
memory and stall its event loop (and with it `/healthz` and every other execution). The operator
sets these (`max_foreach_items`, `max_output_bytes`, `max_task_runs` in `config.Settings`); the
task that would cross one fails with an error naming the limit and its setting, before the
work is done, and the node goes on serving.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RunLimits:
    max_foreach_items: int = 100_000
    """Elements one `flow.foreach` may iterate over: a longer `items` fails the loop at once."""
    max_output_bytes: int = 16 * 1024 * 1024
    """JSON bytes of one task's outputs; above the 10 MiB an http.* response body may hold.
    The execution's own outputs (every task's, loops' lists included) are kept to it too."""
    max_task_runs: int = 500_000
    """Task runs one execution may record: every attempt, skip and loop iteration, over all its
    walks (resumes and retries count what is already recorded). `errors` and `finally` still
    run past it, so a flow can report the failure."""
