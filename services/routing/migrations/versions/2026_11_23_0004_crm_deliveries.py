"""routing: CRM deliveries, the outbound webhook's queue of routed leads

Revision ID: routing_0004
Revises: routing_0003
Create Date: 2026-11-23
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision = "routing_0004"
down_revision = "routing_0003"
branch_labels = None
depends_on = None
SCHEMA = "routing"


def upgrade() -> None:
    op.create_table(
        "crm_deliveries",
        sa.Column("id", sa.BigInteger, sa.Identity(), nullable=False),
        sa.Column("event_id", UUID(as_uuid=True), nullable=False),
        sa.Column("lead_id", UUID(as_uuid=True), nullable=False),
        sa.Column("body", sa.LargeBinary, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("id", name="pk_crm_deliveries"),
        sa.UniqueConstraint("event_id", name="uq_crm_deliveries_event_id"),
        schema=SCHEMA,
    )
    op.create_index("ix_crm_deliveries_pending", "crm_deliveries", ["next_attempt_at"], schema=SCHEMA,
                    postgresql_where=sa.text("delivered_at IS NULL"))


def downgrade() -> None:
    op.drop_table("crm_deliveries", schema=SCHEMA)
