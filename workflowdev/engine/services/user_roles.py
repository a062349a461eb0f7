"""What a user may do, weakest first: each role may do everything the roles before it may.

Apart from the user service so that the command line can offer the roles without loading it.
"""

from __future__ import annotations

ROLES = ("viewer", "executor", "editor", "admin")
RANK = {role: rank for rank, role in enumerate(ROLES)}
