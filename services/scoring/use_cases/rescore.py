"""Score one lead in memory and say so: shared by the event handler and the sweep, which
both write the batch's leads back in one statement. No I/O here."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime

from services.scoring.domain.definition import LeadDefinition
from services.scoring.domain.profile import routing_profile
from services.scoring.domain.qualification import Judgement, qualify
from services.scoring.domain.scoring import Activity
from services.scoring.repository import LeadRow
from shared.events.envelope import Envelope
from shared.events.payloads import LeadScored, RuleHit, ScoreTrigger


def rescored(definition: LeadDefinition, lead: LeadRow, activities: Iterable[Activity], *, now: datetime,
             trigger: ScoreTrigger, cause: Envelope | None, always_emit: bool) -> tuple[LeadRow, Envelope | None]:
    """``lead`` as scored now, and the event to emit.

    ``activities``: every recorded activity of the lead; those before its current cycle's
    ``engagement_since`` do not count. Sweeps (decay, a new definition) pass
    ``always_emit=False``: they speak only when the score or the stage moved, or the lead
    newly qualified.
    """
    counted = [a for a in activities if lead.engagement_since is None or a.occurred_at >= lead.engagement_since]
    judgement = Judgement.from_dict(lead.judgement)
    q = qualify(definition, lead.profile, counted, now, cycle=lead.cycle, judgement=judgement,
                nurture_until=lead.nurture_until)
    newly = q.newly_qualified(lead.cycle, lead.mql_cycle)
    hits = [RuleHit(rule=h.rule, points=h.points, detail=h.detail) for h in q.score.rules_fired]
    after = replace(lead, fit_score=q.score.fit, engagement_score=q.score.engagement, score=q.score.total,
                    qualified=q.qualified, stage=q.stage, grade=q.score.grade,
                    rules_fired=[h.model_dump() for h in hits], definition_version=definition.version,
                    mql_cycle=lead.cycle if newly else lead.mql_cycle, rescored_at=now,
                    nurture_until=q.nurture_until)  # cleared once the day has come
    changed = (q.score.total, q.stage) != (lead.score, lead.stage)  # a new version alone says nothing new
    if not (always_emit or changed or newly):
        return after, None
    payload = LeadScored(
        email=lead.email, cycle=lead.cycle, definition_version=definition.version,
        fit_score=q.score.fit, engagement_score=q.score.engagement, score=q.score.total,
        threshold=definition.thresholds.mql, qualified=q.qualified, rules_fired=hits, stage=q.stage,
        grade=q.score.grade, newly_qualified=newly, trigger=trigger, source=lead.source,
        held_because=q.held_because, profile=routing_profile(lead.profile),
        judgement=q.judgement.to_dict() if q.judgement else None,
    )
    if cause is not None:
        return after, cause.follow(payload, producer="scoring")
    return after, Envelope.start(payload, lead_id=lead.lead_id, producer="scoring",
                                 correlation_id=lead.correlation_id or str(uuid.uuid4()))
