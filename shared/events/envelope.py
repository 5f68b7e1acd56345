"""One envelope for every event, so any consumer can route, dedupe and trace it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field

LEAD_NAMESPACE = uuid.UUID("6f1d7f3e-2d7c-4f3b-9a55-3c9e1c0a4b10")


def lead_id_for(email: str) -> uuid.UUID:
    """A person's stable identity: the same normalised email is always the same lead."""
    return uuid.uuid5(LEAD_NAMESPACE, email)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Envelope(BaseModel):
    """Metadata common to every event; ``payload`` is the versioned body for ``type``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_id: uuid.UUID = Field(default_factory=uuid.uuid4)
    type: str
    version: int = 1
    occurred_at: datetime = Field(default_factory=utcnow)
    lead_id: uuid.UUID
    correlation_id: str
    causation_id: uuid.UUID | None = None
    producer: str
    payload: dict[str, Any]

    def to_bytes(self) -> bytes:
        return orjson.dumps(self.model_dump(mode="json"))

    @classmethod
    def from_bytes(cls, raw: bytes) -> Envelope:
        return cls.model_validate_json(raw)

    @property
    def key(self) -> bytes:
        """Kafka key: all events about one person land, in order, in one partition."""
        return str(self.lead_id).encode()

    def follow(self, *, type: str, payload: BaseModel, producer: str) -> Envelope:
        """The envelope of an event this one caused: same lead, same correlation."""
        return Envelope(
            type=type,
            lead_id=self.lead_id,
            correlation_id=self.correlation_id,
            causation_id=self.event_id,
            producer=producer,
            payload=payload.model_dump(mode="json"),
        )
