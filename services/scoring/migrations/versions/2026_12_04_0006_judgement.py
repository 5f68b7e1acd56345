"""scoring: a lead's judgement call (qualified or disqualified by hand) for its cycle

Revision ID: scoring_0006
Revises: scoring_0005
Create Date: 2026-12-04
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "scoring_0006"
down_revision = "scoring_0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("leads", sa.Column("judgement", JSONB, nullable=True), schema="scoring")


def downgrade() -> None:
    op.drop_column("leads", "judgement", schema="scoring")
