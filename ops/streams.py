"""Reading records off a topic and publishing a replay: the I/O behind `tail` and `dead-letters`."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from contextlib import aclosing

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError
from aiokafka.structs import RecordMetadata

from ops.errors import OpsError
from ops.kafka_io import CLIENT_ID, CONNECTION_ERRORS, KafkaUnreachable, partitions_of, reader
from ops.letters import ReplayPlan
from ops.records import RecordView, matches_lead, record_view
from shared.events.topics import DEAD_LETTER
from shared.kafka.producer import make_producer
from shared.kafka.security import KafkaConnection

Hide = Callable[[Sequence[RecordView]], Awaitable[list[RecordView]]]
"""What the tool may show of a batch of records (``ops.erased.ErasedLeads.hide``)."""


async def _batches(consumer: AIOKafkaConsumer, tps: list[TopicPartition],
                   stop: dict[TopicPartition, int] | None) -> AsyncGenerator[list[RecordView], None]:
    """Records from the consumer's current positions, a poll at a time; up to ``stop``
    (exclusive) or forever if None."""
    while True:
        if stop is not None:
            done = [tp for tp in tps if await consumer.position(tp) >= stop[tp]]
            consumer.pause(*done)  # nothing more to fetch there
            if len(done) == len(tps):
                return
        batch = await consumer.getmany(timeout_ms=500, max_records=500)
        views = []
        for tp in sorted(batch, key=lambda t: t.partition):
            for r in batch[tp]:
                if stop is not None and r.offset >= stop[tp]:
                    break
                views.append(record_view(r.topic, r.partition, r.offset, r.timestamp, r.key, r.value, r.headers))
        if views:
            yield views


async def _views(consumer: AIOKafkaConsumer, tps: list[TopicPartition], stop: dict[TopicPartition, int] | None,
                 hide: Hide, keep: Callable[[RecordView], bool] = lambda _: True) -> AsyncGenerator[RecordView, None]:
    """The records ``keep`` wants, each poll's hidden as one batch: one look-up per poll, not per record."""
    async with aclosing(_batches(consumer, tps, stop)) as batches:
        async for views in batches:
            wanted = [view for view in views if keep(view)]
            for view in await hide(wanted) if wanted else ():
                yield view


async def _shown_as_they_are(views: Sequence[RecordView]) -> list[RecordView]:
    return list(views)


async def tail(bootstrap: KafkaConnection | str, topic: str, *, emit: Callable[[RecordView], None],
               from_beginning: bool = False, follow: bool = True, limit: int | None = None,
               lead_id: str | None = None, hide: Hide = _shown_as_they_are) -> int:
    """Hand each record of ``topic`` (for ``lead_id`` if given) to ``emit``; return how many.

    Starts at the beginning or at the end of every partition; without ``follow`` it stops
    at the end offsets it found when it started. No group, no commits.
    """
    shown = 0
    if limit is not None and limit <= 0:
        return shown
    tps = [TopicPartition(topic, p) for p in await partitions_of(bootstrap, topic)]
    async with reader(bootstrap, CLIENT_ID) as consumer:
        consumer.assign(tps)
        if from_beginning:
            await consumer.seek_to_beginning(*tps)
        else:
            await consumer.seek_to_end(*tps)
        stop = None if follow else await consumer.end_offsets(tps)
        async with aclosing(_views(consumer, tps, stop, hide, lambda v: matches_lead(v, lead_id))) as views:
            async for view in views:
                emit(view)
                shown += 1
                if limit is not None and shown >= limit:
                    break
    return shown


async def read_letters(bootstrap: KafkaConnection | str, *, newest: int | None = None,
                       hide: Hide = _shown_as_they_are) -> list[RecordView]:
    """Every dead letter (or the ``newest`` N when given), oldest first."""
    tps = [TopicPartition(DEAD_LETTER.name, p) for p in await partitions_of(bootstrap, DEAD_LETTER.name)]
    async with reader(bootstrap, CLIENT_ID) as consumer:
        consumer.assign(tps)
        beginning = await consumer.beginning_offsets(tps)
        end = await consumer.end_offsets(tps)
        for tp in tps:
            start = beginning[tp] if newest is None else max(beginning[tp], end[tp] - newest)
            consumer.seek(tp, start)
        views = [view async for view in _views(consumer, tps, end, _shown_as_they_are)]
    views.sort(key=lambda v: (v.timestamp is None, v.timestamp, v.partition, v.offset))
    views = views[-newest:] if newest else views
    return await hide(views) if views else []  # the letters shown, in one look-up


async def read_letter(bootstrap: KafkaConnection | str, offset: int, *, partition: int = 0,
                      hide: Hide = _shown_as_they_are) -> RecordView:
    """The one dead letter at ``offset``; OpsError saying what the topic holds if there is none."""
    partitions = await partitions_of(bootstrap, DEAD_LETTER.name)
    if partition not in partitions:
        raise OpsError(f"{DEAD_LETTER.name} has no partition {partition} (it has {len(partitions)})")
    async with reader(bootstrap, CLIENT_ID) as consumer:
        tp = TopicPartition(DEAD_LETTER.name, partition)
        consumer.assign([tp])
        first = (await consumer.beginning_offsets([tp]))[tp]
        end = (await consumer.end_offsets([tp]))[tp]
        if not first <= offset < end:
            held = f"offsets {first} to {end - 1}" if end > first else "no letters"
            raise OpsError(f"no dead letter at offset {offset}: {DEAD_LETTER.name}[{partition}] holds {held}")
        consumer.seek(tp, offset)
        async with aclosing(_views(consumer, [tp], {tp: offset + 1}, hide)) as views:
            async for view in views:
                return view
    raise OpsError(f"dead letter {offset} could not be read")  # pragma: no cover - the range was checked


async def publish_replay(bootstrap: KafkaConnection | str, plan: ReplayPlan) -> RecordMetadata:
    """Send the replay with the services' producer settings (acks=all, idempotent); wait for the ack."""
    producer = make_producer(bootstrap, client_id=CLIENT_ID)
    try:
        await producer.start()
    except (*CONNECTION_ERRORS, KafkaError) as exc:
        await producer.stop()
        raise KafkaUnreachable(str(bootstrap)) from exc
    try:
        return await producer.send_and_wait(plan.topic, plan.value, key=plan.key, headers=list(plan.headers))
    except CONNECTION_ERRORS as exc:
        raise KafkaUnreachable(str(bootstrap)) from exc
    except KafkaError as exc:
        raise OpsError(f"Kafka refused the replay to {plan.topic}: {type(exc).__name__}: {exc}") from exc
    finally:
        await producer.stop()
