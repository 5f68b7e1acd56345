"""One envelope for every event, so any consumer can route, dedupe and trace it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field

from shared.events.payloads import Payload, topic_of

WIRE_FIELDS = ("event_id", "type", "version", "occurred_at", "lead_id", "correlation_id", "producer", "payload")
"""What every envelope on a topic carries: ``to_bytes`` always writes them all."""


def utcnow() -> datetime:
    return datetime.now(UTC)


class Envelope(BaseModel):
    """Metadata common to every event; ``payload`` is the versioned body for ``type``.

    Build one with ``Envelope.start`` (the first event of a chain, e.g. a submission) or
    ``envelope.follow`` (an event this one caused): both take the payload model and derive
    the type, version and topic from its class.
    """

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

    @classmethod
    def start(cls, payload: Payload, *, lead_id: uuid.UUID, correlation_id: str, producer: str,
              causation_id: uuid.UUID | None = None) -> Envelope:
        return cls(type=payload.event_type, version=payload.version, lead_id=lead_id,
                   correlation_id=correlation_id, causation_id=causation_id, producer=producer,
                   payload=payload.model_dump(mode="json"))

    def follow(self, payload: Payload, *, producer: str) -> Envelope:
        """The envelope of an event this one caused: same lead, same correlation."""
        return Envelope.start(payload, lead_id=self.lead_id, correlation_id=self.correlation_id,
                              producer=producer, causation_id=self.event_id)

    def to_bytes(self) -> bytes:
        return orjson.dumps(self.model_dump(mode="json"))

    @classmethod
    def from_bytes(cls, raw: bytes) -> Envelope:
        """An envelope as it was written; one that lacks a field every writer sets is refused
        (ValueError), never completed with a fresh default: a new event id for the same bytes
        would defeat the consumers' dedupe and apply a redelivery twice."""
        data = orjson.loads(raw)
        if not isinstance(data, dict):
            raise ValueError("an envelope is a JSON object")
        missing = [name for name in WIRE_FIELDS if name not in data]
        if missing:
            raise ValueError(f"the envelope lacks {', '.join(missing)}")
        return cls.model_validate(data)

    @property
    def key(self) -> bytes:
        """Kafka key: all events about one person land, in order, in one partition."""
        return str(self.lead_id).encode()

    @property
    def topic(self) -> str:
        return topic_of(self.type, self.version)
