"""routing: assignments, nurtured, pool pointers, outbox, processed events

Revision ID: routing_0001
Revises:
Create Date: 2026-11-23
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

from shared.db.migration_ops import create_outbox_v1, create_processed_events_v1

revision = "routing_0001"
down_revision = None
branch_labels = None
depends_on = None
SCHEMA = "routing"


def upgrade() -> None:
    create_outbox_v1(SCHEMA)
    create_processed_events_v1(SCHEMA)
    op.create_table(
        "assignments",
        sa.Column("id", sa.BigInteger, sa.Identity(), nullable=False),
        sa.Column("lead_id", UUID(as_uuid=True), nullable=False),
        sa.Column("cycle", sa.Integer, nullable=False),
        sa.Column("owner_id", sa.String(100), nullable=False),
        sa.Column("policy_version", sa.String(100), nullable=False),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("id", name="pk_assignments"),
        sa.UniqueConstraint("lead_id", "cycle", name="uq_assignments_lead_id_cycle"),
        schema=SCHEMA,
    )
    op.create_table(
        "nurtured",
        sa.Column("lead_id", UUID(as_uuid=True), nullable=False),
        sa.Column("cycle", sa.Integer, nullable=False),
        sa.Column("nurtured_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("lead_id", "cycle", name="pk_nurtured"),
        schema=SCHEMA,
    )
    op.create_table(
        "pool_pointers",
        sa.Column("pool", sa.String(100), nullable=False),
        sa.Column("position", sa.BigInteger, nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("pool", name="pk_pool_pointers"),
        schema=SCHEMA,
    )


def downgrade() -> None:
    for table in ("pool_pointers", "nurtured", "assignments", "processed_events", "outbox"):
        op.drop_table(table, schema=SCHEMA)
