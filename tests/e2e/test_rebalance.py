"""The consumer runtime under rebalances, on the real broker and database: several
replicas in one consumer group hand partitions to each other while batches are in
flight, and a replica cancelled in the middle of a batch leaves nothing half done.

"Exactly once" here is about effects: the effects table has no unique constraint,
so a record applied twice would show up as two rows."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import uuid
from collections.abc import Callable, Sequence
from typing import Self

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.db.metadata import processed_events_table
from shared.events.codec import Event
from shared.kafka.consumer import ConsumerSpec, EventConsumer, Handler
from shared.kafka.producer import make_producer
from tests.e2e.conftest import Scratch
from tests.e2e.support import nurture_event, wait_until

PARTITIONS = 4
SPEC_NAME = "itest-rebalance"


@pytest.fixture
async def scratch4(make_scratch) -> Scratch:
    """Four partitions, so that two replicas really share the topic."""
    return await make_scratch(PARTITIONS)


class Offsets:
    """The group's committed offsets next to the topic's end offsets."""

    def __init__(self, scratch: Scratch, group_id: str) -> None:
        self._scratch = scratch
        self._group_id = group_id
        self._admin = AIOKafkaAdminClient(bootstrap_servers=scratch.bootstrap)
        self._probe = AIOKafkaConsumer(bootstrap_servers=scratch.bootstrap, enable_auto_commit=False)

    async def __aenter__(self) -> Self:
        await self._admin.start()
        await self._probe.start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self._probe.stop()
        await self._admin.close()

    async def committed(self) -> dict[int, int]:
        found = await self._admin.list_consumer_group_offsets(self._group_id)
        return {tp.partition: max(found[tp].offset, 0) if tp in found else 0
                for tp in self._scratch.partitions}

    async def end(self) -> dict[int, int]:
        return {tp.partition: o for tp, o in (await self._probe.end_offsets(self._scratch.partitions)).items()}

    async def drained(self) -> bool:
        return await self.committed() == await self.end()


class Feeder:
    """Produces LeadNurtured events with distinct emails at a steady pace, so records
    keep arriving while the group rebalances."""

    def __init__(self, producer: AIOKafkaProducer, topic: str) -> None:
        self._producer = producer
        self._topic = topic
        self.sent: list[uuid.UUID] = []

    async def feed(self, at_least: int, *, until: Callable[[], bool] = lambda: True,
                   chunk: int = 5, pause_s: float = 0.05, cap: int = 3000) -> int:
        sent = 0
        while sent < at_least or not until():
            assert sent < cap, "the condition to stop feeding never came true"
            events = [nurture_event(f"rb.{uuid.uuid4().hex[:12]}@x.io") for _ in range(chunk)]
            acks = [await self._producer.send(self._topic, e.to_bytes(), key=e.key) for e in events]
            await asyncio.gather(*acks)
            self.sent += [e.event_id for e in events]
            sent += chunk
            await asyncio.sleep(pause_s)  # pacing, not synchronisation
        return sent


def replica(scratch: Scratch, handler: Handler, producer: AIOKafkaProducer, *, max_records: int) -> EventConsumer:
    """One replica: same spec name and service every time, hence the same group."""
    return EventConsumer(ConsumerSpec(SPEC_NAME, (scratch.topic,), handler), service=scratch.name,
                         bootstrap_servers=scratch.bootstrap, sessions=scratch.sessions,
                         processed=processed_events_table(scratch.metadata), producer=producer,
                         retry_backoff_s=0.05, max_records=max_records)


def owned(consumer: EventConsumer) -> set[TopicPartition]:
    """The partitions the replica holds right now (peeks at the aiokafka consumer)."""
    inner = consumer._consumer  # the runtime exposes no assignment of its own
    return set(inner.assignment()) if inner is not None else set()


async def effect_counts(scratch: Scratch) -> dict[uuid.UUID, int]:
    async with scratch.sessions() as session:
        rows = await session.execute(select(scratch.effects.c.event_id, func.count())
                                     .group_by(scratch.effects.c.event_id))
    return {event_id: n for event_id, n in rows.all()}


async def claimed(scratch: Scratch) -> int:
    processed = processed_events_table(scratch.metadata)
    async with scratch.sessions() as session:
        return (await session.execute(select(func.count()).select_from(processed)
                                      .where(processed.c.consumer == SPEC_NAME))).scalar_one()


async def stop(consumer: EventConsumer, task: asyncio.Task | None) -> None:
    """What ServiceRuntime.stop does: cancel the loop (mid-batch if need be), then leave."""
    if task is not None:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    await consumer.stop()


def rebalancing(consumer: EventConsumer) -> bool:
    """True from the moment the replica's revocation begins until its new assignment
    (peeks at aiokafka's subscription state: the runtime exposes none of its own)."""
    inner = consumer._consumer
    return inner is not None and inner._subscription.reassignment_in_progress


async def _now(value: bool) -> bool:
    return value


async def _drained(offsets: Offsets, task: asyncio.Task | None) -> bool:
    return alive(task) and await offsets.drained()


def alive(*tasks: asyncio.Task | None) -> bool:
    """Fail at once, with its error, if a consumer loop has died."""
    for task in tasks:
        if task is not None and task.done() and not task.cancelled() and task.exception() is not None:
            raise AssertionError(f"a consumer loop died: {task.exception()!r}") from task.exception()
    return True


def assert_each_effect_once(counts: dict[uuid.UUID, int], wanted: Sequence[uuid.UUID]) -> None:
    assert len(wanted) == len(set(wanted))
    missing = set(wanted) - set(counts)
    unexpected = set(counts) - set(wanted)
    repeated = {event_id: n for event_id, n in counts.items() if n != 1}
    assert not missing, f"{len(missing)} events lost"
    assert not unexpected, f"{len(unexpected)} effects of events never produced"
    assert not repeated, f"{len(repeated)} effects applied more than once: {list(repeated.values())[:5]}"


async def test_two_replicas_share_a_topic_through_two_rebalances_and_apply_every_event_once(
        stack, scratch4, caplog):
    s = scratch4
    caplog.set_level(logging.WARNING, logger="shared.kafka.consumer")
    replicas: dict[str, EventConsumer] = {}
    batches: list[str] = []  # which replica handled each batch, in order
    in_batch = {"A": asyncio.Event(), "B": asyncio.Event()}
    hold = {"A": False, "B": False}  # armed: keep the next batch open until a revocation begins
    held_across_revocation: list[str] = []
    pauses = itertools.cycle([0.005, 0.010, 0.015, 0.020])

    def handler_for(label: str) -> Handler:
        async def handler(session: AsyncSession, events: Sequence[Event]) -> None:
            await session.execute(insert(s.effects), [{"event_id": e.envelope.event_id} for e in events])
            batches.append(label)
            in_batch[label].set()
            try:  # the batch is in flight, its effects and its offsets uncommitted
                if hold[label]:
                    hold[label] = False
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(15):
                            while not rebalancing(replicas[label]):
                                await asyncio.sleep(0.01)
                            held_across_revocation.append(label)
                else:
                    await asyncio.sleep(next(pauses))
            finally:
                in_batch[label].clear()
        return handler

    async def in_the_middle_of_a_batch(label: str) -> None:
        while not in_batch[label].is_set():
            await in_batch[label].wait()

    def b_ran_and_then_a_ran_again() -> bool:
        return "B" in batches and "A" in batches[batches.index("B") + 1:]

    producer = make_producer(s.bootstrap, client_id="itest-rebalance")
    await producer.start()
    a = replicas["A"] = replica(s, handler_for("A"), producer, max_records=20)
    b = replicas["B"] = replica(s, handler_for("B"), producer, max_records=20)
    assert a.group_id == b.group_id
    feeder = Feeder(producer, s.topic)
    task_a = task_b = None

    async def a_owns_everything() -> bool:
        return len(owned(a)) == PARTITIONS

    try:
        async with asyncio.timeout(55), Offsets(s, a.group_id) as offsets:
            await a.start()
            task_a = asyncio.create_task(a.run())
            await wait_until(a_owns_everything)

            # phase 1: A alone. B joins while A is processing, and A's next batch is
            # still open when A's revocation begins
            phase1 = asyncio.create_task(feeder.feed(300))
            await wait_until(lambda: _now(a.processed_count > 0))
            hold["A"] = True
            await b.start()
            task_b = asyncio.create_task(b.run())
            produced1 = await phase1

            # phase 2: records keep coming until the group has split the partitions
            # and both replicas have handled batches side by side
            produced2 = await feeder.feed(300, until=lambda: bool(
                alive(task_a, task_b) and owned(b) and len(owned(a)) < PARTITIONS and b.processed_count > 0
                and b_ran_and_then_a_ran_again()))
            assert owned(a) and owned(b) and not owned(a) & owned(b)
            assert held_across_revocation == ["A"]
            a_processed_before_leaving = a.processed_count

            # phase 3: B holds a batch open; A stops in the middle of one of its own
            # while records keep coming, and B takes every partition over
            phase3 = asyncio.create_task(feeder.feed(
                200, until=lambda: alive(task_b) and len(owned(b)) == PARTITIONS))
            hold["B"] = True
            await wait_until(lambda: _now(not hold["B"]))  # B's held batch has begun
            async with asyncio.timeout(20):
                await in_the_middle_of_a_batch("A")
            await stop(a, task_a)
            task_a = None
            produced3 = await phase3

            await wait_until(lambda: _drained(offsets, task_b), timeout_s=30)
            committed, end = await offsets.committed(), await offsets.end()
    finally:
        for consumer, task in ((a, task_a), (b, task_b)):
            await stop(consumer, task)
        await producer.stop()

    print(f"produced {produced1}+{produced2}+{produced3}, batches A={batches.count('A')} "
          f"B={batches.count('B')}, processed A={a.processed_count} B={b.processed_count}")
    assert committed == end and sum(end.values()) == len(feeder.sent)
    assert_each_effect_once(await effect_counts(s), feeder.sent)
    assert await claimed(s) == len(feeder.sent)
    assert a_processed_before_leaving > 0 and b.processed_count > 0
    # every record's effect was committed by exactly one of them
    assert a.processed_count + b.processed_count == len(feeder.sent)
    # both rebalances began with a batch in flight, and the revocation waited for it:
    # its offsets were committed before the partitions moved, never refused
    assert held_across_revocation == ["A", "B"]
    refused = [r.getMessage() for r in caplog.records if "offset commit failed" in r.getMessage()]
    assert not refused


async def test_a_replica_cancelled_in_the_middle_of_a_batch_leaves_no_partial_effect(stack, scratch4):
    s = scratch4
    events = [nurture_event(f"cancel{i}.{uuid.uuid4().hex[:8]}@x.io") for i in range(60)]
    trap = events[35].event_id
    trapped = asyncio.Event()
    trapped_batch: list[uuid.UUID] = []

    async def handler(session: AsyncSession, batch: Sequence[Event]) -> None:
        ids = [e.envelope.event_id for e in batch]
        await session.execute(insert(s.effects), [{"event_id": i} for i in ids])
        if trap in ids and not trapped.is_set():
            trapped_batch.extend(ids)
            trapped.set()
            await asyncio.sleep(600)  # cancelled long before this ends

    producer = make_producer(s.bootstrap, client_id="itest-cancel")
    await producer.start()
    first = replica(s, handler, producer, max_records=10)
    second = replica(s, handler, producer, max_records=10)
    task_first = task_second = None
    try:
        async with asyncio.timeout(55), Offsets(s, first.group_id) as offsets:
            acks = [await producer.send(s.topic, e.to_bytes(), key=e.key) for e in events]
            await asyncio.gather(*acks)

            await first.start()
            task_first = asyncio.create_task(first.run())
            async with asyncio.timeout(20):
                await trapped.wait()
            # the trapped batch's effects are written but not committed: nobody sees them
            assert not set(trapped_batch) & set(await effect_counts(s))

            task_first.cancel()
            await asyncio.gather(task_first, return_exceptions=True)
            assert task_first.cancelled()
            task_first = None
            await first.stop()

            done_by_first = await effect_counts(s)
            assert not set(trapped_batch) & set(done_by_first), "the cancelled batch left effects behind"
            assert all(n == 1 for n in done_by_first.values())
            assert len(done_by_first) == first.processed_count == await claimed(s)
            # offsets were committed for the batches before, never for the cancelled one
            assert sum((await offsets.committed()).values()) == first.processed_count

            await second.start()
            task_second = asyncio.create_task(second.run())
            await wait_until(lambda: _drained(offsets, task_second), timeout_s=30)
    finally:
        await stop(first, task_first)
        await stop(second, task_second)
        await producer.stop()

    assert_each_effect_once(await effect_counts(s), [e.event_id for e in events])
    assert await claimed(s) == len(events)
    assert first.processed_count + second.processed_count == len(events)
    assert second.processed_count >= len(trapped_batch) > 0
