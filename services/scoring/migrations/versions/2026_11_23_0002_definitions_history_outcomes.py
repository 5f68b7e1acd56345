"""scoring: definition versions, submission history, outcomes, stage and grade

Revision ID: scoring_0002
Revises: scoring_0001
Create Date: 2026-11-23
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

revision = "scoring_0002"
down_revision = "scoring_0001"
branch_labels = None
depends_on = None
SCHEMA = "scoring"

NEW_LEAD_COLUMNS = (
    sa.Column("campaign", sa.String(200), nullable=True),
    sa.Column("stage", sa.String(20), nullable=False, server_default="below"),
    sa.Column("grade", sa.String(4), nullable=True),
    sa.Column("mql_cycle", sa.Integer, nullable=True),
    sa.Column("engagement_since", sa.DateTime(timezone=True), nullable=True),
    sa.Column("correlation_id", sa.String(100), nullable=True),
    sa.Column("rescored_at", sa.DateTime(timezone=True), nullable=True),
)


def upgrade() -> None:
    for column in NEW_LEAD_COLUMNS:
        op.add_column("leads", column, schema=SCHEMA)
    op.create_table(
        "submissions",
        sa.Column("event_id", UUID(as_uuid=True), nullable=False),
        sa.Column("lead_id", UUID(as_uuid=True), nullable=False),
        sa.Column("source", sa.String(100), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("fields", JSONB, nullable=False),
        sa.PrimaryKeyConstraint("event_id", name="pk_submissions"),
        schema=SCHEMA,
    )
    op.create_index("ix_submissions_lead_id", "submissions", ["lead_id"], schema=SCHEMA)
    op.create_table(
        "lead_outcomes",
        sa.Column("event_id", UUID(as_uuid=True), nullable=False),
        sa.Column("lead_id", UUID(as_uuid=True), nullable=False),
        sa.Column("cycle", sa.Integer, nullable=False),
        sa.Column("outcome", sa.String(30), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("event_id", name="pk_lead_outcomes"),
        schema=SCHEMA,
    )
    op.create_index("ix_lead_outcomes_lead_id", "lead_outcomes", ["lead_id"], schema=SCHEMA)
    op.create_table(
        "definitions",
        sa.Column("version", sa.String(100), nullable=False),
        sa.Column("body", JSONB, nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("published_by", sa.String(100), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False, server_default="false"),
        sa.PrimaryKeyConstraint("version", name="pk_definitions"),
        schema=SCHEMA,
    )
    op.create_index("uq_definitions_one_active", "definitions", ["active"], unique=True,
                    postgresql_where=sa.text("active"), schema=SCHEMA)


def downgrade() -> None:
    for table in ("definitions", "lead_outcomes", "submissions"):
        op.drop_table(table, schema=SCHEMA)
    for column in NEW_LEAD_COLUMNS:
        op.drop_column("leads", column.name, schema=SCHEMA)
