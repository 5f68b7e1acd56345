"""Scoring's consumer: captured leads, activity and outcomes, one batch per transaction."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from services.scoring.repository import DefinitionStore, ScoringRepository
from services.scoring.use_cases.record_events import record_events
from shared.events import topics
from shared.events.codec import Event
from shared.events.envelope import utcnow
from shared.kafka.consumer import ConsumerSpec


def scorer(store: DefinitionStore, clock: Callable[[], datetime] = utcnow) -> ConsumerSpec:
    async def handle(session: AsyncSession, events: Sequence[Event]) -> None:
        await record_events(ScoringRepository(session), store.active, events, clock())

    return ConsumerSpec(name="scorer",
                        topics=(topics.LEAD_CAPTURED.name, topics.LEAD_ACTIVITY.name, topics.LEAD_OUTCOME.name),
                        handler=handle)
