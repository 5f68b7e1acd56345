"""What the operator page shows, gathered in one place: the broker's topics, rates and
lags (``ops.kafka_overview``), dead letters, SLA breaches and the funnel of the last
hour and day (the feedback read models). Sampled at most once per ``min_interval_s``
whatever the number of open pages, and rates come from consecutive samples."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from ops.kafka_overview import TopicOverview, overview
from services.feedback.cycles import cycles_active_since
from services.feedback.domain.reports import funnel_report
from services.feedback.tables import parked_outcomes, timeline
from shared.events.envelope import utcnow
from shared.service.runtime import ServiceRuntime

WINDOWS = {"last_hour": timedelta(hours=1), "last_day": timedelta(days=1)}
SLA_BREACHED = "lead.sla_breached"


@dataclass(frozen=True)
class _Sample:
    at: float  # monotonic
    end_offsets: dict[str, int]


def rates(previous: _Sample | None, current: _Sample) -> dict[str, float | None]:
    """Messages per second per topic between two samples; None without an earlier one."""
    if previous is None or current.at <= previous.at:
        return {topic: None for topic in current.end_offsets}
    elapsed = current.at - previous.at
    return {topic: round(max(0, end - previous.end_offsets.get(topic, end)) / elapsed, 2)
            for topic, end in current.end_offsets.items()}


def funnel_summary(figures) -> dict[str, int]:
    return {"leads": figures.leads, "mqls": figures.mqls, "routed": figures.time_to_assigned.count,
            "accepted": figures.accepted, "rejected": figures.rejected, "recycled": figures.recycled,
            "won": figures.won}


def kafka_summary(sampled: TopicOverview, topic_rates: dict[str, float | None]) -> dict[str, Any]:
    topics, lags = [], []
    for stats in sorted(sampled.topics, key=lambda t: t.name):
        topics.append({"topic": stats.name, "partitions": stats.partitions, "messages": stats.end_offsets,
                       "messages_per_s": topic_rates.get(stats.name), "lag": stats.lag})
        lags += [{"group": g.group, "topic": stats.name, "lag": g.lag} for g in stats.groups]
    lags.sort(key=lambda row: (row["group"], row["topic"]))
    return {"topics": topics, "consumer_lag": lags, "dead_letters": sampled.dead_letter_depth or 0}


class OperationsView:
    def __init__(self, runtime: ServiceRuntime, *, min_interval_s: float = 2.0) -> None:
        self._runtime = runtime
        self._min_interval_s = min_interval_s
        self._lock = asyncio.Lock()
        self._previous: _Sample | None = None
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
        sampled = await overview(self._runtime.settings.kafka_bootstrap_servers, interval_s=0)
        current = _Sample(time.monotonic(), {t.name: t.end_offsets for t in sampled.topics})
        topic_rates = rates(self._previous, current)
        self._previous = current
        return {
            "generated_at": now.isoformat(),
            "kafka": kafka_summary(sampled, topic_rates),
            **await self._from_database(now),
        }

    async def _from_database(self, now: datetime) -> dict[str, Any]:
        since = now - max(WINDOWS.values())
        async with self._runtime.sessions() as session:
            breaches = {
                name: (await session.execute(
                    select(func.count()).select_from(timeline)
                    .where(timeline.c.type == SLA_BREACHED, timeline.c.occurred_at >= now - window)
                )).scalar_one()
                for name, window in WINDOWS.items()
            }
            parked = (await session.execute(
                select(func.count()).select_from(parked_outcomes).where(parked_outcomes.c.status == "parked")
            )).scalar_one()
            cycles = await cycles_active_since(session, since)
        end = now + timedelta(microseconds=1)  # a lead captured this very instant counts
        funnel = {name: funnel_summary(funnel_report(cycles, period_start=now - window, period_end=end,
                                                     now=now).total)
                  for name, window in WINDOWS.items()}
        return {"sla_breaches": breaches, "parked_outcomes": parked, "funnel": funnel}
