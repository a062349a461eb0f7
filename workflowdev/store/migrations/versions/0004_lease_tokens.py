"""a fencing token per lease grant"""

from __future__ import annotations

import sqlalchemy as sa

from workflowdev.store.migrations._ops import adding_column

revision = '0004'
down_revision = '0003'

upgrade, downgrade = adding_column('executions', sa.Column('lease_token', sa.String(length=32), nullable=True))
