"""Table metadata shared by the services: naming convention and the common tables.

Every service owns a PostgreSQL schema; the outbox and processed-events tables
exist once per schema so that a service's effect, its dedupe record and the
events it emits commit in one transaction. Beside the outbox, ``outbox_refused`` keeps
the rows Kafka refused for good, moved aside by the relay so the rows behind them flow on.
"""

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Identity,
    LargeBinary,
    MetaData,
    String,
    Table,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


REFUSAL_REASON_MAX = 1000


def service_metadata(schema: str) -> MetaData:
    """Metadata for one service's schema, with the outbox, its refused rows and processed events."""
    metadata = MetaData(schema=schema, naming_convention=NAMING_CONVENTION)
    Table(
        "outbox",
        metadata,
        Column("id", BigInteger, Identity(), primary_key=True),
        Column("topic", String(200), nullable=False),
        Column("key", LargeBinary, nullable=True),
        Column("value", LargeBinary, nullable=False),
        Column("headers", JSONB, nullable=False, server_default="{}"),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    )
    Table(
        "outbox_refused",
        metadata,
        Column("id", BigInteger, Identity(), primary_key=True),
        Column("outbox_id", BigInteger, nullable=False),  # the row's id in the outbox it left
        Column("topic", String(200), nullable=False),
        Column("key", LargeBinary, nullable=True),
        Column("value", LargeBinary, nullable=False),
        Column("headers", JSONB, nullable=False, server_default="{}"),
        Column("created_at", DateTime(timezone=True), nullable=False),  # when the outbox row was written
        Column("refused_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("reason", String(REFUSAL_REASON_MAX), nullable=False),  # error class: message
    )
    Table(
        "processed_events",
        metadata,
        Column("consumer", String(100), primary_key=True),
        Column("event_id", UUID(as_uuid=True), primary_key=True),
        Column("processed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    )
    return metadata


def outbox_table(metadata: MetaData) -> Table:
    return metadata.tables[f"{metadata.schema}.outbox"]


def outbox_refused_table(metadata: MetaData) -> Table:
    return metadata.tables[f"{metadata.schema}.outbox_refused"]


def processed_events_table(metadata: MetaData) -> Table:
    return metadata.tables[f"{metadata.schema}.processed_events"]
