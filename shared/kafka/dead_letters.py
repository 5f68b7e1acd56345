"""Poison records go to one dead-letter topic with the error, so the partition flows on."""

from __future__ import annotations

import base64

from aiokafka.structs import ConsumerRecord

from shared.events.envelope import utcnow
from shared.events.payloads import DeadLetter
from shared.events.topics import DEAD_LETTER
from shared.kafka.producer import OutgoingRecord


def dead_letter_for(record: ConsumerRecord, *, error: BaseException | str, group: str,
                    attempts: int) -> OutgoingRecord:
    message = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
    letter = DeadLetter(
        original_topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        key=record.key.decode(errors="replace") if record.key is not None else None,
        value_b64=base64.b64encode(record.value or b"").decode(),
        error=message[:4000],
        consumer_group=group,
        attempts=attempts,
        failed_at=utcnow(),
    )
    return OutgoingRecord(
        topic=DEAD_LETTER.name,
        key=record.key,
        value=letter.model_dump_json().encode(),
        headers=(("original_topic", record.topic.encode()),),
    )


def original_value(letter: DeadLetter) -> bytes:
    return base64.b64decode(letter.value_b64)
