"""task runs a replay copied from the execution it replays"""

from __future__ import annotations

import sqlalchemy as sa

from workflowdev.store.migrations._ops import adding_column

revision = '0006'
down_revision = '0005'

upgrade, downgrade = adding_column('task_runs', sa.Column('replayed_from', sa.String(length=36), nullable=True))
