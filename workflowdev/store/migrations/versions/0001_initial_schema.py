"""initial schema"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import workflowdev.store.types

revision = '0001'
down_revision = None


def upgrade() -> None:
    op.create_table('audit_entries',
    sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('at', workflowdev.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=128), nullable=False),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('resource_type', sa.String(length=32), nullable=False),
    sa.Column('resource_id', sa.String(length=255), nullable=True),
    sa.Column('details', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('remote_addr', sa.String(length=64), nullable=True),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_audit_entries')),
    sa.UniqueConstraint('id', name=op.f('uq_audit_entries_id'))
    )
    with op.batch_alter_table('audit_entries', schema=None) as batch_op:
        batch_op.create_index('ix_audit_entries_action_seq', ['action', 'seq'], unique=False)
        batch_op.create_index('ix_audit_entries_actor_seq', ['actor', 'seq'], unique=False)

    op.create_table('credentials',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('nonce', sa.LargeBinary(), nullable=False),
    sa.Column('ciphertext', sa.LargeBinary(), nullable=False),
    sa.Column('key_id', sa.String(length=64), nullable=False),
    sa.Column('created_at', workflowdev.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', workflowdev.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_credentials')),
    sa.UniqueConstraint('name', name=op.f('uq_credentials_name'))
    )
    op.create_table('flows',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('namespace', sa.String(length=128), nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('yaml_content', sa.Text(), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('tasks_total', sa.Integer(), nullable=False),
    sa.Column('created_at', workflowdev.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', workflowdev.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('deleted_at', workflowdev.store.types.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_flows'))
    )
    with op.batch_alter_table('flows', schema=None) as batch_op:
        batch_op.create_index('ix_flows_name', ['name'], unique=False)
        batch_op.create_index('uq_flows_live_namespace_name', ['namespace', 'name'], unique=True, sqlite_where=sa.text('deleted_at IS NULL'), postgresql_where=sa.text('deleted_at IS NULL'))

    op.create_table('kv_entries',
    sa.Column('namespace', sa.String(length=128), nullable=False),
    sa.Column('key', sa.String(length=512), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.Column('updated_at', workflowdev.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', workflowdev.store.types.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('namespace', 'key', name=op.f('pk_kv_entries'))
    )
    with op.batch_alter_table('kv_entries', schema=None) as batch_op:
        batch_op.create_index('ix_kv_entries_expires_at', ['expires_at'], unique=False)

    op.create_table('nodes',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('address', sa.String(length=255), nullable=True),
    sa.Column('roles', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('version', sa.String(length=32), nullable=False),
    sa.Column('started_at', workflowdev.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('heartbeat_at', workflowdev.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_nodes'))
    )
    with op.batch_alter_table('nodes', schema=None) as batch_op:
        batch_op.create_index('ix_nodes_heartbeat_at', ['heartbeat_at'], unique=False)

    op.create_table('users',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('username', sa.String(length=128), nullable=False),
    sa.Column('password_hash', sa.String(length=512), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('created_at', workflowdev.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', workflowdev.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('username', name=op.f('uq_users_username'))
    )
    op.create_table('executions',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('flow_id', sa.String(length=36), nullable=False),
    sa.Column('flow_name', sa.String(length=128), nullable=False),
    sa.Column('namespace', sa.String(length=128), nullable=False),
    sa.Column('flow_revision', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('tasks_total', sa.Integer(), nullable=False),
    sa.Column('tasks_executed', sa.Integer(), nullable=False),
    sa.Column('inputs', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('labels', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('trigger', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('outputs', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('parent_execution_id', sa.String(length=36), nullable=True),
    sa.Column('parent_task_run_id', sa.String(length=36), nullable=True),
    sa.Column('created_at', workflowdev.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('started_at', workflowdev.store.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('finished_at', workflowdev.store.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('duration_ms', sa.BigInteger(), nullable=True),
    sa.Column('lease_owner', sa.String(length=64), nullable=True),
    sa.Column('lease_expires_at', workflowdev.store.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('cancel_requested', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['flow_id'], ['flows.id'], name=op.f('fk_executions_flow_id_flows')),
    sa.ForeignKeyConstraint(['parent_execution_id'], ['executions.id'], name=op.f('fk_executions_parent_execution_id_executions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_executions'))
    )
    with op.batch_alter_table('executions', schema=None) as batch_op:
        batch_op.create_index('ix_executions_created_at', ['created_at'], unique=False)
        batch_op.create_index('ix_executions_flow_id_created_at', ['flow_id', 'created_at'], unique=False)
        batch_op.create_index('ix_executions_namespace_created_at', ['namespace', 'created_at'], unique=False)
        batch_op.create_index('ix_executions_parent_execution_id', ['parent_execution_id'], unique=False)
        batch_op.create_index('ix_executions_status_created_at', ['status', 'created_at'], unique=False)
        batch_op.create_index('ix_executions_status_lease_expires_at', ['status', 'lease_expires_at'], unique=False)

    op.create_table('flow_revisions',
    sa.Column('flow_id', sa.String(length=36), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('yaml_content', sa.Text(), nullable=False),
    sa.Column('created_at', workflowdev.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=128), nullable=True),
    sa.ForeignKeyConstraint(['flow_id'], ['flows.id'], name=op.f('fk_flow_revisions_flow_id_flows'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('flow_id', 'revision', name=op.f('pk_flow_revisions'))
    )
    op.create_table('triggers',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('flow_id', sa.String(length=36), nullable=False),
    sa.Column('type', sa.String(length=16), nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('config', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('webhook_key', sa.String(length=128), nullable=True),
    sa.Column('upstream_flow_id', sa.String(length=36), nullable=True),
    sa.Column('from_yaml', sa.Boolean(), nullable=False),
    sa.Column('created_at', workflowdev.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', workflowdev.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_fired_at', workflowdev.store.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('next_fire_at', workflowdev.store.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['flow_id'], ['flows.id'], name=op.f('fk_triggers_flow_id_flows'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_triggers')),
    sa.UniqueConstraint('webhook_key', name=op.f('uq_triggers_webhook_key'))
    )
    with op.batch_alter_table('triggers', schema=None) as batch_op:
        batch_op.create_index('ix_triggers_flow_id', ['flow_id'], unique=False)
        batch_op.create_index('ix_triggers_type_enabled_next_fire_at', ['type', 'enabled', 'next_fire_at'], unique=False)
        batch_op.create_index('ix_triggers_upstream_flow_id', ['upstream_flow_id'], unique=False)

    op.create_table('approvals',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('execution_id', sa.String(length=36), nullable=False),
    sa.Column('task_run_id', sa.String(length=36), nullable=False),
    sa.Column('flow_id', sa.String(length=36), nullable=False),
    sa.Column('task_name', sa.String(length=128), nullable=False),
    sa.Column('message', sa.Text(), nullable=True),
    sa.Column('context', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', workflowdev.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', workflowdev.store.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('decided_at', workflowdev.store.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('decided_by', sa.String(length=128), nullable=True),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['execution_id'], ['executions.id'], name=op.f('fk_approvals_execution_id_executions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_approvals'))
    )
    with op.batch_alter_table('approvals', schema=None) as batch_op:
        batch_op.create_index('ix_approvals_execution_id', ['execution_id'], unique=False)
        batch_op.create_index('ix_approvals_status_created_at', ['status', 'created_at'], unique=False)
        batch_op.create_index('ix_approvals_status_expires_at', ['status', 'expires_at'], unique=False)

    op.create_table('logs',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('execution_id', sa.String(length=36), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('task_run_id', sa.String(length=36), nullable=True),
    sa.Column('task_name', sa.String(length=128), nullable=True),
    sa.Column('attempt', sa.Integer(), nullable=True),
    sa.Column('ts', workflowdev.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('level', sa.String(length=8), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['execution_id'], ['executions.id'], name=op.f('fk_logs_execution_id_executions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_logs')),
    sa.UniqueConstraint('execution_id', 'seq', name=op.f('uq_logs_execution_id_seq'))
    )
    op.create_table('task_runs',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('execution_id', sa.String(length=36), nullable=False),
    sa.Column('parent_id', sa.String(length=36), nullable=True),
    sa.Column('key', sa.String(length=512), nullable=False),
    sa.Column('task_name', sa.String(length=128), nullable=False),
    sa.Column('task_type', sa.String(length=128), nullable=False),
    sa.Column('iteration', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempt', sa.Integer(), nullable=False),
    sa.Column('outputs', sa.Text(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('started_at', workflowdev.store.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('finished_at', workflowdev.store.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('duration_ms', sa.BigInteger(), nullable=True),
    sa.ForeignKeyConstraint(['execution_id'], ['executions.id'], name=op.f('fk_task_runs_execution_id_executions'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['parent_id'], ['task_runs.id'], name=op.f('fk_task_runs_parent_id_task_runs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_task_runs'))
    )
    with op.batch_alter_table('task_runs', schema=None) as batch_op:
        batch_op.create_index('ix_task_runs_execution_id_key', ['execution_id', 'key'], unique=False)
        batch_op.create_index('ix_task_runs_parent_id', ['parent_id'], unique=False)

    op.create_table('trigger_firings',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('trigger_id', sa.String(length=36), nullable=False),
    sa.Column('scheduled_at', workflowdev.store.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('idempotency_key', sa.String(length=255), nullable=True),
    sa.Column('fired_at', workflowdev.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('execution_id', sa.String(length=36), nullable=True),
    sa.ForeignKeyConstraint(['trigger_id'], ['triggers.id'], name=op.f('fk_trigger_firings_trigger_id_triggers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_trigger_firings')),
    sa.UniqueConstraint('trigger_id', 'idempotency_key', name=op.f('uq_trigger_firings_trigger_id_idempotency_key')),
    sa.UniqueConstraint('trigger_id', 'scheduled_at', name=op.f('uq_trigger_firings_trigger_id_scheduled_at'))
    )
    with op.batch_alter_table('trigger_firings', schema=None) as batch_op:
        batch_op.create_index('ix_trigger_firings_fired_at', ['fired_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('trigger_firings', schema=None) as batch_op:
        batch_op.drop_index('ix_trigger_firings_fired_at')

    op.drop_table('trigger_firings')
    with op.batch_alter_table('task_runs', schema=None) as batch_op:
        batch_op.drop_index('ix_task_runs_parent_id')
        batch_op.drop_index('ix_task_runs_execution_id_key')

    op.drop_table('task_runs')
    op.drop_table('logs')
    with op.batch_alter_table('approvals', schema=None) as batch_op:
        batch_op.drop_index('ix_approvals_status_expires_at')
        batch_op.drop_index('ix_approvals_status_created_at')
        batch_op.drop_index('ix_approvals_execution_id')

    op.drop_table('approvals')
    with op.batch_alter_table('triggers', schema=None) as batch_op:
        batch_op.drop_index('ix_triggers_upstream_flow_id')
        batch_op.drop_index('ix_triggers_type_enabled_next_fire_at')
        batch_op.drop_index('ix_triggers_flow_id')

    op.drop_table('triggers')
    op.drop_table('flow_revisions')
    with op.batch_alter_table('executions', schema=None) as batch_op:
        batch_op.drop_index('ix_executions_status_lease_expires_at')
        batch_op.drop_index('ix_executions_status_created_at')
        batch_op.drop_index('ix_executions_parent_execution_id')
        batch_op.drop_index('ix_executions_namespace_created_at')
        batch_op.drop_index('ix_executions_flow_id_created_at')
        batch_op.drop_index('ix_executions_created_at')

    op.drop_table('executions')
    op.drop_table('users')
    with op.batch_alter_table('nodes', schema=None) as batch_op:
        batch_op.drop_index('ix_nodes_heartbeat_at')

    op.drop_table('nodes')
    with op.batch_alter_table('kv_entries', schema=None) as batch_op:
        batch_op.drop_index('ix_kv_entries_expires_at')

    op.drop_table('kv_entries')
    with op.batch_alter_table('flows', schema=None) as batch_op:
        batch_op.drop_index('uq_flows_live_namespace_name', sqlite_where=sa.text('deleted_at IS NULL'), postgresql_where=sa.text('deleted_at IS NULL'))
        batch_op.drop_index('ix_flows_name')

    op.drop_table('flows')
    op.drop_table('credentials')
    with op.batch_alter_table('audit_entries', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_entries_actor_seq')
        batch_op.drop_index('ix_audit_entries_action_seq')

    op.drop_table('audit_entries')
