"""scoring: a recycled lead held in nurture until the retry_after sales gave

Revision ID: scoring_0008
Revises: scoring_0007
Create Date: 2026-12-04
"""
import sqlalchemy as sa
from alembic import op

revision = "scoring_0008"
down_revision = "scoring_0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("leads", sa.Column("nurture_until", sa.Date, nullable=True), schema="scoring")


def downgrade() -> None:
    op.drop_column("leads", "nurture_until", schema="scoring")
