"""feedback: lead ids become an HMAC of the identity under the installation's key (access_0002); the old ids stop answering (an email gave them), so the aliases go

Revision ID: feedback_0005
Revises: feedback_0004
Create Date: 2026-12-03
"""
from alembic import op

from shared.db.rekey import LeadKeys, rekey
from shared.identity import UNKEYED
from shared.identity_policy import load_identity_policy
from shared.settings import REPO_CONFIG_DIR

revision = "feedback_0005"
down_revision = "feedback_0004"
branch_labels = None
depends_on = None

# the tables of this revision that hold lead ids (shared.db.rekey.SCHEMAS holds today's)
KEYS = LeadKeys("feedback", emails=("lead_stages", "crm_contacts"), keyed=("lead_stages",),
                carried=("outcomes", "timeline", "crm_contacts", "parked_outcomes"), aliases="lead_aliases")


def upgrade() -> None:
    rekey(op.get_bind(), KEYS, load_identity_policy(REPO_CONFIG_DIR), keep_aliases=False)


def downgrade() -> None:
    rekey(op.get_bind(), KEYS, load_identity_policy(REPO_CONFIG_DIR), key=UNKEYED, keep_aliases=False)
