"""Who is making a change, for the audit log and for `createdBy`."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Actor:
    name: str
    remote_addr: str | None = None


SYSTEM = Actor("system")
