"""The shared Kafka runtime on the real broker and database: batches, retries, dead
letters, committed offsets, dedupe, and the outbox relay."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.db.engine import unit_of_work
from shared.db.metadata import outbox_table, processed_events_table
from shared.events.codec import Event
from shared.events.envelope import Envelope
from shared.events.payloads import DeadLetter
from shared.events.topics import DEAD_LETTER, LEAD_NURTURE
from shared.kafka.consumer import ConsumerSpec, EventConsumer
from shared.kafka.producer import make_producer
from shared.outbox.relay import OutboxRelay
from shared.outbox.writer import Outbox
from tests.e2e.support import nurture_event, wait_until


@pytest.fixture
async def scratch(make_scratch):
    s = await make_scratch(2)
    return s.name, s.metadata, s.effects, s.topic, s.sessions


async def produce(bootstrap: str, topic: str, values: Sequence[tuple[bytes, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for key, value in values:
            await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()


async def test_poison_record_is_retried_then_dead_lettered_and_the_rest_commit_once(stack, scratch):
    name, metadata, effects, topic, sessions = scratch
    attempts: dict[str, int] = {}

    async def handler(session: AsyncSession, events: Sequence[Event]) -> None:
        for event in events:
            email = event.payload.email
            if email.startswith("poison"):
                attempts[email] = attempts.get(email, 0) + 1
                raise RuntimeError(f"cannot handle {email}")
            await session.execute(insert(effects).values(event_id=event.envelope.event_id))

    good = [nurture_event(f"good{i}@x.io") for i in range(20)]
    poison = nurture_event("poison@x.io")
    duplicate = good[3]  # redelivered: the same event id again
    records = [(e.key, e.to_bytes()) for e in good[:10] + [poison] + good[10:] + [duplicate]]
    await produce(stack.kafka_bootstrap, topic, records)

    producer = make_producer(stack.kafka_bootstrap, client_id="itest")
    await producer.start()
    consumer = EventConsumer(ConsumerSpec("itest", (topic,), handler), service=name,
                             bootstrap_servers=stack.kafka_bootstrap, sessions=sessions,
                             processed=processed_events_table(metadata), producer=producer,
                             max_attempts=3, retry_backoff_s=0.01)
    await consumer.start()
    task = asyncio.create_task(consumer.run())
    try:
        async def all_committed():
            admin = AIOKafkaAdminClient(bootstrap_servers=stack.kafka_bootstrap)
            await admin.start()
            try:
                committed = await admin.list_consumer_group_offsets(consumer.group_id)
            finally:
                await admin.close()
            return sum(o.offset for tp, o in committed.items() if tp.topic == topic) == len(records)
        await wait_until(all_committed)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await consumer.stop()
        await producer.stop()

    async with sessions() as session:
        done = (await session.execute(select(effects.c.event_id))).scalars().all()
    assert sorted(done) == sorted(e.event_id for e in good)  # each good one exactly once
    assert attempts["poison@x.io"] == 1 + 3  # in its batch, then three tries on its own
    assert consumer.dead_lettered_count == 1

    dlq = AIOKafkaConsumer(DEAD_LETTER.name, bootstrap_servers=stack.kafka_bootstrap,
                           auto_offset_reset="earliest", enable_auto_commit=False)
    await dlq.start()
    try:
        letters: list[DeadLetter] = []
        async with asyncio.timeout(10):
            while not letters:
                for recs in (await dlq.getmany(timeout_ms=500)).values():
                    letters += [d for r in recs if (d := DeadLetter.model_validate_json(r.value)).original_topic == topic]
    finally:
        await dlq.stop()
    assert len(letters) == 1
    assert letters[0].attempts == 3 and "cannot handle <email>" in letters[0].error  # the reason, not the address
    assert "poison@x.io" not in letters[0].error
    assert letters[0].consumer_group == consumer.group_id


async def test_two_outbox_relays_publish_every_row_once_in_order_per_lead_and_empty_the_outbox(stack, scratch):
    name, metadata, _, _, sessions = scratch
    outbox = Outbox(outbox_table(metadata))
    leads = [f"relay{i}-{uuid.uuid4().hex[:6]}@x.io" for i in range(6)]
    envelopes = [nurture_event(leads[i % len(leads)]) for i in range(300)]  # 50 events per lead, in this order
    async with unit_of_work(sessions) as session:
        await outbox.emit(session, envelopes)

    producers = [make_producer(stack.kafka_bootstrap, client_id=f"itest-relay-{i}") for i in range(2)]
    for p in producers:
        await p.start()
    relays = [OutboxRelay(sessions, outbox_table(metadata), p, batch_size=40) for p in producers]
    reader = AIOKafkaConsumer(bootstrap_servers=stack.kafka_bootstrap, enable_auto_commit=False)
    await reader.start()
    partitions = [TopicPartition(LEAD_NURTURE.name, p) for p in range(LEAD_NURTURE.partitions)]
    reader.assign(partitions)
    for part, offset in (await reader.end_offsets(partitions)).items():
        reader.seek(part, offset)  # only what the relays publish from here on
    try:
        async def drain(relay: OutboxRelay) -> int:
            sent = 0
            while n := await relay.relay_once():
                sent += n
            return sent
        sent = await asyncio.gather(*(drain(r) for r in relays))
        assert sum(sent) == 300
        assert await relays[0].backlog() == 0

        wanted = {e.event_id for e in envelopes}
        seen: list[uuid.UUID] = []
        async with asyncio.timeout(15):
            while len(seen) < 300:
                for recs in (await reader.getmany(timeout_ms=500)).values():
                    seen += [eid for r in recs if (eid := Envelope.from_bytes(r.value).event_id) in wanted]
        assert len(seen) == len(set(seen)) == 300
        position = {event_id: i for i, event_id in enumerate(seen)}  # one lead's events share a partition
        for lead_id in {e.lead_id for e in envelopes}:
            written = [e.event_id for e in envelopes if e.lead_id == lead_id]
            assert sorted(written, key=position.__getitem__) == written, "a lead's events left out of order"
    finally:
        await reader.stop()
        for p in producers:
            await p.stop()
