"""task runs a replay copied from the execution it replays

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('task_runs') as batch:
        batch.add_column(sa.Column('replayed_from', sa.String(length=36), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('task_runs') as batch:
        batch.drop_column('replayed_from')
