"""when a node was last known to be working on an execution"""

from __future__ import annotations

import sqlalchemy as sa

from workflowdev.store.migrations._ops import adding_column
from workflowdev.store.types import UTCDateTime

revision = '0005'
down_revision = '0004'

upgrade, downgrade = adding_column('executions', sa.Column('alive_at', UTCDateTime(timezone=True), nullable=True))
