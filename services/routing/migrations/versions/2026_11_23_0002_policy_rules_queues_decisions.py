"""routing: decision records, SLA clock, queues, strategy state, accounts

Revision ID: routing_0002
Revises: routing_0001
Create Date: 2026-11-23
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

revision = "routing_0002"
down_revision = "routing_0001"
branch_labels = None
depends_on = None
SCHEMA = "routing"

NEW_ASSIGNMENT_COLUMNS = (
    sa.Column("team_id", sa.String(100), nullable=True),
    sa.Column("rule", sa.String(100), nullable=True),
    sa.Column("status", sa.String(20), nullable=False, server_default="assigned"),
    sa.Column("sla_due_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("escalated_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("reassignments", sa.Integer, nullable=False, server_default="0"),
    sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("decision", JSONB, nullable=False, server_default="{}"),
)


def upgrade() -> None:
    for column in NEW_ASSIGNMENT_COLUMNS:
        op.add_column("assignments", column, schema=SCHEMA)
    op.alter_column("assignments", "reason", type_=sa.String(1000), schema=SCHEMA)
    op.drop_table("pool_pointers", schema=SCHEMA)
    op.create_table(
        "routed_leads",
        sa.Column("lead_id", UUID(as_uuid=True), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("cycle", sa.Integer, nullable=False),
        sa.Column("facts", JSONB, nullable=False),
        sa.Column("correlation_id", sa.String(100), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("lead_id", name="pk_routed_leads"),
        schema=SCHEMA,
    )
    op.create_table(
        "queued",
        sa.Column("lead_id", UUID(as_uuid=True), nullable=False),
        sa.Column("cycle", sa.Integer, nullable=False),
        sa.Column("team_id", sa.String(100), nullable=True),
        sa.Column("owner_id", sa.String(100), nullable=True),
        sa.Column("rule", sa.String(100), nullable=False),
        sa.Column("queued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decision", JSONB, nullable=False),
        sa.PrimaryKeyConstraint("lead_id", "cycle", name="pk_queued"),
        schema=SCHEMA,
    )
    op.create_table(
        "strategy_states",
        sa.Column("team_id", sa.String(100), nullable=False),
        sa.Column("state", JSONB, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("team_id", name="pk_strategy_states"),
        schema=SCHEMA,
    )
    op.create_table(
        "accounts",
        sa.Column("domain", sa.String(255), nullable=False),
        sa.Column("owner_id", sa.String(100), nullable=False),
        sa.Column("name", sa.String(200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("domain", name="pk_accounts"),
        schema=SCHEMA,
    )
    op.create_table(
        "decisions",
        sa.Column("id", sa.BigInteger, sa.Identity(), nullable=False),
        sa.Column("lead_id", UUID(as_uuid=True), nullable=False),
        sa.Column("cycle", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("decision", JSONB, nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("id", name="pk_decisions"),
        schema=SCHEMA,
    )
    op.create_index("ix_decisions_lead_id", "decisions", ["lead_id"], schema=SCHEMA)


def downgrade() -> None:
    for table in ("decisions", "accounts", "strategy_states", "queued", "routed_leads"):
        op.drop_table(table, schema=SCHEMA)
    op.create_table(
        "pool_pointers",
        sa.Column("pool", sa.String(100), nullable=False),
        sa.Column("position", sa.BigInteger, nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("pool", name="pk_pool_pointers"),
        schema=SCHEMA,
    )
    op.alter_column("assignments", "reason", type_=sa.String(500), schema=SCHEMA)
    for column in NEW_ASSIGNMENT_COLUMNS:
        op.drop_column("assignments", column.name, schema=SCHEMA)
