"""The operations the migrations after the initial schema repeat: columns added to a table, and dropped.

Each runs in `op.batch_alter_table`, as the migrations always have: on SQLite, which cannot alter
most of a table in place, Alembic then copies the table where it must; on PostgreSQL it is a plain
ALTER TABLE. A migration that only adds one column takes its upgrade and its downgrade from
`adding_column`, so the downgrade cannot drift from what the upgrade added.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from alembic import op


def add_columns(table: str, *columns: sa.Column[Any]) -> None:
    """Add `columns` to `table`, in one batch."""
    with op.batch_alter_table(table) as batch:
        for column in columns:
            batch.add_column(column)


def drop_columns(table: str, *names: str) -> None:
    """Drop the columns `names` from `table`, in one batch and in this order."""
    with op.batch_alter_table(table) as batch:
        for name in names:
            batch.drop_column(name)


def adding_column(table: str, column: sa.Column[Any]) -> tuple[Callable[[], None], Callable[[], None]]:
    """The `upgrade` and `downgrade` of a migration that adds `column` to `table` and does nothing else."""

    def upgrade() -> None:
        add_columns(table, column)

    def downgrade() -> None:
        drop_columns(table, column.name)

    return upgrade, downgrade
