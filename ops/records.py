"""One Kafka record as the operator sees it: decoded when it is an event, shown as such when not."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypedDict

from ops.formatting import clock, error_summary, event_facts, shorten
from shared.events.codec import Event, UndecodableEvent, decode
from shared.events.payloads import DeadLetter
from shared.events.topics import DEAD_LETTER

REPLAY_HEADER = "handoff-replay-of"  # on a record `ops dead-letters replay` published


@dataclass(frozen=True)
class RecordView:
    topic: str
    partition: int
    offset: int
    timestamp: datetime | None  # the record's broker/producer timestamp
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()
    event: Event | None = None
    letter: DeadLetter | None = None  # records on the dead-letter topic
    error: str | None = None  # why it could not be decoded
    erased_lead: str | None = None  # the erased lead it is about: only coordinates and this are left (ops.erased)

    @property
    def erased(self) -> bool:
        return self.erased_lead is not None

    @property
    def key_text(self) -> str | None:
        return self.key.decode(errors="replace") if self.key is not None else None

    @property
    def lead_id(self) -> str | None:
        if self.event is not None:
            return str(self.event.envelope.lead_id)
        return self.key_text

    @property
    def where(self) -> str:
        return f"{self.topic}[{self.partition}]@{self.offset}"

    def header(self, name: str) -> str | None:
        return next((v.decode(errors="replace") for k, v in self.headers if k == name), None)


class _RecordFields(TypedDict):
    """The RecordView fields every decoding outcome shares."""

    topic: str
    partition: int
    offset: int
    timestamp: datetime | None
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]


def record_view(topic: str, partition: int, offset: int, timestamp_ms: int | None,
                key: bytes | None, value: bytes | None,
                headers: Sequence[tuple[str, bytes]] = ()) -> RecordView:
    """Decode a record: an event envelope, or a dead letter on the dead-letter topic; never raises."""
    ts = datetime.fromtimestamp(timestamp_ms / 1000, UTC) if timestamp_ms is not None and timestamp_ms >= 0 else None
    base = _RecordFields(topic=topic, partition=partition, offset=offset, timestamp=ts, key=key, value=value,
                          headers=tuple((k, bytes(v or b"")) for k, v in headers))
    if topic == DEAD_LETTER.name:
        try:
            return RecordView(**base, letter=DeadLetter.model_validate_json(value or b""))
        except ValueError as exc:
            return RecordView(**base, error=f"not a dead letter: {exc}")
    try:
        return RecordView(**base, event=decode(value))
    except UndecodableEvent as exc:
        return RecordView(**base, error=str(exc))


def matches_lead(view: RecordView, lead_id: str | None) -> bool:
    """Keyed by the lead id everywhere (dead letters keep the original key); the envelope agrees."""
    if lead_id is None:
        return True
    return view.key_text == lead_id or view.lead_id == lead_id


def preview(value: bytes | None, width: int = 60) -> str:
    if value is None:
        return "<no value>"
    return shorten(repr(value[: width * 2])[2:-1], width)


def format_record_line(view: RecordView) -> str:
    """time  topic[partition]@offset  type  lead  facts — one line per record."""
    if view.erased:
        return f"{clock(view.timestamp)}  {view.where}  lead {view.erased_lead}: erased (not shown)"
    if view.event is not None:
        env = view.event.envelope
        facts = event_facts(env.type, view.event.payload.model_dump(mode="json"))
        replay = view.header(REPLAY_HEADER)
        facts += f" (replay of {replay})" if replay else ""
        return f"{clock(env.occurred_at)}  {view.where}  {env.type}  {env.lead_id}  {facts}"
    if view.letter is not None:
        letter = view.letter
        return (f"{clock(letter.failed_at)}  {view.where}  dead-letter  {letter.key or '-'}  "
                f"from {letter.original_topic}[{letter.partition}]@{letter.offset} group={letter.consumer_group} "
                f"attempts={letter.attempts} error: {error_summary(letter.error)}")
    replay = view.header(REPLAY_HEADER)
    return (f"{clock(view.timestamp)}  {view.where}  UNDECODABLE  {view.key_text or '-'}  "
            f"{error_summary(view.error, 100)}; value: {preview(view.value)}"
            + (f" (replay of {replay})" if replay else ""))


def record_to_dict(view: RecordView) -> dict[str, Any]:
    """The record for --json: its coordinates and the full envelope (or letter, or raw bytes)."""
    if view.erased:  # where it is and whose, nothing it carries (not even its headers)
        return {"topic": view.topic, "partition": view.partition, "offset": view.offset,
                "lead_id": view.erased_lead, "erased": True}
    data: dict[str, Any] = {
        "topic": view.topic, "partition": view.partition, "offset": view.offset,
        "timestamp": view.timestamp.isoformat() if view.timestamp else None, "key": view.key_text,
        "headers": {k: v.decode(errors="replace") for k, v in view.headers},
    }
    if view.event is not None:
        data["envelope"] = view.event.envelope.model_dump(mode="json")
    elif view.letter is not None:
        data["dead_letter"] = view.letter.model_dump(mode="json")
    else:
        data["error"] = view.error
        data["value_b64"] = base64.b64encode(view.value).decode() if view.value is not None else None
    return data
