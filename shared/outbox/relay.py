"""Publishes outbox rows to Kafka, then deletes them: never commit-then-send.

One relay sends at a time per outbox, whatever the number of replicas (an advisory lock
per round), so each lead's events leave in the order they were written. Rows are claimed
with FOR UPDATE and stay locked until Kafka has acknowledged them; a relay that dies
mid-send leaves its rows to be sent again (consumers dedupe by event id).

A row Kafka refuses for good (too large, an invalid or forbidden topic) is moved to
``outbox_refused`` in the same transaction, so the rows behind it flow on; a "not now"
(broker away, no leader, no such topic yet) leaves every row where it is and the relay
tries again, backing off. Since the broker answers per producer batch, and aiokafka's
idempotent producer is out of step with the broker after a refused batch, the rows not
acknowledged in the batched send are sent again one at a time by a fresh producer, and
only a row refused on its own is set aside.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from sqlalchemy import Table, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.db.advisory import advisory_key
from shared.db.bulk import any_of
from shared.db.engine import unit_of_work
from shared.db.metadata import outbox_refused_table
from shared.events.topics import LEAD_ERASURE, LEAD_TOPICS
from shared.kafka.producer import (
    Delivery,
    OutgoingRecord,
    Producer,
    broker_record_limit,
    kafka_headers,
    limit_warning,
    send_each,
)
from shared.loops import repeat
from shared.observability import metrics
from shared.outbox.refused import OutboxRow, set_aside

log = logging.getLogger(__name__)

for _topic in (*LEAD_TOPICS, LEAD_ERASURE):
    metrics.OUTBOX_REFUSED.labels(_topic.name)  # exported from the start at 0, so the first refusal is an increase


def backoff_s(failures: int, first_s: float, cap_s: float) -> float:
    """Pause after the n-th failure in a row: doubling from ``first_s``, at most ``cap_s``."""
    return min(first_s * 2.0 ** max(failures - 1, 0), cap_s)


def overtaken(rows: Sequence[OutboxRow], deliveries: Sequence[Delivery]) -> list[bytes | None]:
    """Keys whose later row was acknowledged while an earlier one was not.

    Only possible when the broker refused the first batch a producer ever sent to that
    partition (it then has no sequence to hold the next batch to), so it is logged.
    """
    first_unsent: dict[bytes | None, int] = {}
    for row, d in zip(rows, deliveries, strict=True):
        if not d.acked:
            first_unsent.setdefault(row.key, row.id)
    return sorted({row.key for row, d in zip(rows, deliveries, strict=True)
                   if d.acked and row.key in first_unsent and row.id > first_unsent[row.key]},
                  key=lambda k: k or b"")


class OutboxRelay:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], table: Table,
                 producer: Producer, *, batch_size: int = 500,
                 idle_interval_s: float = 0.5, error_backoff_s: float = 1.0, max_backoff_s: float = 5.0,
                 send_timeout_s: float = 30.0) -> None:
        self._sessions = sessions
        self._table = table
        self._refused = outbox_refused_table(table.metadata)
        self._lock_key = advisory_key(f"outbox relay {table.fullname}")
        self._producer = producer
        self._own_producer: Producer | None = None  # made here (renewed), so stopped here
        self._batch_size = batch_size
        self._idle_interval_s = idle_interval_s
        self._error_backoff_s = error_backoff_s
        self._max_backoff_s = max_backoff_s
        self._send_timeout_s = send_timeout_s
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Called after a transaction that wrote to the outbox committed."""
        self._wake.set()

    async def relay_once(self) -> int:
        """One batch: sent and deleted, refused rows set aside, in one transaction. Raises on a
        "not now", with nothing deleted. Returns the rows handled."""
        t = self._table
        async with unit_of_work(self._sessions) as session:
            if not await self._turn(session):
                return 0  # another replica is relaying this outbox right now; it takes these rows too
            rows = [
                OutboxRow(row.id, row.topic, row.key, row.value, dict(row.headers), row.created_at)
                for row in (
                    await session.execute(
                        select(t.c.id, t.c.topic, t.c.key, t.c.value, t.c.headers, t.c.created_at)
                        .order_by(t.c.id)
                        .limit(self._batch_size)
                        .with_for_update(skip_locked=True)
                    )
                ).all()
            ]
            if not rows:
                return 0
            delivered, refused = await self._send(rows)
            if delivered:
                await session.execute(delete(t).where(any_of(t.c.id, [row.id for row in delivered])))
            if refused:
                await self._set_aside(session, refused)
        return len(rows)

    async def _turn(self, session: AsyncSession) -> bool:
        """One relay of this outbox at a time, across replicas: a transaction-scoped advisory
        lock keyed by the table's name. Each round's rows are acknowledged before its commit
        releases the lock, so the next round (on whichever replica) sends later rows only
        after the earlier ones are on their partitions: each lead's events leave in the order
        they were written, however many replicas run."""
        return bool((await session.execute(select(func.pg_try_advisory_xact_lock(self._lock_key)))).scalar_one())

    async def _send(self, rows: list[OutboxRow]) -> tuple[list[OutboxRow], list[tuple[OutboxRow, BaseException]]]:
        """(acknowledged, refused for good). All rows in one go first; the rows the broker did
        not take then one at a time, so that its answer is about that row only."""
        deliveries = await send_each(self._producer, [_record(row) for row in rows], timeout_s=self._send_timeout_s)
        pairs = list(zip(rows, deliveries, strict=True))
        delivered = [row for row, d in pairs if d.acked]
        # acknowledged by Kafka: counted even if the delete fails and they go again
        metrics.count_by_topic(metrics.EVENTS_PRODUCED, (row.topic for row in delivered))
        not_now = next((d.error for d in deliveries if not (d.acked or d.refused or d.producer_state_lost)), None)
        if not_now is not None:
            if any(d.producer_state_lost or (d.refused and not d.before_sending) for d in deliveries):
                await self._renew_producer()  # out of step with the broker: the next round starts afresh
            raise not_now
        # refused by the producer before sending: certainly this row, and nothing reached the broker
        refused = [(row, d.error) for row, d in pairs if d.refused and d.before_sending and d.error is not None]
        again = [row for row, d in pairs if not d.acked and not (d.refused and d.before_sending)]
        if not again:
            return delivered, refused
        if keys := overtaken(rows, deliveries):
            log.warning("a later event of %d lead(s) reached Kafka before an earlier one that is sent again now: "
                        "%s", len(keys), [k.decode(errors="replace") if k else None for k in keys[:10]])
        await self._renew_producer()
        for row in again:  # in id order
            d = await self._send_alone(row)
            if d.error is None:
                delivered.append(row)
                metrics.count_by_topic(metrics.EVENTS_PRODUCED, [row.topic])
                continue
            refused.append((row, d.error))
            if not d.before_sending:  # the broker refused it: this producer is out of step now
                await self._renew_producer()
        return delivered, sorted(refused, key=lambda pair: pair[0].id)

    async def _set_aside(self, session: AsyncSession, refused: list[tuple[OutboxRow, BaseException]]) -> None:
        await set_aside(session, self._table, self._refused, refused)
        for row, error in refused:
            log.error("Kafka refused outbox row %d for good (%s: %s); set aside in %s, the rows behind it go on",
                      row.id, type(error).__name__, error, self._refused.fullname)
        topics = [row.topic for row, _ in refused]
        metrics.after_commit(session, lambda: metrics.count_by_topic(metrics.OUTBOX_REFUSED, topics))

    async def _send_alone(self, row: OutboxRow) -> Delivery:
        """Acknowledged or refused for good; raises on a "not now". A producer out of step
        with the broker is renewed once and the row sent again."""
        [d] = await send_each(self._producer, [_record(row)], timeout_s=self._send_timeout_s)
        if d.producer_state_lost:
            await self._renew_producer()
            [d] = await send_each(self._producer, [_record(row)], timeout_s=self._send_timeout_s)
        if d.error is not None and not d.refused:
            raise d.error
        return d

    async def _renew_producer(self) -> None:
        """Replace the producer with a fresh one (new producer id, sequence numbers from 0)."""
        fresh = self._producer.renewed()
        try:
            await fresh.start()
        except BaseException:
            await fresh.stop()
            raise
        old, self._own_producer, self._producer = self._own_producer, fresh, fresh
        if old is not None:
            await old.stop()
        log.info("outbox relay: renewed its Kafka producer (its idempotence state no longer matched the broker's)")

    async def close(self) -> None:
        """Stop the producer the relay made itself, if any (the one it was given is its owner's)."""
        if self._own_producer is not None:
            await self._own_producer.stop()
            self._own_producer = None

    async def backlog(self) -> int:
        """Rows waiting in the outbox. Also refreshes the refused-rows gauge: the metrics loop
        asks for the backlog, and refused rows are the outbox's other waiting line."""
        async with self._sessions() as session:
            waiting, refused = (await session.execute(select(
                select(func.count()).select_from(self._table).scalar_subquery(),
                select(func.count()).select_from(self._refused).scalar_subquery(),
            ))).one()
        metrics.OUTBOX_REFUSED_ROWS.set(refused)
        return int(waiting)

    async def warn_if_broker_takes_less(self) -> None:
        """Log a warning when the broker's message.max.bytes is below the producer's limit.
        Best effort: a broker that does not say (or an admin API we may not use) is not an error."""
        try:
            warning = limit_warning(await broker_record_limit(self._producer.connection))
        except Exception as exc:
            log.info("could not read the broker's message.max.bytes (%s: %s)", type(exc).__name__, exc)
            return
        if warning:
            log.warning(warning)

    async def run(self) -> None:
        await self.warn_if_broker_takes_less()
        failures = 0

        async def round_() -> bool:
            nonlocal failures
            try:
                handled = await self.relay_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                pause = backoff_s(failures, self._error_backoff_s, self._max_backoff_s)
                log.warning("outbox relay failed (%s: %s); the rows stay in the outbox, tried again in %.1f s",
                            type(exc).__name__, exc, pause, exc_info=failures == 1)
                await asyncio.sleep(pause)
                return True
            if failures:
                log.info("outbox relay sends again after %d failed round(s)", failures)
            failures = 0
            return handled > 0  # rows may have come meanwhile

        try:
            await repeat(round_, what="outbox relay (the rows stay in the outbox)", idle_s=self._idle_interval_s,
                         wake=self._wake, error_pause_s=self._error_backoff_s)
        finally:
            await self.close()


def _record(row: OutboxRow) -> OutgoingRecord:
    return OutgoingRecord(topic=row.topic, key=row.key, value=row.value, headers=kafka_headers(row.headers))
