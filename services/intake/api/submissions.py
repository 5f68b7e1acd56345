"""POST leads and activities: 202 only once the event is committed to the outbox."""

from __future__ import annotations

from typing import Annotated

from fastapi import Header, Response, status

from services.intake.api.dependencies import Source, Submissions
from services.intake.api.models import Accepted, ActivityIn, LeadIn
from services.intake.use_cases.accept_submission import Submission, accept_submission
from shared.events.envelope import utcnow
from shared.observability.correlation import current_correlation_id
from shared.service.access import guarded_router
from shared.service.errors import error_responses

router = guarded_router(tags=["intake"])

IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", min_length=1, max_length=200,
                                              pattern=r"^[\x21-\x7e]+$",
                                              description="retries with the same key make no second submission")]
RESPONSES = {**error_responses(400, 401, 413, 422, 429, 503),
             202: {"description": "Accepted: committed, and on its way to scoring",
                   "headers": {"Idempotent-Replayed": {"description": "true when this answers an earlier "
                                                                      "submission with the same key",
                                                       "schema": {"type": "string", "enum": ["true"]}}}}}


async def _accept(submission: Submission, repository: Submissions, response: Response) -> Accepted:
    accepted = await accept_submission(submission, repository=repository,
                                       correlation_id=current_correlation_id() or "", now=utcnow())
    if accepted.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return Accepted(submission_id=accepted.submission_id, lead_id=accepted.lead_id,
                    correlation_id=accepted.correlation_id)


@router.post("/leads", status_code=status.HTTP_202_ACCEPTED, response_model=Accepted, responses=RESPONSES,
             summary="Submit a lead (a person from a form or a marketing tool)")
async def post_lead(body: LeadIn, source: Source, repository: Submissions, response: Response,
                    idempotency_key: IdempotencyKey = None) -> Accepted:
    return await _accept(Submission.of("lead", source, idempotency_key, body.model_dump(),
                                       body.model_dump(mode="json")), repository, response)


@router.post("/activities", status_code=status.HTTP_202_ACCEPTED, response_model=Accepted, responses=RESPONSES,
             summary="Record something a person did (a demo request, a pricing-page view)")
async def post_activity(body: ActivityIn, source: Source, repository: Submissions, response: Response,
                        idempotency_key: IdempotencyKey = None) -> Accepted:
    return await _accept(Submission.of("activity", source, idempotency_key, body.model_dump(),
                                       body.model_dump(mode="json")), repository, response)
