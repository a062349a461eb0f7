"""the slot ledger: each schedule instant's state, and backfill batches

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('trigger_firings') as batch:
        batch.add_column(sa.Column('state', sa.String(length=16), nullable=True))
    op.execute("UPDATE trigger_firings SET state = 'fired' WHERE scheduled_at IS NOT NULL")
    with op.batch_alter_table('executions') as batch:
        batch.add_column(sa.Column('batch_id', sa.String(length=36), nullable=True))
        batch.add_column(sa.Column('batch_limit', sa.Integer(), nullable=True))
    op.create_index('ix_executions_batch_id_status', 'executions', ['batch_id', 'status'])


def downgrade() -> None:
    op.drop_index('ix_executions_batch_id_status', table_name='executions')
    with op.batch_alter_table('executions') as batch:
        batch.drop_column('batch_limit')
        batch.drop_column('batch_id')
    with op.batch_alter_table('trigger_firings') as batch:
        batch.drop_column('state')
