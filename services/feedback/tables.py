"""Feedback's tables: the lead's stage, the outcomes sales reported, the timeline,
the CRM contacts linked to leads, the outcomes parked for review, and the ids leads had
before a re-key (a CRM may still name a lead by one)."""

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Identity,
    Integer,
    Numeric,
    String,
    Table,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

from shared.db.metadata import service_metadata

SCHEMA = "feedback"
metadata = service_metadata(SCHEMA)

lead_stages = Table(
    "lead_stages",
    metadata,
    Column("lead_id", UUID(as_uuid=True), primary_key=True),
    Column("email", String(320), nullable=False),
    Column("cycle", Integer, nullable=False, server_default="1"),
    Column("stage", String(30), nullable=False),
    Column("owner_id", String(100), nullable=True),
    Column("correlation_id", String(100), nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

outcomes = Table(
    "outcomes",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("delivery_id", String(200), nullable=False, unique=True),
    Column("lead_id", UUID(as_uuid=True), nullable=False, index=True),
    Column("cycle", Integer, nullable=False),
    Column("outcome", String(30), nullable=False),
    Column("reason", String(200), nullable=True),
    Column("amount", Numeric(14, 2), nullable=True),
    Column("currency", String(3), nullable=True),
    Column("received_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

timeline = Table(
    "timeline",
    metadata,
    Column("seq", BigInteger, Identity(), primary_key=True),
    Column("event_id", UUID(as_uuid=True), nullable=False, unique=True),
    Column("lead_id", UUID(as_uuid=True), nullable=False, index=True),
    Column("type", String(50), nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("producer", String(50), nullable=False),
    Column("correlation_id", String(100), nullable=False),
    Column("causation_id", UUID(as_uuid=True), nullable=True),
    Column("payload", JSONB, nullable=False),
)

crm_contacts = Table(
    "crm_contacts",
    metadata,
    Column("contact_ref", String(100), primary_key=True, comment="e.g. hubspot:<portal>:<object id>"),
    Column("lead_id", UUID(as_uuid=True), nullable=False, index=True),
    Column("email", String(320), nullable=False),
    Column("linked_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

parked_outcomes = Table(
    "parked_outcomes",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("delivery_id", String(200), nullable=False, unique=True),
    Column("source", String(30), nullable=False),
    Column("contact_ref", String(100), nullable=True, index=True),
    Column("lead_id", UUID(as_uuid=True), nullable=True),
    Column("outcome", JSONB, nullable=False, comment="what the CRM sent, as understood"),
    Column("problem", Text, nullable=False),
    Column("status", String(20), nullable=False, server_default="parked"),
    Column("parked_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("resolved_at", DateTime(timezone=True), nullable=True),
    Column("resolved_by", String(100), nullable=True),
    Column("note", Text, nullable=True),
)

# written by the re-key (shared/db/rekey.py): the id a lead had, and the id it has now
lead_aliases = Table(
    "lead_aliases",
    metadata,
    Column("old_lead_id", UUID(as_uuid=True), primary_key=True),
    Column("lead_id", UUID(as_uuid=True), nullable=False, index=True),
    Column("recorded_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
