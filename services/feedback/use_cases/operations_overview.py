"""What the operator page shows, gathered in one place: the broker's topics, rates and lags,
dead letters, parked outcomes, SLA breaches and the funnel of the last hour and day (the
feedback read models). Sampled at most once per ``min_interval_s`` whatever the number of
open pages; rates come from consecutive samples."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.feedback.domain.operations import Sample, funnel_summary, kafka_summary, rates
from services.feedback.domain.reports import funnel_report
from services.feedback.repository import FeedbackRepository
from shared.events.envelope import utcnow
from shared.events.payloads import SlaBreached
from shared.kafka.sampling import sample_overview
from shared.kafka.security import KafkaConnection

WINDOWS = {"last_hour": timedelta(hours=1), "last_day": timedelta(days=1)}


class OperationsView:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], kafka: KafkaConnection | str, *,
                 min_interval_s: float = 2.0) -> None:
        self._sessions = sessions
        self._kafka = kafka
        self._min_interval_s = min_interval_s
        self._lock = asyncio.Lock()
        self._previous: Sample | None = None
        self._latest: tuple[float, dict[str, Any]] | None = None

    async def snapshot(self) -> dict[str, Any]:
        async with self._lock:
            if self._latest and time.monotonic() - self._latest[0] < self._min_interval_s:
                return self._latest[1]
            data = await self._gather()
            self._latest = (time.monotonic(), data)
            return data

    async def _gather(self) -> dict[str, Any]:
        now = utcnow()
        sampled = await sample_overview(self._kafka, interval_s=0)
        current = Sample(time.monotonic(), {t.name: t.end_offsets for t in sampled.topics})
        topic_rates = rates(self._previous, current)
        self._previous = current
        return {"generated_at": now.isoformat(), "kafka": kafka_summary(sampled, topic_rates),
                **await self._from_database(now)}

    async def _from_database(self, now: datetime) -> dict[str, Any]:
        async with self._sessions() as session:
            repository = FeedbackRepository(session)
            breaches = {name: await repository.count_since(SlaBreached.event_type, now - window)
                        for name, window in WINDOWS.items()}
            parked = await repository.parked_count()
            cycles = await repository.cycles_active_since(now - max(WINDOWS.values()))
        end = now + timedelta(microseconds=1)  # a lead captured this very instant counts
        funnel = {name: funnel_summary(funnel_report(cycles, period_start=now - window, period_end=end,
                                                     now=now).total)
                  for name, window in WINDOWS.items()}
        return {"sla_breaches": breaches, "parked_outcomes": parked, "funnel": funnel}
