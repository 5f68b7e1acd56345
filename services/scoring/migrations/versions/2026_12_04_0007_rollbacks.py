"""scoring: a publication that brings an earlier definition back says which (a rollback)

Revision ID: scoring_0007
Revises: scoring_0006
Create Date: 2026-12-04
"""
import sqlalchemy as sa
from alembic import op

revision = "scoring_0007"
down_revision = "scoring_0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("definitions", sa.Column("rollback_of", sa.String(100), nullable=True), schema="scoring")


def downgrade() -> None:
    op.drop_column("definitions", "rollback_of", schema="scoring")
