"""Scoring's event handlers: merge the person's profile, record activity and outcomes,
re-score, and say why."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.scoring.definitions import DefinitionStore
from services.scoring.domain.scoring import merge_profile
from services.scoring.scorer import rescore
from services.scoring.tables import activities, lead_outcomes, leads, submissions
from shared.events.codec import Event
from shared.events.envelope import Envelope, utcnow
from shared.events.payloads import (
    ActivityRecorded,
    LeadCaptured,
    Outcome,
    OutcomeRecorded,
)
from shared.outbox.writer import Outbox

PROFILE_FIELDS = ("first_name", "last_name", "company", "company_domain", "job_title", "phone",
                  "country", "region", "state", "company_size", "industry")


def profile_of(captured: LeadCaptured) -> dict[str, Any]:
    """The submission as scoring sees it: fields, UTM, custom attributes, email domain."""
    profile = {name: getattr(captured, name) for name in PROFILE_FIELDS}
    profile.update(captured.utm)
    profile.update(captured.attributes)
    profile["email"] = captured.email
    profile["email_domain"] = captured.email.rsplit("@", 1)[1]
    profile["source"] = captured.source
    return {k: v for k, v in profile.items() if v not in (None, "", {}, [])}


class ScoringHandlers:
    def __init__(self, store: DefinitionStore, outbox: Outbox,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.store = store
        self.outbox = outbox
        self.clock = clock

    async def handle(self, session: AsyncSession, events: Sequence[Event]) -> None:
        now = self.clock()
        emitted: list[Envelope] = []
        for event in events:
            envelope, payload = event.envelope, event.payload
            if isinstance(payload, LeadCaptured):
                await self._merge(session, envelope, payload)
                emitted.append(await self._rescore(session, envelope, "captured", now))
            elif isinstance(payload, ActivityRecorded):
                await session.execute(insert(activities).values(
                    event_id=envelope.event_id, lead_id=envelope.lead_id,
                    activity_type=payload.activity_type, occurred_at=payload.occurred_at,
                ).on_conflict_do_nothing())
                scored = await self._rescore(session, envelope, "activity", now)
                if scored is not None:
                    emitted.append(scored)
            elif isinstance(payload, OutcomeRecorded):
                await self._outcome(session, envelope, payload)
        await self.outbox.emit(session, [e for e in emitted if e is not None])

    async def _merge(self, session: AsyncSession, envelope: Envelope, lead: LeadCaptured) -> None:
        """Same normalised email, same lead: newer non-empty values win, history is kept."""
        submitted = profile_of(lead)
        await session.execute(insert(submissions).values(
            event_id=envelope.event_id, lead_id=envelope.lead_id, source=lead.source,
            submitted_at=envelope.occurred_at, fields=submitted,
        ).on_conflict_do_nothing())
        row = (await session.execute(
            select(leads.c.profile, leads.c.campaign).where(leads.c.lead_id == envelope.lead_id).with_for_update()
        )).first()
        campaign = lead.utm.get("utm_campaign")
        if row is None:
            await session.execute(insert(leads).values(
                lead_id=envelope.lead_id, email=lead.email, source=lead.source, campaign=campaign,
                profile=submitted, correlation_id=envelope.correlation_id,
            ))
        else:
            await session.execute(leads.update().where(leads.c.lead_id == envelope.lead_id).values(
                profile=merge_profile(row.profile, submitted), campaign=campaign or row.campaign,
                correlation_id=envelope.correlation_id,
            ))

    async def _rescore(self, session: AsyncSession, envelope: Envelope, trigger: str,
                       now: datetime) -> Envelope | None:
        row = (await session.execute(
            select(leads).where(leads.c.lead_id == envelope.lead_id).with_for_update()
        )).first()
        if row is None:
            return None  # activity of a person not captured yet: kept, counted once they are
        return await rescore(session, self.store.active, row, now=now, trigger=trigger, cause=envelope,
                             always_emit=True)

    async def _outcome(self, session: AsyncSession, envelope: Envelope, outcome: OutcomeRecorded) -> None:
        await session.execute(insert(lead_outcomes).values(
            event_id=envelope.event_id, lead_id=envelope.lead_id, cycle=outcome.cycle,
            outcome=outcome.outcome.value, recorded_at=envelope.occurred_at,
        ).on_conflict_do_nothing())
        if outcome.outcome == Outcome.RECYCLED:
            # a new cycle; interest shown before the recycle no longer counts
            await session.execute(
                leads.update().where(leads.c.lead_id == envelope.lead_id, leads.c.cycle <= outcome.cycle)
                .values(cycle=outcome.cycle + 1, qualified=False, stage="below",
                        engagement_since=envelope.occurred_at)
            )
