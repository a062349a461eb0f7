"""Roles as the console sees them: which actions to offer, so nothing offered is then refused.

The server stays the judge (it checks every request); this only keeps a viewer from being shown
keys that would end in a 403.
"""

from __future__ import annotations

ROLES = ("viewer", "executor", "editor", "admin")
"""Hierarchical, as in API.md: each role may do all that those before it may."""


def role_allows(role: str | None, needed: str) -> bool:
    if role not in ROLES:
        return False
    return ROLES.index(role) >= ROLES.index(needed)
