"""Schema migrations with Alembic, run on start.

A new database and an old one both come up to date. On PostgreSQL the upgrade runs under an
advisory lock, so when several nodes start at once exactly one migrates and the others wait,
then find nothing left to do. A database already at `SCHEMA_HEAD` is recognised with one query
and without importing Alembic, which keeps start-up fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection
from sqlalchemy import inspect
from sqlalchemy import text

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
SCHEMA_HEAD = "0008"
"""The newest revision in migrations/versions; a test keeps the two in step."""
_ADVISORY_LOCK_KEY = 0x776F726B666C6F77  # "workflow" in ASCII, as a bigint


def alembic_config(connection: Connection | None = None) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(connection: Connection) -> str | None:
    if not inspect(connection).has_table("alembic_version"):
        return None
    return connection.execute(text("SELECT version_num FROM alembic_version")).scalar_one_or_none()


def upgrade_to_head(connection: Connection, target: str = "head") -> None:
    """Upgrade the schema in `connection`'s database to `target` (tests pin older revisions)."""
    if target == "head" and current_revision(connection) == SCHEMA_HEAD:
        return
    from alembic import command

    postgres = connection.dialect.name == "postgresql"
    if postgres:
        connection.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _ADVISORY_LOCK_KEY})
    try:
        if target != "head" or current_revision(connection) != SCHEMA_HEAD:
            command.upgrade(alembic_config(connection), target)
    finally:
        if postgres:
            connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _ADVISORY_LOCK_KEY})
