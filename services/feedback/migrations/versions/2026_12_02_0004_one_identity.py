"""feedback: leads move to the id of their person (shared.identity.identity_of); the ids they had keep answering

Revision ID: feedback_0004
Revises: feedback_0003
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

from shared.db.rekey import LOWER_CASED_EMAIL, LeadKeys, rekey
from shared.identity import UNKEYED
from shared.identity_policy import load_identity_policy
from shared.settings import REPO_CONFIG_DIR

revision = "feedback_0004"
down_revision = "feedback_0003"
branch_labels = None
depends_on = None
SCHEMA = "feedback"

# the tables of this revision that hold lead ids (shared.db.rekey.SCHEMAS holds today's)
KEYS = LeadKeys(SCHEMA, emails=("lead_stages", "crm_contacts"), keyed=("lead_stages",),
                carried=("outcomes", "timeline", "crm_contacts", "parked_outcomes"), aliases="lead_aliases")


def upgrade() -> None:
    op.create_table(
        "lead_aliases",
        sa.Column("old_lead_id", UUID(as_uuid=True), nullable=False),
        sa.Column("lead_id", UUID(as_uuid=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("old_lead_id", name="pk_lead_aliases"),
        schema=SCHEMA,
    )
    op.create_index("ix_lead_aliases_lead_id", "lead_aliases", ["lead_id"], schema=SCHEMA)
    rekey(op.get_bind(), KEYS, load_identity_policy(REPO_CONFIG_DIR), key=UNKEYED)


def downgrade() -> None:
    rekey(op.get_bind(), KEYS, LOWER_CASED_EMAIL, key=UNKEYED)
    op.drop_table("lead_aliases", schema=SCHEMA)
