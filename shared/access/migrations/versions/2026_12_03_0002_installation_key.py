"""access: the installation's lead id key (lead ids become an HMAC of the identity)

Revision ID: access_0002
Revises: access_0001
Create Date: 2026-12-03
"""
import secrets

import sqlalchemy as sa
from alembic import op

revision = "access_0002"
down_revision = "access_0001"
branch_labels = None
depends_on = None
SCHEMA = "access"


def upgrade() -> None:
    op.create_table(
        "installation",
        sa.Column("id", sa.SmallInteger, primary_key=True),
        sa.Column("lead_id_key", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("id = 1", name="installation_one_row"),
        schema=SCHEMA,
    )
    op.execute(sa.text(f"INSERT INTO {SCHEMA}.installation (id, lead_id_key) VALUES (1, :key)")
               .bindparams(sa.bindparam("key", secrets.token_bytes(32), type_=sa.LargeBinary)))


def downgrade() -> None:
    op.drop_table("installation", schema=SCHEMA)
