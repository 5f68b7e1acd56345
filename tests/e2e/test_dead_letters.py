"""A poison record on a topic goes to the dead-letter topic; the good record after it flows."""

from __future__ import annotations

import asyncio
import base64
import uuid

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from shared.events.envelope import Envelope
from shared.events.payloads import DeadLetter, LeadCaptured
from shared.events.topics import DEAD_LETTER, LEAD_CAPTURED
from shared.identity import lead_id_for
from tests.e2e.helpers import wait_for_event


async def dead_letters_for(bootstrap: str, key: bytes, want: int, timeout_s: float = 20) -> list[DeadLetter]:
    consumer = AIOKafkaConsumer(DEAD_LETTER.name, bootstrap_servers=bootstrap, group_id=None,
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    found: list[DeadLetter] = []
    try:
        async with asyncio.timeout(timeout_s):
            while len(found) < want:
                batch = await consumer.getmany(timeout_ms=500)
                for records in batch.values():
                    found += [DeadLetter.model_validate_json(r.value) for r in records if r.key == key]
    finally:
        await consumer.stop()
    return found


async def test_malformed_event_is_dead_lettered_and_the_next_one_is_processed(stack, feedback, email):
    lead_id = lead_id_for(email)
    key = str(lead_id).encode()  # same key: same partition, poison first, good one right behind it
    good = Envelope(
        type="lead.captured", lead_id=lead_id, correlation_id=f"dlq-{uuid.uuid4()}", producer="test",
        payload=LeadCaptured(submission_id=uuid.uuid4(), source="test", email=email, job_title="CTO",
                             company_size=500, industry="saas", country="DE").model_dump(mode="json"),
    )
    poison = b'{"type": "lead.captured", "payload": "this is not an event"'
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka_bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        first = await producer.send_and_wait(LEAD_CAPTURED.name, poison, key=key)
        second = await producer.send_and_wait(LEAD_CAPTURED.name, good.to_bytes(), key=key)
    finally:
        await producer.stop()
    assert first.partition == second.partition and second.offset == first.offset + 1

    # both consumers of lead.captured (scoring, feedback's timeline) dead-letter it
    letters = await dead_letters_for(stack.kafka_bootstrap, key, want=2)
    assert {d.consumer_group for d in letters} == {"handoff.scoring.scorer", "handoff.feedback.timeline"}
    for letter in letters:
        assert (letter.original_topic, letter.partition, letter.offset) == (
            LEAD_CAPTURED.name, first.partition, first.offset)
        assert base64.b64decode(letter.value_b64) == poison  # kept whole, for replay
        assert "not an event envelope" in letter.error

    story = await asyncio.to_thread(wait_for_event, feedback, str(lead_id), "lead.routed")
    assert [e["type"] for e in story["events"]] == ["lead.captured", "lead.scored", "lead.routed"]
