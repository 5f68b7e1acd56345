"""Routing's tables: assignments (one per lead per cycle) and the round-robin pointer."""

from sqlalchemy import BigInteger, Column, DateTime, Identity, Integer, String, Table, UniqueConstraint, func
from sqlalchemy.dialects.postgresql import UUID

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
    Column("reason", String(500), nullable=False),
    Column("assigned_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    UniqueConstraint("lead_id", "cycle"),
)

nurtured = Table(
    "nurtured",
    metadata,
    Column("lead_id", UUID(as_uuid=True), primary_key=True),
    Column("cycle", Integer, primary_key=True),
    Column("nurtured_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

pool_pointers = Table(
    "pool_pointers",
    metadata,
    Column("pool", String(100), primary_key=True),
    Column("position", BigInteger, nullable=False, server_default="0"),
)
