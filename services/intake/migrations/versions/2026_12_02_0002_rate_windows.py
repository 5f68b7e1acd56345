"""intake: request counts per subject and window, for the rate limits

Unlogged: a count lost in a crash costs nothing, and updating it then needs no WAL flush,
so the hot row of a busy source is locked for microseconds, not a disk write.

Revision ID: intake_0002
Revises: intake_0001
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op

revision = "intake_0002"
down_revision = "intake_0001"
branch_labels = None
depends_on = None
SCHEMA = "intake"


def upgrade() -> None:
    op.create_table(
        "rate_windows",
        sa.Column("subject", sa.String(300), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("requests", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("subject", "window_start", name="pk_rate_windows"),
        schema=SCHEMA,
        prefixes=["UNLOGGED"],
    )


def downgrade() -> None:
    op.drop_table("rate_windows", schema=SCHEMA)
