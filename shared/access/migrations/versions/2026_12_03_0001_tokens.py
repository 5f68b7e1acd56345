"""access: named tokens with roles

Revision ID: access_0001
Revises:
Create Date: 2026-12-03
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, UUID

revision = "access_0001"
down_revision = None
branch_labels = None
depends_on = None
SCHEMA = "access"


def upgrade() -> None:
    op.create_table(
        "tokens",
        sa.Column("token_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("roles", ARRAY(sa.String(20)), nullable=False),
        sa.Column("source", sa.String(100), nullable=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        schema=SCHEMA,
    )
    # one live token per name: a name says who acted, in published_by and the audit
    op.create_index("tokens_live_name", "tokens", ["name"], unique=True, schema=SCHEMA,
                    postgresql_where=sa.text("revoked_at IS NULL"))


def downgrade() -> None:
    op.drop_table("tokens", schema=SCHEMA)
