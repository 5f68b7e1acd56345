"""The ``access`` schema: named credentials, each with its roles, the installation's own secret,
and the audit log of every change."""

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    Identity,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID

SCHEMA = "access"
metadata = MetaData(schema=SCHEMA)

tokens = Table(
    "tokens",
    metadata,
    Column("token_id", UUID(as_uuid=True), primary_key=True),
    Column("name", String(100), nullable=False),
    Column("roles", ARRAY(String(20)), nullable=False),
    Column("source", String(100), nullable=True),  # the one source a `source` token posts for
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("created_by", String(100), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=True),
    Column("last_used_at", DateTime(timezone=True), nullable=True),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
    # one live token per name: a name says who acted
    Index("tokens_live_name", "name", unique=True, postgresql_where=text("revoked_at IS NULL")),
)

installation = Table(
    "installation",
    metadata,
    Column("id", SmallInteger, primary_key=True),
    # HMAC key of lead ids (shared.identity): made once by the migration, never leaves the database
    Column("lead_id_key", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("id = 1", name="installation_one_row"),
)

audit = Table(
    "audit",
    metadata,
    Column("audit_id", BigInteger, Identity(always=True), primary_key=True),
    Column("at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("actor", String(100), nullable=False),  # a token's name, or cli:<user>
    Column("roles", ARRAY(String(20)), nullable=False),
    Column("address", String(64), nullable=True),  # the client's address, as the service saw it
    Column("service", String(20), nullable=False),
    Column("action", String(200), nullable=False),  # "PATCH /owners/{owner_id}", "tokens create"
    Column("target", JSONB, nullable=False),  # the path's parameters: which thing
    Column("status", Integer, nullable=False),
    Column("request", JSONB, nullable=True),  # the body as sent, secrets taken out
    Column("before", JSONB, nullable=True),
    Column("after", JSONB, nullable=True),  # the answer, secrets taken out
    Index("ix_audit_at", "at"),
    Index("ix_audit_actor_at", "actor", "at"),
)
"""Append-only: a trigger refuses UPDATE, DELETE and TRUNCATE (access_0003)."""

erasures = Table(
    "erasures",
    metadata,
    Column("erasure_id", UUID(as_uuid=True), primary_key=True),
    Column("lead_id", UUID(as_uuid=True), nullable=False, unique=True),  # the id erased
    # the person's first id (generation 0): how many erasures it has is the generation of its next id
    Column("person", UUID(as_uuid=True), nullable=False, index=True),
    Column("generation", Integer, nullable=False),  # of the id erased
    Column("requested_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("requested_by", String(100), nullable=False),  # a token's name, or cli:<user>
)
"""One row per erasure, holding ids only: the register the product checks before it keeps
anything about a lead (``shared.access.erasures``)."""

erased_ids = Table(
    "erased_ids",
    metadata,
    Column("lead_id", UUID(as_uuid=True), primary_key=True),
    Column("erasure_id", UUID(as_uuid=True), nullable=False, index=True),
    Column("service", String(20), nullable=True),  # None: the person's id; else the anonymous id it used
    Column("erased_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
"""Every id no event may bring back: the erased person's, and each service's anonymous id
that the person's rows moved to (counts stay, no event about them is acted on)."""

erasure_progress = Table(
    "erasure_progress",
    metadata,
    Column("erasure_id", UUID(as_uuid=True), primary_key=True),
    Column("service", String(20), primary_key=True),
    Column("finished_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("rows", JSONB, nullable=False),  # table -> rows anonymised or deleted: counts only
)
