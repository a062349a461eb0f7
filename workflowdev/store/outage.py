"""Loops that keep trying while the database is away: back off, and say so once.

A node that loses its database must not flood its log with one traceback per attempt, nor
hammer a server that is restarting. Each loop that talks to the database holds an `Outage`:
the first failure is logged as a warning, the recovery once as info, and in between the loop
waits a little longer after each failed attempt.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

FIRST_DELAY = 0.25
"""Seconds to wait after the first failure; it doubles with each failure after that."""
MAX_DELAY = 5.0
"""The longest wait between attempts: a database back after a restart is noticed soon."""


@dataclass
class Outage:
    log: logging.Logger
    what: str
    """What stops while the database is away, for the log lines ("claiming executions")."""
    failures: int = 0

    @property
    def ongoing(self) -> bool:
        return self.failures > 0

    def failed(self, exc: BaseException) -> float:
        """Record a failed attempt; returns the seconds to wait before the next one."""
        self.failures += 1
        if self.failures == 1:
            self.log.warning("database unavailable, %s paused until it answers: %s", self.what, exc)
        return min(MAX_DELAY, FIRST_DELAY * 2 ** (self.failures - 1))

    def succeeded(self) -> None:
        if self.failures:
            self.log.info("database answers again after %d failed attempts: %s resumed", self.failures, self.what)
        self.failures = 0
