"""Lead cycles for reports, read from the timeline: every cycle of every lead that had
an event since a given time (its whole history, so earlier stages count too)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.feedback.domain.history import TimelineEvent, lead_cycles
from services.feedback.domain.reports import LeadCycle
from services.feedback.tables import timeline


async def cycles_active_since(session: AsyncSession, since: datetime) -> list[LeadCycle]:
    active = select(timeline.c.lead_id).where(timeline.c.occurred_at >= since).distinct()
    rows = (await session.execute(
        select(timeline.c.lead_id, timeline.c.type, timeline.c.occurred_at, timeline.c.producer,
               timeline.c.payload).where(timeline.c.lead_id.in_(active))
    )).all()
    return lead_cycles(TimelineEvent(str(r.lead_id), r.type, r.occurred_at, r.producer, r.payload) for r in rows)
