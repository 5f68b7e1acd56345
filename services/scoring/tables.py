"""Scoring's tables: each person's merged profile and score, their submissions and
activity, the outcomes sales reported (for calibration), and the definition versions."""

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    String,
    Table,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

from shared.db.metadata import service_metadata

SCHEMA = "scoring"
metadata = service_metadata(SCHEMA)

leads = Table(
    "leads",
    metadata,
    Column("lead_id", UUID(as_uuid=True), primary_key=True),
    Column("email", String(320), nullable=False),
    Column("source", String(100), nullable=True),
    Column("campaign", String(200), nullable=True),
    Column("profile", JSONB, nullable=False),
    Column("cycle", Integer, nullable=False, server_default="1"),
    Column("fit_score", Integer, nullable=False, server_default="0"),
    Column("engagement_score", Integer, nullable=False, server_default="0"),
    Column("score", Integer, nullable=False, server_default="0"),
    Column("qualified", Boolean, nullable=False, server_default="false"),
    Column("stage", String(20), nullable=False, server_default="below"),
    Column("grade", String(4), nullable=True),
    Column("rules_fired", JSONB, nullable=False, server_default="[]"),
    Column("definition_version", String(100), nullable=True),
    Column("mql_cycle", Integer, nullable=True),
    Column("engagement_since", DateTime(timezone=True), nullable=True),
    Column("correlation_id", String(100), nullable=True),
    Column("rescored_at", DateTime(timezone=True), nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("nurture_until", Date, nullable=True),  # a recycle's retry_after: qualification waits until then
    Column("judgement", JSONB, nullable=True),  # qualified or disqualified by hand, for one cycle
)

activities = Table(
    "activities",
    metadata,
    Column("event_id", UUID(as_uuid=True), primary_key=True),
    Column("lead_id", UUID(as_uuid=True), nullable=False, index=True),
    Column("activity_type", String(100), nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
)

submissions = Table(
    "submissions",
    metadata,
    Column("event_id", UUID(as_uuid=True), primary_key=True),
    Column("lead_id", UUID(as_uuid=True), nullable=False, index=True),
    Column("source", String(100), nullable=False),
    Column("submitted_at", DateTime(timezone=True), nullable=False),
    Column("fields", JSONB, nullable=False),
)

lead_outcomes = Table(
    "lead_outcomes",
    metadata,
    Column("event_id", UUID(as_uuid=True), primary_key=True),
    Column("lead_id", UUID(as_uuid=True), nullable=False, index=True),
    Column("cycle", Integer, nullable=False),
    Column("outcome", String(30), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
)

definitions = Table(
    "definitions",
    metadata,
    Column("version", String(100), primary_key=True),
    Column("body", JSONB, nullable=False),
    Column("published_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("published_by", String(100), nullable=False),
    Column("active", Boolean, nullable=False, server_default="false"),
    Column("rollback_of", String(100), nullable=True),  # the version a rollback brought back
    Index("uq_definitions_one_active", "active", unique=True, postgresql_where=text("active")),
)
