"""scoring: leads move to the id of their person (shared.identity.identity_of), not of their lower-cased email

Revision ID: scoring_0004
Revises: scoring_0003
Create Date: 2026-12-02
"""
from alembic import op

from shared.db.rekey import LOWER_CASED_EMAIL, LeadKeys, rekey
from shared.identity import UNKEYED
from shared.identity_policy import load_identity_policy
from shared.settings import REPO_CONFIG_DIR

revision = "scoring_0004"
down_revision = "scoring_0003"
branch_labels = None
depends_on = None

# the tables of this revision that hold lead ids (shared.db.rekey.SCHEMAS holds today's)
KEYS = LeadKeys("scoring", emails=("leads",), keyed=("leads",),
                carried=("activities", "submissions", "lead_outcomes"))


def upgrade() -> None:
    rekey(op.get_bind(), KEYS, load_identity_policy(REPO_CONFIG_DIR), key=UNKEYED)


def downgrade() -> None:
    rekey(op.get_bind(), KEYS, LOWER_CASED_EMAIL, key=UNKEYED)
