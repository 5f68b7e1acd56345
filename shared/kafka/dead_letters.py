"""Poison records go to one dead-letter topic with the error, so the partition flows on.

The letter carries the original's bytes (base64, a third larger) so it can be replayed; an
original too large for that would make a letter the broker refuses, and the consumer could
neither dead-letter the record nor move past it. Such a letter keeps the original's place
(topic, partition, offset) and size instead of its bytes."""

from __future__ import annotations

import base64

from aiokafka.structs import ConsumerRecord

from shared.events.envelope import utcnow
from shared.events.payloads import DeadLetter
from shared.events.topics import DEAD_LETTER
from shared.kafka.producer import MAX_RECORD_BYTES, OutgoingRecord
from shared.observability.redaction import describe_error, scrub

MAX_KEPT_BYTES = MAX_RECORD_BYTES // 2
"""The largest original a letter carries: its base64 (4/3) and the rest of the letter fit in a record."""


def dead_letter_for(record: ConsumerRecord, *, error: BaseException | str, group: str,
                    attempts: int) -> OutgoingRecord:
    message = scrub(error) if isinstance(error, str) else describe_error(error)  # no personal data
    value = record.value or b""
    kept = len(value) <= MAX_KEPT_BYTES
    letter = DeadLetter(
        original_topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        key=record.key.decode(errors="replace") if record.key is not None else None,
        value_b64=base64.b64encode(value).decode() if kept else "",
        error=message[:4000],
        consumer_group=group,
        attempts=attempts,
        failed_at=utcnow(),
        value_bytes=len(value),
        value_kept=kept,
    )
    return OutgoingRecord(
        topic=DEAD_LETTER.name,
        key=record.key,
        value=letter.model_dump_json().encode(),
        headers=(("original_topic", record.topic.encode()),),
    )


def original_value(letter: DeadLetter) -> bytes:
    return base64.b64decode(letter.value_b64)
