"""routing: each owner's load kept as counters, filled from the assignments

Revision ID: routing_0008
Revises: routing_0007
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op

revision = "routing_0008"
down_revision = "routing_0007"
branch_labels = None
depends_on = None
SCHEMA = "routing"


def upgrade() -> None:
    op.create_table(
        "owner_assignment_counts",
        sa.Column("owner_id", sa.String(100), primary_key=True),
        sa.Column("bucket", sa.DateTime(timezone=True), primary_key=True),
        sa.Column("assigned", sa.Integer, nullable=False),
        schema=SCHEMA,
    )
    op.create_index("ix_owner_assignment_counts_bucket", "owner_assignment_counts", ["bucket"], schema=SCHEMA)
    op.create_table(
        "owner_open_counts",
        sa.Column("owner_id", sa.String(100), primary_key=True),
        sa.Column("open", sa.Integer, nullable=False),
        schema=SCHEMA,
    )
    # the caps count at most a week back: eight days of assignments, in 15-minute buckets
    op.execute(sa.text(
        f'INSERT INTO "{SCHEMA}".owner_assignment_counts (owner_id, bucket, assigned) '
        "SELECT owner_id, to_timestamp(floor(extract(epoch FROM assigned_at) / 900) * 900), count(*) "
        f'FROM "{SCHEMA}".assignments WHERE assigned_at >= now() - interval \'8 days\' GROUP BY 1, 2'))
    op.execute(sa.text(
        f'INSERT INTO "{SCHEMA}".owner_open_counts (owner_id, open) '
        f"SELECT owner_id, count(*) FROM \"{SCHEMA}\".assignments WHERE status = 'assigned' GROUP BY 1"))


def downgrade() -> None:
    op.drop_table("owner_open_counts", schema=SCHEMA)
    op.drop_table("owner_assignment_counts", schema=SCHEMA)
