"""access: the audit log of every change, append-only

Revision ID: access_0003
Revises: access_0002
Create Date: 2026-12-03
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

revision = "access_0003"
down_revision = "access_0002"
branch_labels = None
depends_on = None
SCHEMA = "access"


def upgrade() -> None:
    op.create_table(
        "audit",
        sa.Column("audit_id", sa.BigInteger, sa.Identity(always=True), primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("roles", ARRAY(sa.String(20)), nullable=False),
        sa.Column("address", sa.String(64), nullable=True),
        sa.Column("service", sa.String(20), nullable=False),
        sa.Column("action", sa.String(200), nullable=False),
        sa.Column("target", JSONB, nullable=False),
        sa.Column("status", sa.Integer, nullable=False),
        sa.Column("request", JSONB, nullable=True),
        sa.Column("before", JSONB, nullable=True),
        sa.Column("after", JSONB, nullable=True),
        schema=SCHEMA,
    )
    op.create_index("ix_audit_at", "audit", ["at"], schema=SCHEMA)
    op.create_index("ix_audit_actor_at", "audit", ["actor", "at"], schema=SCHEMA)
    op.execute(f"""
        CREATE FUNCTION {SCHEMA}.audit_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'access.audit is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
        END $$""")
    op.execute(f"""CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON {SCHEMA}.audit
                   FOR EACH ROW EXECUTE FUNCTION {SCHEMA}.audit_is_append_only()""")
    op.execute(f"""CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON {SCHEMA}.audit
                   FOR EACH STATEMENT EXECUTE FUNCTION {SCHEMA}.audit_is_append_only()""")


def downgrade() -> None:
    op.drop_table("audit", schema=SCHEMA)
    op.execute(f"DROP FUNCTION {SCHEMA}.audit_is_append_only()")
