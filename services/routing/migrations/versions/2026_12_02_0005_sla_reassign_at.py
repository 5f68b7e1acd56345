"""routing: the SLA clock keeps both of its moments (accept by, reassign at)

Revision ID: routing_0005
Revises: routing_0004
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op

revision = "routing_0005"
down_revision = "routing_0004"
branch_labels = None
depends_on = None
SCHEMA = "routing"


def upgrade() -> None:
    op.add_column("assignments", sa.Column("sla_reassign_at", sa.DateTime(timezone=True), nullable=True),
                  schema=SCHEMA)
    # an escalated clock kept its reassignment moment in sla_due_at until now
    op.execute(sa.text(f'UPDATE "{SCHEMA}".assignments SET sla_reassign_at = sla_due_at '
                       "WHERE escalated_at IS NOT NULL AND status = 'assigned'"))


def downgrade() -> None:
    op.drop_column("assignments", "sla_reassign_at", schema=SCHEMA)
