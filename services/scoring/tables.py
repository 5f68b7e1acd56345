"""Scoring's tables: each person's merged profile and score, and their activity."""

from sqlalchemy import Boolean, Column, DateTime, Integer, String, Table, func
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
    Column("profile", JSONB, nullable=False),
    Column("cycle", Integer, nullable=False, server_default="1"),
    Column("fit_score", Integer, nullable=False, server_default="0"),
    Column("engagement_score", Integer, nullable=False, server_default="0"),
    Column("score", Integer, nullable=False, server_default="0"),
    Column("qualified", Boolean, nullable=False, server_default="false"),
    Column("rules_fired", JSONB, nullable=False, server_default="[]"),
    Column("definition_version", String(100), nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

activities = Table(
    "activities",
    metadata,
    Column("event_id", UUID(as_uuid=True), primary_key=True),
    Column("lead_id", UUID(as_uuid=True), nullable=False, index=True),
    Column("activity_type", String(100), nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
)
