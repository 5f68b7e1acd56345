"""Bytes on a topic <-> a typed event; anything that fails here is a poison record, said
with the problems' places and reasons, never the record's values (they go to dead letters)."""

from __future__ import annotations

from dataclasses import dataclass

from shared.events.envelope import Envelope
from shared.events.payloads import Payload, parse_payload
from shared.observability.redaction import describe_error


class UndecodableEvent(ValueError):
    """The record is not an event this pipeline understands; retrying cannot help."""


@dataclass(frozen=True)
class Event:
    envelope: Envelope
    payload: Payload


def decode(raw: bytes | None) -> Event:
    if raw is None:
        raise UndecodableEvent("record has no value")
    try:
        envelope = Envelope.from_bytes(raw)
    except ValueError as exc:
        raise UndecodableEvent(f"not an event envelope: {describe_error(exc)}") from exc
    try:
        payload = parse_payload(envelope.type, envelope.version, envelope.payload)
    except KeyError:
        raise UndecodableEvent(f"unknown event type {envelope.type!r} version {envelope.version}") from None
    except ValueError as exc:
        raise UndecodableEvent(f"bad {envelope.type} payload: {describe_error(exc)}") from exc
    return Event(envelope, payload)
