"""feedback: CRM contacts linked to leads, outcomes parked for review

Revision ID: feedback_0002
Revises: feedback_0001
Create Date: 2026-11-23
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

revision = "feedback_0002"
down_revision = "feedback_0001"
branch_labels = None
depends_on = None
SCHEMA = "feedback"


def upgrade() -> None:
    op.create_table(
        "crm_contacts",
        sa.Column("contact_ref", sa.String(100), nullable=False, comment="e.g. hubspot:<portal>:<object id>"),
        sa.Column("lead_id", UUID(as_uuid=True), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("linked_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("contact_ref", name="pk_crm_contacts"),
        schema=SCHEMA,
    )
    op.create_index("ix_crm_contacts_lead_id", "crm_contacts", ["lead_id"], schema=SCHEMA)
    op.create_table(
        "parked_outcomes",
        sa.Column("id", sa.BigInteger, sa.Identity(), nullable=False),
        sa.Column("delivery_id", sa.String(200), nullable=False),
        sa.Column("source", sa.String(30), nullable=False),
        sa.Column("contact_ref", sa.String(100), nullable=True),
        sa.Column("lead_id", UUID(as_uuid=True), nullable=True),
        sa.Column("outcome", JSONB, nullable=False, comment="what the CRM sent, as understood"),
        sa.Column("problem", sa.Text, nullable=False),
        sa.Column("status", sa.String(20), nullable=False, server_default="parked"),
        sa.Column("parked_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_by", sa.String(100), nullable=True),
        sa.Column("note", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_parked_outcomes"),
        sa.UniqueConstraint("delivery_id", name="uq_parked_outcomes_delivery_id"),
        schema=SCHEMA,
    )
    op.create_index("ix_parked_outcomes_contact_ref", "parked_outcomes", ["contact_ref"], schema=SCHEMA)


def downgrade() -> None:
    op.drop_table("parked_outcomes", schema=SCHEMA)
    op.drop_table("crm_contacts", schema=SCHEMA)
