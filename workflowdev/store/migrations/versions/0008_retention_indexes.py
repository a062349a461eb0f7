"""retention: the indexes the purge pages on (ended executions, old log lines, old audit entries)"""

from __future__ import annotations

from alembic import op

revision = '0008'
down_revision = '0007'


def upgrade() -> None:
    op.create_index('ix_executions_finished_at_id', 'executions', ['finished_at', 'id'])
    op.create_index('ix_logs_ts_id', 'logs', ['ts', 'id'])
    op.create_index('ix_audit_entries_at_seq', 'audit_entries', ['at', 'seq'])


def downgrade() -> None:
    op.drop_index('ix_audit_entries_at_seq', table_name='audit_entries')
    op.drop_index('ix_logs_ts_id', table_name='logs')
    op.drop_index('ix_executions_finished_at_id', table_name='executions')
