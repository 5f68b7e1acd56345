"""A lead's score with the rules behind it, and its merged profile with every submission."""

from __future__ import annotations

import uuid

from services.scoring.api.dependencies import Definitions, Reads
from services.scoring.api.models import LeadProfileView, LeadScore, Submission
from shared.errors import NotFound
from shared.service.access import READERS, guarded_router
from shared.service.errors import error_responses

router = guarded_router(tags=["leads"])


@router.get("/leads/{lead_id}/score", response_model=LeadScore, responses=error_responses(404, 422, 503),
            dependencies=[READERS],
            summary="A lead's score, grade and stage, and the rules that fired")
async def lead_score(lead_id: uuid.UUID, reads: Reads, definitions: Definitions) -> LeadScore:
    found = await reads.score_of(lead_id)
    if found is None:
        raise NotFound(f"no lead {lead_id} has been scored")
    score = LeadScore.model_validate(found, from_attributes=True)
    definition = definitions.active
    if not score.qualified and score.grade and score.definition_version == definition.version \
            and score.score >= definition.thresholds.mql:  # the version that scored it says why it held it
        score.held_because = definition.qualification.held_because(score.fit_score, score.engagement_score,
                                                                    score.grade)
    return score


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
