"""Dead letters for the operator: a line each, the whole letter, and what a replay would send.

Pure functions over ``RecordView``s read from the dead-letter topic; ``ops.dead_letters``
does the reading and the publishing.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from ops.formatting import clock, error_summary, shorten
from ops.records import REPLAY_HEADER, RecordView
from shared.events.codec import Event, UndecodableEvent, decode
from shared.events.topics import DEAD_LETTER

ERASED = "erased"
"""All a letter of an erased lead says of why it failed: its error text may quote the person."""


def replay_marker(offset: int, partition: int = 0) -> bytes:
    """The header value naming the dead letter a replayed record came from."""
    suffix = f"{offset}" if partition == 0 else f"{partition}:{offset}"
    return f"deadletter:{suffix}".encode()


def original_bytes(view: RecordView) -> bytes | None:
    """The record the consumer gave up on, exactly as it was on its topic; None if the letter is unreadable."""
    if view.letter is None or not view.letter.value_kept:
        return None
    try:
        return base64.b64decode(view.letter.value_b64, validate=True)
    except (binascii.Error, ValueError):
        return None


def _why_no_original(view: RecordView) -> str:
    letter = view.letter
    if letter is None:
        return "the letter itself is unreadable"
    if not letter.value_kept:
        return (f"the original, {letter.value_bytes} bytes, was too large to keep in the letter; it is on "
                f"{letter.original_topic} partition {letter.partition} at offset {letter.offset} while retention "
                "keeps it")
    return "value_b64 is not base64"


def original_event(view: RecordView) -> tuple[Event | None, str | None]:
    """(the decoded original event, None) or (None, why it does not decode)."""
    raw = original_bytes(view)
    if raw is None:
        return None, _why_no_original(view)
    try:
        return decode(raw), None
    except UndecodableEvent as exc:
        return None, str(exc)


def letter_to_dict(view: RecordView, *, full: bool = False) -> dict[str, Any]:
    """The letter for --json: where it is, where it came from, and whether the original decodes."""
    data: dict[str, Any] = {"offset": view.offset, "partition": view.partition,
                            "timestamp": view.timestamp.isoformat() if view.timestamp else None}
    if view.letter is None:
        data.update(readable=False, error=view.error)
        return data
    letter = view.letter
    if view.erased:  # where it came from and whose: no original, no error text (it may quote the person)
        data.update(readable=True, erased=True, original_topic=letter.original_topic,
                    original_partition=letter.partition, original_offset=letter.offset, key=letter.key,
                    lead_id=view.erased_lead, consumer_group=letter.consumer_group, attempts=letter.attempts,
                    failed_at=letter.failed_at.isoformat(), error=ERASED)
        return data
    event, problem = original_event(view)
    data.update(
        readable=True,
        original_topic=letter.original_topic, original_partition=letter.partition,
        original_offset=letter.offset, key=letter.key, consumer_group=letter.consumer_group,
        attempts=letter.attempts, failed_at=letter.failed_at.isoformat(), error=letter.error,
        decodable=event is not None,
        event_type=event.envelope.type if event else None,
        event_id=str(event.envelope.event_id) if event else None,
        lead_id=str(event.envelope.lead_id) if event else letter.key,
    )
    if full:
        data["decode_error"] = problem
        data["event"] = event.envelope.model_dump(mode="json") if event else None
        data["value_b64"] = letter.value_b64
    return data


def letter_rows(views: list[RecordView]) -> list[list[Any]]:
    """Rows for `dead-letters list`: offset, original, group, attempts, failed_at, event, error."""
    rows = []
    for view in views:
        if view.letter is None:
            rows.append([view.offset, "-", "-", "-", clock(view.timestamp), "unreadable letter",
                         shorten(view.error, 60)])
            continue
        letter = view.letter
        if view.erased:
            rows.append([view.offset, f"{letter.original_topic}[{letter.partition}]@{letter.offset}",
                         letter.consumer_group, letter.attempts, clock(letter.failed_at), ERASED,
                         f"lead {view.erased_lead} was erased (not shown)"])
            continue
        event, _ = original_event(view)
        rows.append([view.offset, f"{letter.original_topic}[{letter.partition}]@{letter.offset}",
                     letter.consumer_group, letter.attempts, clock(letter.failed_at),
                     event.envelope.type if event else "undecodable", error_summary(letter.error, 90)])
    return rows


LIST_HEADERS = ["offset", "original", "group", "attempts", "failed_at", "event", "error"]


def format_letter(view: RecordView) -> str:
    """`dead-letters show`: every field, the whole error, the original event decoded or raw."""
    lines = [f"dead letter {DEAD_LETTER.name}[{view.partition}]@{view.offset}  (written {clock(view.timestamp)})"]
    if view.letter is None:
        raw = (view.value or b"").decode(errors="replace")
        return "\n".join(lines + [f"unreadable: {view.error}", "raw:", raw])
    letter = view.letter
    if view.erased:
        return "\n".join(lines + [
            f"original        {letter.original_topic} partition {letter.partition} offset {letter.offset}",
            f"consumer group  {letter.consumer_group}",
            f"lead {view.erased_lead} was erased: the error and the original record are not shown, nor replayed"])
    lines += [
        f"original        {letter.original_topic} partition {letter.partition} offset {letter.offset}",
        f"key             {letter.key}",
        f"consumer group  {letter.consumer_group}",
        f"attempts        {letter.attempts}",
        f"failed at       {clock(letter.failed_at)}",
        "error:",
        *("  " + line for line in letter.error.splitlines() or [""]),
    ]
    event, problem = original_event(view)
    if event is not None:
        lines += ["original event:",
                  json.dumps(event.envelope.model_dump(mode="json"), indent=2, ensure_ascii=False)]
    else:
        original = original_bytes(view)
        lines += [f"original record, undecodable ({error_summary(problem, 100)}):",
                  original.decode(errors="replace") if original is not None else letter.value_b64]
    return "\n".join(lines)


class ReplayRefused(ValueError):
    """The letter should not be replayed as it is; the message says why and what to do."""


@dataclass(frozen=True)
class ReplayPlan:
    topic: str
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...]
    event: Event | None  # None: replaying undecodable bytes (--force)

    def describe(self) -> str:
        what = (f"{self.event.envelope.type} {self.event.envelope.event_id} of lead {self.event.envelope.lead_id}"
                if self.event else f"{len(self.value)} undecodable bytes")
        return f"{what} to {self.topic}"


def plan_replay(view: RecordView, *, force: bool = False) -> ReplayPlan:
    """What a replay of this letter publishes: the original bytes and key, to the original topic.

    The key comes from the dead-letter record's own key (the original key, byte for byte),
    falling back to the letter's text copy. Raises ReplayRefused for a letter that cannot be
    read, and for an original that does not decode unless ``force``: every consumer would
    fail on it again and dead-letter it once more.
    """
    if view.letter is None:
        raise ReplayRefused(f"offset {view.offset} does not hold a readable dead letter ({view.error})")
    if view.erased:  # even with --force: the person asked to be forgotten
        raise ReplayRefused(f"lead {view.erased_lead} was erased; its events are not replayed")
    raw = original_bytes(view)
    if raw is None:
        raise ReplayRefused(f"dead letter {view.offset} has no usable original bytes ({_why_no_original(view)})")
    event, problem = original_event(view)
    if event is None and not force:
        raise ReplayRefused(
            f"the original record of dead letter {view.offset} is not a decodable event "
            f"({error_summary(problem, 100)}); "
            "replaying it would fail again and come back as a new dead letter. "
            "Fix or drop it instead, or pass --force to replay it anyway"
        )
    key = view.key if view.key is not None else (view.letter.key.encode() if view.letter.key is not None else None)
    return ReplayPlan(
        topic=view.letter.original_topic, key=key, value=raw,
        headers=((REPLAY_HEADER, replay_marker(view.offset, view.partition)),), event=event,
    )
