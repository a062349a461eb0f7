"""Named crash points, for tests that must stop the process at one exact step.

Some promises are about a crash between two steps ("a flow trigger fires exactly once even
when the node dies right after its upstream execution ended"). No signal sent from outside
lands reliably between two steps that are milliseconds apart, so the process stops itself:
`WORKFLOWDEV_FAILPOINTS=flow-trigger.before-fire` makes `reached("flow-trigger.before-fire")`
kill the process with SIGKILL, as an OOM kill or a power cut would. Unset, a failpoint costs a
set lookup.
"""

from __future__ import annotations

import os
import signal

ENV = "WORKFLOWDEV_FAILPOINTS"
_ARMED = frozenset(filter(None, (name.strip() for name in os.environ.get(ENV, "").split(","))))


def reached(name: str) -> None:
    if name in _ARMED:
        os.kill(os.getpid(), signal.SIGKILL)
