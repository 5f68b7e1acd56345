"""routing: outbox rows Kafka refused for good, set aside so the rows behind them flow on

Revision ID: routing_0006
Revises: routing_0005
Create Date: 2026-12-02
"""
from alembic import op

from shared.db.migration_ops import create_outbox_refused_v1

revision = "routing_0006"
down_revision = "routing_0005"
branch_labels = None
depends_on = None
SCHEMA = "routing"


def upgrade() -> None:
    create_outbox_refused_v1(SCHEMA)


def downgrade() -> None:
    op.drop_table("outbox_refused", schema=SCHEMA)
