"""access: the erasure register (ids only) and each service's progress on it

Revision ID: access_0004
Revises: access_0003
Create Date: 2026-12-03
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

revision = "access_0004"
down_revision = "access_0003"
branch_labels = None
depends_on = None
SCHEMA = "access"


def upgrade() -> None:
    op.create_table(
        "erasures",
        sa.Column("erasure_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("lead_id", UUID(as_uuid=True), nullable=False, unique=True),
        sa.Column("person", UUID(as_uuid=True), nullable=False),
        sa.Column("generation", sa.Integer, nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("requested_by", sa.String(100), nullable=False),
        schema=SCHEMA,
    )
    op.create_index("ix_access_erasures_person", "erasures", ["person"], schema=SCHEMA)
    op.create_table(
        "erased_ids",
        sa.Column("lead_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("erasure_id", UUID(as_uuid=True), nullable=False),
        sa.Column("service", sa.String(20), nullable=True),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        schema=SCHEMA,
    )
    op.create_index("ix_access_erased_ids_erasure_id", "erased_ids", ["erasure_id"], schema=SCHEMA)
    op.create_table(
        "erasure_progress",
        sa.Column("erasure_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("service", sa.String(20), primary_key=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("rows", JSONB, nullable=False),
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_table("erasure_progress", schema=SCHEMA)
    op.drop_table("erased_ids", schema=SCHEMA)
    op.drop_table("erasures", schema=SCHEMA)
