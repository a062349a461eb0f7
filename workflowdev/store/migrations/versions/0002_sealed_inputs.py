"""sealed inputs of executions started with a parent's secrets"""

from __future__ import annotations

import sqlalchemy as sa

from workflowdev.store.migrations._ops import adding_column

revision = '0002'
down_revision = '0001'

upgrade, downgrade = adding_column('executions', sa.Column('sealed_inputs', sa.Text(), nullable=True))
