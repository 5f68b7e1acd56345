"""Publishes outbox rows to Kafka, then deletes them: never commit-then-send.

Rows are claimed with FOR UPDATE SKIP LOCKED and stay locked until Kafka has
acknowledged them, so several replicas can relay side by side and a relay that
dies mid-send leaves its rows to be sent again (consumers dedupe by event id).
"""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaProducer
from sqlalchemy import Table, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.db.engine import unit_of_work
from shared.kafka.producer import OutgoingRecord, send_all
from shared.loops import repeat
from shared.observability import metrics


class OutboxRelay:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], table: Table,
                 producer: AIOKafkaProducer, *, batch_size: int = 500,
                 idle_interval_s: float = 0.5, error_backoff_s: float = 1.0) -> None:
        self._sessions = sessions
        self._table = table
        self._producer = producer
        self._batch_size = batch_size
        self._idle_interval_s = idle_interval_s
        self._error_backoff_s = error_backoff_s
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Called after a transaction that wrote to the outbox committed."""
        self._wake.set()

    async def relay_once(self) -> int:
        t = self._table
        async with unit_of_work(self._sessions) as session:
            rows = (
                await session.execute(
                    select(t.c.id, t.c.topic, t.c.key, t.c.value, t.c.headers)
                    .order_by(t.c.id)
                    .limit(self._batch_size)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            if not rows:
                return 0
            await send_all(
                self._producer,
                (
                    OutgoingRecord(
                        topic=row.topic,
                        key=row.key,
                        value=row.value,
                        headers=tuple((k, str(v).encode()) for k, v in row.headers.items()),
                    )
                    for row in rows
                ),
            )
            # acknowledged by Kafka: counted even if the delete below fails and they go again
            metrics.count_by_topic(metrics.EVENTS_PRODUCED, (row.topic for row in rows))
            await session.execute(delete(t).where(t.c.id.in_([row.id for row in rows])))
        return len(rows)

    async def backlog(self) -> int:
        async with self._sessions() as session:
            return (await session.execute(select(func.count()).select_from(self._table))).scalar_one()

    async def run(self) -> None:
        async def round_() -> bool:
            return await self.relay_once() > 0  # rows may have come meanwhile

        await repeat(round_, what="outbox relay (the rows stay in the outbox)", idle_s=self._idle_interval_s,
                     wake=self._wake, error_pause_s=self._error_backoff_s)
