"""Routing's tables: assignments (one per lead per cycle) with their decision and SLA
clock, the lead facts routing decides on, the pool queues, strategy state per team,
accounts with owners, and the log of every routing decision."""

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Identity,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

from shared.db.metadata import service_metadata

SCHEMA = "routing"
metadata = service_metadata(SCHEMA)

assignments = Table(
    "assignments",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("lead_id", UUID(as_uuid=True), nullable=False),
    Column("cycle", Integer, nullable=False),
    Column("owner_id", String(100), nullable=False),
    Column("policy_version", String(100), nullable=False),
    Column("reason", String(1000), nullable=False),
    Column("assigned_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("team_id", String(100), nullable=True),
    Column("rule", String(100), nullable=True),
    Column("status", String(20), nullable=False, server_default="assigned"),
    Column("sla_due_at", DateTime(timezone=True), nullable=True),  # accept by (the SLA deadline)
    Column("escalated_at", DateTime(timezone=True), nullable=True),
    Column("reassignments", Integer, nullable=False, server_default="0"),
    Column("accepted_at", DateTime(timezone=True), nullable=True),
    Column("decision", JSONB, nullable=False, server_default="{}"),
    Column("sla_reassign_at", DateTime(timezone=True), nullable=True),  # when escalated: reassign then
    UniqueConstraint("lead_id", "cycle"),
)

nurtured = Table(
    "nurtured",
    metadata,
    Column("lead_id", UUID(as_uuid=True), primary_key=True),
    Column("cycle", Integer, primary_key=True),
    Column("nurtured_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

routed_leads = Table(
    "routed_leads",
    metadata,
    Column("lead_id", UUID(as_uuid=True), primary_key=True),
    Column("email", String(320), nullable=False),
    Column("cycle", Integer, nullable=False),
    Column("facts", JSONB, nullable=False),
    Column("correlation_id", String(100), nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

queued = Table(
    "queued",
    metadata,
    Column("lead_id", UUID(as_uuid=True), primary_key=True),
    Column("cycle", Integer, primary_key=True),
    Column("team_id", String(100), nullable=True),
    Column("owner_id", String(100), nullable=True),
    Column("rule", String(100), nullable=False),
    Column("queued_at", DateTime(timezone=True), nullable=False),
    Column("decision", JSONB, nullable=False),
)

strategy_states = Table(
    "strategy_states",
    metadata,
    Column("team_id", String(100), primary_key=True),
    Column("state", JSONB, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

policies = Table(
    "policies",
    metadata,
    Column("version", String(200), primary_key=True),
    Column("body", JSONB, nullable=False),
    Column("published_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("published_by", String(100), nullable=False),
    Column("active", Boolean, nullable=False, server_default="false"),
    Column("rollback_of", String(100), nullable=True),  # the version a rollback brought back
    Index("uq_policies_one_active", "active", unique=True, postgresql_where=text("active")),
)

accounts = Table(
    "accounts",
    metadata,
    Column("domain", String(255), primary_key=True),
    Column("owner_id", String(100), nullable=False),
    Column("name", String(200), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

decisions = Table(
    "decisions",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("lead_id", UUID(as_uuid=True), nullable=False, index=True),
    Column("cycle", Integer, nullable=False),
    Column("kind", String(20), nullable=False),
    Column("decision", JSONB, nullable=False),
    Column("decided_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)


crm_deliveries = Table(
    "crm_deliveries",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("event_id", UUID(as_uuid=True), nullable=False),  # the lead.routed event: enqueued once
    Column("lead_id", UUID(as_uuid=True), nullable=False),
    Column("body", LargeBinary, nullable=False),  # the exact bytes POSTed and signed
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("last_error", Text, nullable=True),
    Column("delivered_at", DateTime(timezone=True), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    UniqueConstraint("event_id"),
    Index("ix_crm_deliveries_pending", "next_attempt_at", postgresql_where=text("delivered_at IS NULL")),
)

# Each owner's load as counters kept with the assignments (``RoutingRepository.write``), so a
# decision reads a few rows per owner, not the assignments of the last eight days.
owner_assignment_counts = Table(
    "owner_assignment_counts",
    metadata,
    Column("owner_id", String(100), primary_key=True),
    Column("bucket", DateTime(timezone=True), primary_key=True),  # 15 minutes (every zone's offset is a multiple)
    Column("assigned", Integer, nullable=False),
    Index("ix_owner_assignment_counts_bucket", "bucket"),
)

owner_open_counts = Table(
    "owner_open_counts",
    metadata,
    Column("owner_id", String(100), primary_key=True),
    Column("open", Integer, nullable=False),
)
