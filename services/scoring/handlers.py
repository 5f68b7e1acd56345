"""Scoring's event handlers: keep the profile, score it, say why."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.scoring.domain.definition import LeadDefinition
from services.scoring.domain.scoring import merge_profile, score_lead
from services.scoring.tables import activities, leads
from shared.events.codec import Event
from shared.events.envelope import Envelope
from shared.events.payloads import (
    ActivityRecorded,
    LeadCaptured,
    LeadScored,
    Outcome,
    OutcomeRecorded,
    RuleHit,
)
from shared.outbox.writer import Outbox

PROFILE_FIELDS = ("first_name", "last_name", "company", "company_domain", "job_title", "phone",
                  "country", "company_size", "industry")


def profile_of(captured: LeadCaptured) -> dict[str, Any]:
    profile = {name: getattr(captured, name) for name in PROFILE_FIELDS}
    profile.update({f"utm_{k.removeprefix('utm_')}": v for k, v in captured.utm.items()})
    profile.update(captured.attributes)
    profile["email"] = captured.email
    profile["email_domain"] = captured.email.rsplit("@", 1)[1]
    return profile


class ScoringHandlers:
    def __init__(self, definition: LeadDefinition, outbox: Outbox) -> None:
        self.definition = definition
        self.outbox = outbox

    async def handle(self, session: AsyncSession, events: Sequence[Event]) -> None:
        emitted: list[Envelope] = []
        for event in events:
            payload = event.payload
            if isinstance(payload, LeadCaptured):
                emitted.append(await self._captured(session, event.envelope, payload))
            elif isinstance(payload, ActivityRecorded):
                scored = await self._activity(session, event.envelope, payload)
                if scored is not None:
                    emitted.append(scored)
            elif isinstance(payload, OutcomeRecorded) and payload.outcome == Outcome.RECYCLED:
                await self._recycled(session, event.envelope.lead_id, payload)
        await self.outbox.emit(session, emitted)

    async def _captured(self, session: AsyncSession, envelope: Envelope, lead: LeadCaptured) -> Envelope:
        row = (await session.execute(
            select(leads).where(leads.c.lead_id == envelope.lead_id).with_for_update()
        )).first()
        profile = merge_profile(row.profile if row else {}, profile_of(lead))
        if row is None:
            await session.execute(insert(leads).values(
                lead_id=envelope.lead_id, email=lead.email, source=lead.source, profile=profile,
            ))
            cycle = 1
        else:
            cycle = row.cycle
        return await self._rescore(session, envelope, envelope.lead_id, lead.email, profile, cycle,
                                   lead.source)

    async def _activity(self, session: AsyncSession, envelope: Envelope,
                        activity: ActivityRecorded) -> Envelope | None:
        await session.execute(insert(activities).values(
            event_id=envelope.event_id, lead_id=envelope.lead_id,
            activity_type=activity.activity_type, occurred_at=activity.occurred_at,
        ).on_conflict_do_nothing())
        row = (await session.execute(
            select(leads).where(leads.c.lead_id == envelope.lead_id).with_for_update()
        )).first()
        if row is None:
            # anonymous until identified: the activity counts once the person is captured
            return None
        return await self._rescore(session, envelope, row.lead_id, row.email, row.profile, row.cycle,
                                   row.source)

    async def _recycled(self, session: AsyncSession, lead_id: uuid.UUID, outcome: OutcomeRecorded) -> None:
        await session.execute(
            leads.update().where(leads.c.lead_id == lead_id, leads.c.cycle <= outcome.cycle)
            .values(cycle=outcome.cycle + 1, qualified=False)
        )

    async def _rescore(self, session: AsyncSession, cause: Envelope, lead_id: uuid.UUID, email: str,
                       profile: dict[str, Any], cycle: int, source: str | None) -> Envelope:
        types = (await session.execute(
            select(activities.c.activity_type).where(activities.c.lead_id == lead_id)
        )).scalars().all()
        score = score_lead(self.definition, profile, types)
        hits = [RuleHit(rule=name, points=points) for name, points in score.rules_fired]
        await session.execute(leads.update().where(leads.c.lead_id == lead_id).values(
            profile=profile, fit_score=score.fit, engagement_score=score.engagement,
            score=score.total, qualified=score.qualified,
            rules_fired=[h.model_dump() for h in hits],
            definition_version=self.definition.version,
        ))
        return cause.follow(
            type="lead.scored",
            producer="scoring",
            payload=LeadScored(
                email=email, cycle=cycle, definition_version=self.definition.version,
                fit_score=score.fit, engagement_score=score.engagement, score=score.total,
                threshold=self.definition.qualification_threshold, qualified=score.qualified,
                rules_fired=hits, source=source,
                attributes={k: profile.get(k) for k in ("company", "country", "company_size", "industry")},
            ),
        )
