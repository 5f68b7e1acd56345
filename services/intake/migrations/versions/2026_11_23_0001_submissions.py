"""intake: submissions, outbox, processed events

Revision ID: intake_0001
Revises:
Create Date: 2026-11-23
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

from shared.db.migration_ops import create_outbox_v1, create_processed_events_v1

revision = "intake_0001"
down_revision = None
branch_labels = None
depends_on = None
SCHEMA = "intake"


def upgrade() -> None:
    create_outbox_v1(SCHEMA)
    create_processed_events_v1(SCHEMA)
    op.create_table(
        "submissions",
        sa.Column("submission_id", UUID(as_uuid=True), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("source", sa.String(100), nullable=False),
        sa.Column("idempotency_key", sa.String(200), nullable=True),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("lead_id", UUID(as_uuid=True), nullable=False),
        sa.Column("correlation_id", sa.String(100), nullable=False),
        sa.Column("response", JSONB, nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("submission_id", name="pk_submissions"),
        sa.UniqueConstraint("source", "idempotency_key", name="uq_submissions_source_idempotency_key"),
        schema=SCHEMA,
    )


def downgrade() -> None:
    for table in ("submissions", "processed_events", "outbox"):
        op.drop_table(table, schema=SCHEMA)
