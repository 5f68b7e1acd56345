"""Intake's tables: every accepted submission, keyed for idempotent retries, and the request
counts its rate limits read."""

from sqlalchemy import Column, DateTime, Integer, String, Table, UniqueConstraint, func
from sqlalchemy.dialects.postgresql import JSONB, UUID

from shared.db.metadata import service_metadata

SCHEMA = "intake"
metadata = service_metadata(SCHEMA)

submissions = Table(
    "submissions",
    metadata,
    Column("submission_id", UUID(as_uuid=True), primary_key=True),
    Column("kind", String(20), nullable=False),
    Column("source", String(100), nullable=False),
    Column("idempotency_key", String(200), nullable=True),
    Column("request_hash", String(64), nullable=False),
    Column("lead_id", UUID(as_uuid=True), nullable=False),
    Column("correlation_id", String(100), nullable=False),
    Column("response", JSONB, nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    UniqueConstraint("source", "idempotency_key"),
)

rate_windows = Table(
    "rate_windows",
    metadata,
    Column("subject", String(300), primary_key=True),
    Column("window_start", DateTime(timezone=True), primary_key=True),
    Column("requests", Integer, nullable=False),
    prefixes=["UNLOGGED"],  # counts need no durability; unlogged rows commit without a WAL flush
)
"""Requests per subject (a source, a client address) and fixed window, shared by every replica."""
