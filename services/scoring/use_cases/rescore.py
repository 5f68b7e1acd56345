"""Score one stored lead and record the result: shared by the event handlers and the sweep."""

from __future__ import annotations

import uuid
from datetime import datetime

from services.scoring.domain.definition import LeadDefinition
from services.scoring.domain.profile import routing_profile
from services.scoring.domain.qualification import qualify
from services.scoring.repository import LeadRow, ScoringRepository
from shared.events.envelope import Envelope
from shared.events.payloads import LeadScored, RuleHit, ScoreTrigger


async def rescore(repository: ScoringRepository, definition: LeadDefinition, lead: LeadRow, *, now: datetime,
                  trigger: ScoreTrigger, cause: Envelope | None, always_emit: bool) -> Envelope | None:
    """Score ``lead`` (locked by the caller) and store it; return the event to emit.

    Sweeps (decay, a new definition) pass ``always_emit=False``: they speak only when the
    score or the stage moved, or the lead newly qualified.
    """
    found = await repository.activities_since(lead.lead_id, lead.engagement_since)
    q = qualify(definition, lead.profile, found, now, cycle=lead.cycle)
    newly = q.newly_qualified(lead.cycle, lead.mql_cycle)
    hits = [RuleHit(rule=h.rule, points=h.points, detail=h.detail) for h in q.score.rules_fired]
    await repository.save_score(lead, q, definition_version=definition.version, newly_qualified=newly,
                                rules_fired=[h.model_dump() for h in hits], now=now)
    changed = (q.score.total, q.stage) != (lead.score, lead.stage)  # a new version alone says nothing new
    if not (always_emit or changed or newly):
        return None
    payload = LeadScored(
        email=lead.email, cycle=lead.cycle, definition_version=definition.version,
        fit_score=q.score.fit, engagement_score=q.score.engagement, score=q.score.total,
        threshold=definition.thresholds.mql, qualified=q.qualified, rules_fired=hits, stage=q.stage,
        grade=q.score.grade, newly_qualified=newly, trigger=trigger, source=lead.source,
        profile=routing_profile(lead.profile),
    )
    if cause is not None:
        return cause.follow(payload, producer="scoring")
    return Envelope.start(payload, lead_id=lead.lead_id, producer="scoring",
                          correlation_id=lead.correlation_id or str(uuid.uuid4()))
