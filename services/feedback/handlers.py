"""Feedback's consumer: every lead topic, onto the timeline."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from services.feedback.repository import FeedbackRepository
from services.feedback.use_cases.record_timeline import record_timeline
from shared.events import topics
from shared.events.codec import Event
from shared.kafka.consumer import ConsumerSpec


async def _record(session: AsyncSession, events: Sequence[Event]) -> None:
    await record_timeline(FeedbackRepository(session), events)


TIMELINE = ConsumerSpec(name="timeline", topics=tuple(t.name for t in topics.LEAD_TOPICS), handler=_record)
