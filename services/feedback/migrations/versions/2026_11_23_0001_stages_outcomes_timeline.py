"""feedback: lead stages, outcomes, timeline, outbox, processed events

Revision ID: feedback_0001
Revises:
Create Date: 2026-11-23
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

from shared.db.migration_ops import create_outbox_v1, create_processed_events_v1

revision = "feedback_0001"
down_revision = None
branch_labels = None
depends_on = None
SCHEMA = "feedback"


def upgrade() -> None:
    create_outbox_v1(SCHEMA)
    create_processed_events_v1(SCHEMA)
    op.create_table(
        "lead_stages",
        sa.Column("lead_id", UUID(as_uuid=True), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("cycle", sa.Integer, nullable=False, server_default="1"),
        sa.Column("stage", sa.String(30), nullable=False),
        sa.Column("owner_id", sa.String(100), nullable=True),
        sa.Column("correlation_id", sa.String(100), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("lead_id", name="pk_lead_stages"),
        schema=SCHEMA,
    )
    op.create_table(
        "outcomes",
        sa.Column("id", sa.BigInteger, sa.Identity(), nullable=False),
        sa.Column("delivery_id", sa.String(200), nullable=False),
        sa.Column("lead_id", UUID(as_uuid=True), nullable=False),
        sa.Column("cycle", sa.Integer, nullable=False),
        sa.Column("outcome", sa.String(30), nullable=False),
        sa.Column("reason", sa.String(200), nullable=True),
        sa.Column("amount", sa.Numeric(14, 2), nullable=True),
        sa.Column("currency", sa.String(3), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("id", name="pk_outcomes"),
        sa.UniqueConstraint("delivery_id", name="uq_outcomes_delivery_id"),
        schema=SCHEMA,
    )
    op.create_index("ix_outcomes_lead_id", "outcomes", ["lead_id"], schema=SCHEMA)
    op.create_table(
        "timeline",
        sa.Column("seq", sa.BigInteger, sa.Identity(), nullable=False),
        sa.Column("event_id", UUID(as_uuid=True), nullable=False),
        sa.Column("lead_id", UUID(as_uuid=True), nullable=False),
        sa.Column("type", sa.String(50), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("producer", sa.String(50), nullable=False),
        sa.Column("correlation_id", sa.String(100), nullable=False),
        sa.Column("causation_id", UUID(as_uuid=True), nullable=True),
        sa.Column("payload", JSONB, nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_timeline"),
        sa.UniqueConstraint("event_id", name="uq_timeline_event_id"),
        schema=SCHEMA,
    )
    op.create_index("ix_timeline_lead_id", "timeline", ["lead_id"], schema=SCHEMA)


def downgrade() -> None:
    for table in ("timeline", "outcomes", "lead_stages", "processed_events", "outbox"):
        op.drop_table(table, schema=SCHEMA)
