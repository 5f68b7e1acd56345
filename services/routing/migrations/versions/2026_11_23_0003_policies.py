"""routing: policy versions, published from the file or the API

Revision ID: routing_0003
Revises: routing_0002
Create Date: 2026-11-23
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "routing_0003"
down_revision = "routing_0002"
branch_labels = None
depends_on = None
SCHEMA = "routing"


def upgrade() -> None:
    op.create_table(
        "policies",
        sa.Column("version", sa.String(200), nullable=False),
        sa.Column("body", JSONB, nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("published_by", sa.String(100), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False, server_default="false"),
        sa.PrimaryKeyConstraint("version", name="pk_policies"),
        schema=SCHEMA,
    )
    op.create_index("uq_policies_one_active", "policies", ["active"], unique=True,
                    postgresql_where=sa.text("active"), schema=SCHEMA)


def downgrade() -> None:
    op.drop_table("policies", schema=SCHEMA)
