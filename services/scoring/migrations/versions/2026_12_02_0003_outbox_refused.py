"""scoring: outbox rows Kafka refused for good, set aside so the rows behind them flow on

Revision ID: scoring_0003
Revises: scoring_0002
Create Date: 2026-12-02
"""
from alembic import op

from shared.db.migration_ops import create_outbox_refused_v1

revision = "scoring_0003"
down_revision = "scoring_0002"
branch_labels = None
depends_on = None
SCHEMA = "scoring"


def upgrade() -> None:
    create_outbox_refused_v1(SCHEMA)


def downgrade() -> None:
    op.drop_table("outbox_refused", schema=SCHEMA)
