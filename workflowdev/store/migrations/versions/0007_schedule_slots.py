"""the slot ledger: each schedule instant's state, and backfill batches"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from workflowdev.store.migrations._ops import add_columns
from workflowdev.store.migrations._ops import drop_columns

revision = '0007'
down_revision = '0006'


def upgrade() -> None:
    add_columns('trigger_firings', sa.Column('state', sa.String(length=16), nullable=True))
    op.execute("UPDATE trigger_firings SET state = 'fired' WHERE scheduled_at IS NOT NULL")
    add_columns(
        'executions',
        sa.Column('batch_id', sa.String(length=36), nullable=True),
        sa.Column('batch_limit', sa.Integer(), nullable=True),
    )
    op.create_index('ix_executions_batch_id_status', 'executions', ['batch_id', 'status'])


def downgrade() -> None:
    op.drop_index('ix_executions_batch_id_status', table_name='executions')
    drop_columns('executions', 'batch_limit', 'batch_id')
    drop_columns('trigger_firings', 'state')
