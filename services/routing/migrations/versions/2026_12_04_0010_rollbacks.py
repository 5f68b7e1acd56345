"""routing: a publication that brings an earlier policy back says which (a rollback)

Revision ID: routing_0010
Revises: routing_0009
Create Date: 2026-12-04
"""
import sqlalchemy as sa
from alembic import op

revision = "routing_0010"
down_revision = "routing_0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("policies", sa.Column("rollback_of", sa.String(100), nullable=True), schema="routing")


def downgrade() -> None:
    op.drop_column("policies", "rollback_of", schema="routing")
