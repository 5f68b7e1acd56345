"""The consumer loop every service uses.

Each poll is handled as one batch in one database transaction; offsets are
committed only after that transaction committed. A batch that fails is replayed
record by record so one poison record cannot hold the others back: a record
that keeps failing is retried a bounded number of times and then dead-lettered
with its error. Records that cannot even be decoded go to the dead-letter topic
at once. A "not now" (``not_now``: the database or broker away, shutting down or starting
up, a serialization failure, a deadlock, a statement timeout) is not the record's fault:
the batch is retried with backoff until it passes, and nothing is dead-lettered for it.

Metrics (``shared/observability/metrics.py``) are counted only once a step finished:
records consumed after the offset commit, dead letters after Kafka acknowledged them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TypeVarTuple

from aiokafka import (
    AIOKafkaConsumer,
    AIOKafkaProducer,
    ConsumerRebalanceListener,
    TopicPartition,
)
from aiokafka.errors import (
    CommitFailedError,
    IllegalStateError,
    KafkaConnectionError,
    KafkaTimeoutError,
)
from aiokafka.structs import ConsumerRecord
from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.access.erasures import claim_alive
from shared.db.engine import unit_of_work
from shared.db.errors import try_again_later
from shared.db.idempotency import claim_new
from shared.events.codec import Event, UndecodableEvent, decode
from shared.kafka.dead_letters import dead_letter_for
from shared.kafka.producer import OutgoingRecord, send_all
from shared.kafka.security import KafkaConnection, kafka_connection
from shared.observability import metrics
from shared.observability.correlation import correlation

log = logging.getLogger(__name__)

Handler = Callable[[AsyncSession, Sequence[Event]], Awaitable[None]]

KAFKA_NOT_NOW = (KafkaConnectionError, KafkaTimeoutError)


def not_now(error: BaseException) -> bool:
    """The database or the broker cannot serve us now (away, shutting down, starting up, a
    conflict or timeout that resolves itself): not the record's fault, so the batch is retried
    until it passes and nothing is dead-lettered for it."""
    return isinstance(error, KAFKA_NOT_NOW) or try_again_later(error)

StepArgs = TypeVarTuple("StepArgs")


@dataclass(frozen=True)
class ConsumerSpec:
    """What one consumer of a service reads and what it does with a batch."""

    name: str
    topics: tuple[str, ...]
    handler: Handler
    erases: bool = False
    """The eraser: it reads events about erased leads on purpose. Every other consumer drops
    them before its handler sees them (``shared.access.erasures.claim_alive``)."""


class _FinishBatchBeforeRevoke(ConsumerRebalanceListener):  # type: ignore[misc]  # aiokafka ships no type information
    """A rebalance waits for the batch in flight to commit, so no partition is handed
    over with processed but uncommitted records."""

    def __init__(self, lock: asyncio.Lock) -> None:
        self._lock = lock

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        async with self._lock:
            log.info("partitions revoked", extra={"partitions": [str(tp) for tp in revoked]})

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        log.info("partitions assigned", extra={"partitions": [str(tp) for tp in assigned]})


class EventConsumer:
    def __init__(self, spec: ConsumerSpec, *, service: str, bootstrap_servers: KafkaConnection | str,
                 sessions: async_sessionmaker[AsyncSession], processed: Table,
                 producer: AIOKafkaProducer, on_committed: Callable[[], None] = lambda: None,
                 max_attempts: int = 3, retry_backoff_s: float = 0.2, max_records: int = 500,
                 instance_id: str | None = None) -> None:
        self.spec = spec
        self.group_id = f"handoff.{service}.{spec.name}"
        # static membership (KIP-345): the same replica coming back is the same member, and the
        # broker hands it its partitions at once instead of waiting out the dead session
        self.group_instance_id = f"{instance_id}.{spec.name}" if instance_id else None
        self._connection = kafka_connection(bootstrap_servers)
        self._sessions = sessions
        self._processed = processed
        self._producer = producer
        self._on_committed = on_committed
        self._max_attempts = max_attempts
        self._retry_backoff_s = retry_backoff_s
        self._max_records = max_records
        self._lock = asyncio.Lock()
        self._consumer: AIOKafkaConsumer | None = None
        self.processed_count = 0
        self.dead_lettered_count = 0
        self._lag_series = metrics.LagSeries(self.group_id)

    async def start(self) -> None:
        self._consumer = AIOKafkaConsumer(
            **self._connection.client_kwargs(),
            group_id=self.group_id,
            client_id=self.group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=100,
            rebalance_timeout_ms=60_000,  # a rebalance waits this long for the batch in flight
            group_instance_id=self.group_instance_id,
        )
        try:
            await self._consumer.start()
        except BaseException:
            await self._discard()
            raise
        self._consumer.subscribe(list(self.spec.topics), listener=_FinishBatchBeforeRevoke(self._lock))

    async def restart(self) -> None:
        """A fresh client after the loop failed: once aiokafka's coordination task has failed,
        every poll of that client raises again. With static membership the new client takes
        the same partitions back at once."""
        await self._discard()
        await self.start()

    async def _discard(self) -> None:
        old, self._consumer = self._consumer, None
        if old is not None:
            try:
                await old.stop()
            except Exception as exc:  # the client is broken already; its replacement matters
                log.warning("could not close the old %s client cleanly (%s: %s)", self.group_id,
                            type(exc).__name__, exc)

    async def stop(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None
        self._lag_series.clear()

    async def run(self) -> None:
        assert self._consumer is not None, "start() first"
        while True:
            batch = await self._consumer.getmany(timeout_ms=500, max_records=self._max_records)
            if not batch:
                continue
            async with self._lock:
                with metrics.sql_work(self.group_id):
                    await self._handle_poll(batch)

    async def _handle_poll(self, batch: dict[TopicPartition, list[ConsumerRecord]]) -> None:
        started = time.perf_counter()
        records = [record for partition_records in batch.values() for record in partition_records]
        decoded: list[tuple[ConsumerRecord, Event]] = []
        poison: list[OutgoingRecord] = []
        for record in records:
            try:
                decoded.append((record, decode(record.value)))
            except UndecodableEvent as exc:
                log.warning("undecodable record sent to dead letters",
                            extra={"topic": record.topic, "offset": record.offset, "error": str(exc)})
                poison.append(dead_letter_for(record, error=exc, group=self.group_id, attempts=1))
        await self._until_infrastructure_answers(self._apply_batch, decoded, poison)
        await self._commit({tp: recs[-1].offset + 1 for tp, recs in batch.items()})
        self._observe_batch(records, time.perf_counter() - started)

    def _observe_batch(self, records: Sequence[ConsumerRecord], seconds: float) -> None:
        try:
            metrics.count_by_topic(metrics.EVENTS_CONSUMED, (r.topic for r in records), self.group_id)
            metrics.BATCH_PROCESSING.labels(self.group_id).observe(seconds)
            per_event = metrics.EVENT_PROCESSING.labels(self.group_id)
            for _ in records:
                per_event.observe(seconds / len(records))
        except Exception:  # metrics never stop the loop
            log.warning("could not count a finished batch", exc_info=True)

    async def _until_infrastructure_answers(self, step: Callable[[*StepArgs], Awaitable[None]],
                                            *args: *StepArgs) -> None:
        delay = self._retry_backoff_s
        while True:
            try:
                return await step(*args)
            except Exception as exc:
                if not not_now(exc):
                    raise
                log.warning("database or broker cannot serve us now (%s: %s); retrying the batch in %.2f s, "
                            "nothing is skipped", type(exc).__name__, _first_line(exc), delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _apply_batch(self, decoded: list[tuple[ConsumerRecord, Event]],
                           undecodable: list[OutgoingRecord]) -> None:
        poison = list(undecodable)
        try:
            await self._apply([event for _, event in decoded])
        except Exception as exc:
            if not_now(exc):
                raise
            log.warning("batch failed; replaying it record by record", exc_info=True)
            for record, event in decoded:
                letter = await self._apply_one(record, event)
                if letter is not None:
                    poison.append(letter)
        if poison:
            await send_all(self._producer, poison)
            self.dead_lettered_count += len(poison)
            metrics.count_by_topic(metrics.EVENTS_PRODUCED, (letter.topic for letter in poison))
            metrics.count_by_topic(metrics.DEAD_LETTERS, (_original_topic(letter) for letter in poison),
                                   self.group_id)

    async def _apply(self, events: Sequence[Event]) -> None:
        if not events:
            return
        async with unit_of_work(self._sessions) as session:
            if self.spec.erases:  # the eraser acts on erased ids: the register must not hold it back
                fresh_ids = await claim_new(session, self._processed, self.spec.name,
                                            (e.envelope.event_id for e in events))
                fresh = []
                for event in events:
                    if event.envelope.event_id in fresh_ids:
                        fresh.append(event)
                        fresh_ids.discard(event.envelope.event_id)  # a second copy in the batch is not new
            else:
                fresh, dropped = await claim_alive(session, self._processed, self.spec.name, events)
                if dropped:
                    log.info("dropped %d events about erased leads", dropped, extra={"consumer_group": self.group_id})
            if fresh:
                await self.spec.handler(session, fresh)
        self.processed_count += len(fresh)
        self._log_handled(fresh)

    def _log_handled(self, events: Sequence[Event]) -> None:
        """One INFO line per batch (a line per event cost as much as the work at full speed). It
        lists the types handled under each correlation id, so a lead's path through every
        service can still be followed in the logs; the line per event is at DEBUG."""
        if not events:
            return
        if log.isEnabledFor(logging.INFO):
            handled: dict[str, list[str]] = {}
            for event in events:
                handled.setdefault(event.envelope.correlation_id, []).append(event.envelope.type)
            log.info("handled %d events", len(events),
                     extra={"consumer_group": self.group_id, "events": len(events), "handled": handled})
        if log.isEnabledFor(logging.DEBUG):
            for event in events:
                env = event.envelope
                with correlation(env.correlation_id):
                    log.debug("handled %s", env.type, extra={"lead_id": str(env.lead_id),
                                                             "event_id": str(env.event_id),
                                                             "consumer_group": self.group_id})

    async def _apply_one(self, record: ConsumerRecord, event: Event) -> OutgoingRecord | None:
        """Bounded retries for one record; returns its dead letter if it never succeeds."""
        error: Exception | None = None
        with correlation(event.envelope.correlation_id):
            for attempt in range(1, self._max_attempts + 1):
                try:
                    await self._apply([event])
                    return None
                except Exception as exc:
                    if not_now(exc):
                        raise
                    error = exc
                    log.warning("record failed", exc_info=True,
                                extra={"event_id": str(event.envelope.event_id), "attempt": attempt})
                    await asyncio.sleep(self._retry_backoff_s * attempt)
            log.error("record dead-lettered after %d attempts", self._max_attempts,
                      extra={"event_id": str(event.envelope.event_id), "topic": record.topic})
            assert error is not None, "max_attempts >= 1 (settings enforce it), so every attempt failed with one"
            return dead_letter_for(record, error=error, group=self.group_id, attempts=self._max_attempts)

    async def lag(self) -> dict[TopicPartition, int]:
        """Per assigned partition: end offset minus the group's committed offset.

        Asks the broker (``end_offsets``, ``committed``; ``beginning_offsets`` where the group
        never committed), so it may wait on a rebalance: callers bound it with a timeout.
        """
        consumer = self._consumer
        if consumer is None:
            return {}
        assigned = sorted(consumer.assignment())
        if not assigned:
            return {}
        end = await consumer.end_offsets(assigned)
        committed = dict(zip(assigned, await asyncio.gather(*(consumer.committed(tp) for tp in assigned)),
                             strict=True))
        never = [tp for tp, offset in committed.items() if offset is None]
        beginning = await consumer.beginning_offsets(never) if never else {}
        return {tp: metrics.partition_lag(end[tp], committed[tp], beginning.get(tp, 0))
                for tp in assigned if tp in end}

    async def refresh_lag_metric(self) -> None:
        lags = await self.lag()
        self._lag_series.update({(tp.topic, tp.partition): n for tp, n in lags.items()})

    async def _commit(self, offsets: dict[TopicPartition, int]) -> None:
        assert self._consumer is not None
        try:
            await self._consumer.commit(offsets)
        except (CommitFailedError, IllegalStateError):
            # the group moved on (a rebalance we could not hold, or our membership expired)
            log.warning("offset commit failed after a rebalance; the new owner reprocesses "
                        "these records and the processed-events record makes that harmless")
            return
        self._on_committed()


def _first_line(error: BaseException) -> str:
    return (str(error).splitlines() or [""])[0][:300]


def _original_topic(letter: OutgoingRecord) -> str:
    """Dead letters carry the topic they came from in a header (``dead_letter_for``)."""
    return dict(letter.headers).get("original_topic", b"unknown").decode(errors="replace")
