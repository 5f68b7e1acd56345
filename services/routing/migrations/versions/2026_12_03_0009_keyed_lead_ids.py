"""routing: lead ids become an HMAC of the identity under the installation's key (access_0002)

Revision ID: routing_0009
Revises: routing_0008
Create Date: 2026-12-03
"""
from alembic import op

from shared.db.rekey import LeadKeys, rekey
from shared.identity import UNKEYED
from shared.identity_policy import load_identity_policy
from shared.settings import REPO_CONFIG_DIR

revision = "routing_0009"
down_revision = "routing_0008"
branch_labels = None
depends_on = None

# the tables of this revision that hold lead ids (shared.db.rekey.SCHEMAS holds today's)
KEYS = LeadKeys("routing", emails=("routed_leads",), keyed=("routed_leads", "assignments", "nurtured", "queued"),
                carried=("decisions", "crm_deliveries"))


def upgrade() -> None:
    rekey(op.get_bind(), KEYS, load_identity_policy(REPO_CONFIG_DIR))


def downgrade() -> None:
    rekey(op.get_bind(), KEYS, load_identity_policy(REPO_CONFIG_DIR), key=UNKEYED)
