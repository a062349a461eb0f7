"""executions by flow and finish time, for the flow-trigger sweep"""

from __future__ import annotations

from alembic import op

revision = '0003'
down_revision = '0002'


def upgrade() -> None:
    op.create_index('ix_executions_flow_id_finished_at', 'executions', ['flow_id', 'finished_at'])


def downgrade() -> None:
    op.drop_index('ix_executions_flow_id_finished_at', table_name='executions')
