"""Scores one stored lead and records the result; shared by event handlers and sweeps."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from services.scoring.domain.definition import LeadDefinition
from services.scoring.domain.scoring import Activity, score_lead
from services.scoring.tables import activities, leads
from shared.events.envelope import Envelope
from shared.events.payloads import LeadScored, RuleHit

SUMMARY_FIELDS = ("company", "company_domain", "email_domain", "country", "region", "state", "company_size",
                  "industry", "job_title")  # what routing decides on


async def activities_of(session: AsyncSession, lead_id: uuid.UUID, since: datetime | None) -> list[Activity]:
    query = select(activities.c.activity_type, activities.c.occurred_at).where(activities.c.lead_id == lead_id)
    if since is not None:
        query = query.where(activities.c.occurred_at >= since)
    return [Activity(r.activity_type, r.occurred_at) for r in (await session.execute(query)).all()]


def awaiting_new_interest(cycle: int, activity_count: int) -> bool:
    """A recycled lead (cycle 2+) qualifies again only on new interest, not on fit alone."""
    return cycle > 1 and activity_count == 0


async def rescore(session: AsyncSession, definition: LeadDefinition, lead: Row, *, now: datetime,
                  trigger: str, cause: Envelope | None, always_emit: bool) -> Envelope | None:
    """Score ``lead`` (a locked row of scoring.leads) and store it; return the event to emit.

    Sweeps (decay, a new definition) pass ``always_emit=False``: they speak only
    when the score or the stage moved.
    """
    found = await activities_of(session, lead.lead_id, lead.engagement_since)
    score = score_lead(definition, lead.profile, found, now)
    stage = "below" if awaiting_new_interest(lead.cycle, len(found)) else score.stage
    qualified = stage != "below"
    newly_qualified = qualified and (lead.mql_cycle is None or lead.mql_cycle < lead.cycle)
    hits = [RuleHit(rule=h.rule, points=h.points, detail=h.detail) for h in score.rules_fired]
    changed = (score.total, stage, definition.version) != (lead.score, lead.stage, lead.definition_version)
    await session.execute(leads.update().where(leads.c.lead_id == lead.lead_id).values(
        fit_score=score.fit, engagement_score=score.engagement, score=score.total,
        qualified=qualified, stage=stage, grade=score.grade,
        rules_fired=[h.model_dump() for h in hits], definition_version=definition.version,
        mql_cycle=lead.cycle if newly_qualified else lead.mql_cycle, rescored_at=now, updated_at=now,
    ))
    if not (always_emit or changed or newly_qualified):
        return None
    payload = LeadScored(
        email=lead.email, cycle=lead.cycle, definition_version=definition.version,
        fit_score=score.fit, engagement_score=score.engagement, score=score.total,
        threshold=definition.thresholds.mql, qualified=qualified, rules_fired=hits, stage=stage,
        grade=score.grade, newly_qualified=newly_qualified, trigger=trigger, source=lead.source,
        attributes=_summary(lead.profile),
    )
    if cause is not None:
        return cause.follow(type="lead.scored", producer="scoring", payload=payload)
    return Envelope(type="lead.scored", lead_id=lead.lead_id, producer="scoring",
                    correlation_id=lead.correlation_id or str(uuid.uuid4()),
                    payload=payload.model_dump(mode="json"))


def _summary(profile: dict[str, Any]) -> dict[str, Any]:
    return {k: profile.get(k) for k in SUMMARY_FIELDS if profile.get(k) is not None}
