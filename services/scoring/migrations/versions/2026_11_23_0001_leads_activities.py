"""scoring: leads, activities, outbox, processed events

Revision ID: scoring_0001
Revises:
Create Date: 2026-11-23
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

from shared.db.migration_ops import create_outbox_v1, create_processed_events_v1

revision = "scoring_0001"
down_revision = None
branch_labels = None
depends_on = None
SCHEMA = "scoring"


def upgrade() -> None:
    create_outbox_v1(SCHEMA)
    create_processed_events_v1(SCHEMA)
    op.create_table(
        "leads",
        sa.Column("lead_id", UUID(as_uuid=True), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("source", sa.String(100), nullable=True),
        sa.Column("profile", JSONB, nullable=False),
        sa.Column("cycle", sa.Integer, nullable=False, server_default="1"),
        sa.Column("fit_score", sa.Integer, nullable=False, server_default="0"),
        sa.Column("engagement_score", sa.Integer, nullable=False, server_default="0"),
        sa.Column("score", sa.Integer, nullable=False, server_default="0"),
        sa.Column("qualified", sa.Boolean, nullable=False, server_default="false"),
        sa.Column("rules_fired", JSONB, nullable=False, server_default="[]"),
        sa.Column("definition_version", sa.String(100), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("lead_id", name="pk_leads"),
        schema=SCHEMA,
    )
    op.create_table(
        "activities",
        sa.Column("event_id", UUID(as_uuid=True), nullable=False),
        sa.Column("lead_id", UUID(as_uuid=True), nullable=False),
        sa.Column("activity_type", sa.String(100), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("event_id", name="pk_activities"),
        schema=SCHEMA,
    )
    op.create_index("ix_activities_lead_id", "activities", ["lead_id"], schema=SCHEMA)


def downgrade() -> None:
    for table in ("activities", "leads", "processed_events", "outbox"):
        op.drop_table(table, schema=SCHEMA)
