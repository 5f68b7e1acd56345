"""A lead's score with the rules behind it, a judgement call on it, and its merged profile with
every submission."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Query

from services.scoring.api.dependencies import Definitions, Reads, Writes
from services.scoring.api.models import JudgementIn, LeadProfileView, LeadScore, RuleMissView, Submission
from services.scoring.domain.definition import DefinitionError, LeadDefinition, parse_definition
from services.scoring.domain.qualification import Judgement
from services.scoring.domain.scoring import rules_not_fired
from services.scoring.repository import DefinitionStore
from services.scoring.use_cases.judgement import judge_lead
from shared.errors import NotFound
from shared.events.envelope import utcnow
from shared.service.access import READERS, RevOps, guarded_router
from shared.service.errors import error_responses

router = guarded_router(tags=["leads"])


@router.get("/leads/{lead_id}/score", response_model=LeadScore, responses=error_responses(404, 422, 503),
            dependencies=[READERS],
            summary="A lead's score, grade and stage, and the rules that fired")
async def lead_score(lead_id: uuid.UUID, reads: Reads, definitions: Definitions,
                     not_fired: Annotated[bool, Query(description="also list the rules that did not fire, "
                                                                  "each with why")] = False) -> LeadScore:
    found = await reads.score_of(lead_id)
    if found is None:
        raise NotFound(f"no lead {lead_id} has been scored")
    score = _view(LeadScore.model_validate(found, from_attributes=True))
    definition = await _scored_by(definitions, score.definition_version)
    if definition is None:
        return score
    if score.nurture_until is not None and score.nurture_until > utcnow().date() and score.held_because is None:
        score.held_because = f"recycled: held in nurture until {score.nurture_until.isoformat()} (retry_after)"
    if not score.qualified and score.grade and score.score >= definition.thresholds.mql \
            and score.held_because is None:
        score.held_because = definition.qualification.held_because(score.fit_score, score.engagement_score,
                                                                    score.grade)
    if not_fired:
        misses = rules_not_fired(definition, found.profile, (hit.rule for hit in score.rules_fired))
        score.rules_not_fired = [RuleMissView(rule=m.rule, kind=m.kind, points=m.points, why=m.why) for m in misses]
    return score


@router.post("/leads/{lead_id}/qualification", response_model=LeadScore,
             responses=error_responses(400, 401, 403, 404, 413, 422, 503),
             summary="Qualify or disqualify a lead by hand (RevOps), with a reason: a judgement call for its cycle")
async def judge(lead_id: uuid.UUID, body: JudgementIn, actor: RevOps, writes: Writes,
                definitions: Definitions) -> LeadScore:
    """The lead is scored again now with the call in force and its lead.scored event says so (trigger
    "manual", `judgement`): qualified, routing routes it; disqualified, it goes to nurture with the reason.
    Once routing has decided the lead's cycle, a call changes the stage here but not the owner (record
    the outcome in the CRM instead). Later activity, decay or a new definition keep the call until the
    cycle ends; a recycled lead starts its new cycle without it. A new call replaces the last one."""
    after = await judge_lead(writes, definitions.active, lead_id, qualified=body.qualified, by=actor,
                             reason=body.reason, now=utcnow())
    return _view(LeadScore.model_validate(after, from_attributes=True))


def _view(score: LeadScore) -> LeadScore:
    """A judgement call shows only in the cycle it was made in, and says why it disqualified."""
    if score.judgement is not None and score.judgement.cycle != score.cycle:
        score.judgement = None
    if score.judgement is not None and not score.judgement.qualified:
        score.held_because = Judgement.from_dict(score.judgement.model_dump(mode="json")).describe()  # type: ignore[union-attr]
    return score


async def _scored_by(definitions: DefinitionStore, version: str | None) -> LeadDefinition | None:
    """The definition version that scored a lead: the one that says why it held it back or what did not
    fire (None: not scored yet, or a version no longer stored)."""
    if version is None or version == definitions.active.version:
        return definitions.active if version is not None else None
    stored = await definitions.get(version)
    if stored is None:
        return None
    try:
        return parse_definition(stored)
    except DefinitionError:  # stored by a release whose rules this one no longer reads
        return None


@router.get("/leads/{lead_id}/profile", response_model=LeadProfileView, responses=error_responses(404, 422, 503),
            dependencies=[READERS],
            summary="A lead's merged profile and every submission it was merged from")
async def lead_profile(lead_id: uuid.UUID, reads: Reads) -> LeadProfileView:
    found = await reads.profile_of(lead_id)
    if found is None:
        raise NotFound(f"no lead {lead_id} is known")
    email, profile, history = found
    return LeadProfileView(lead_id=lead_id, email=email, profile=profile,
                           submissions=[Submission(source=h.source, submitted_at=h.submitted_at, fields=h.fields)
                                        for h in history])
