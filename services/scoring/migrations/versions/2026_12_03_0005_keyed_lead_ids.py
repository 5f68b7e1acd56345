"""scoring: lead ids become an HMAC of the identity under the installation's key (access_0002)

Revision ID: scoring_0005
Revises: scoring_0004
Create Date: 2026-12-03
"""
from alembic import op

from shared.db.rekey import LeadKeys, rekey
from shared.identity import UNKEYED
from shared.identity_policy import load_identity_policy
from shared.settings import REPO_CONFIG_DIR

revision = "scoring_0005"
down_revision = "scoring_0004"
branch_labels = None
depends_on = None

# the tables of this revision that hold lead ids (shared.db.rekey.SCHEMAS holds today's)
KEYS = LeadKeys("scoring", emails=("leads",), keyed=("leads",),
                carried=("activities", "submissions", "lead_outcomes"))


def upgrade() -> None:
    rekey(op.get_bind(), KEYS, load_identity_policy(REPO_CONFIG_DIR))


def downgrade() -> None:
    rekey(op.get_bind(), KEYS, load_identity_policy(REPO_CONFIG_DIR), key=UNKEYED)
