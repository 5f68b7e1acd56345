"""POST many leads or activities in one call, as marketing-automation syncs do: each item is
validated on its own, every accepted item is committed before the answer, and the answer
says per item what became of it."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError

from services.intake.api.dependencies import Source, Submissions
from services.intake.api.models import (
    ActivityBatchIn,
    BatchAccepted,
    BatchActivityIn,
    BatchItemAnswer,
    BatchLeadIn,
    ItemProblem,
    LeadBatchIn,
)
from services.intake.domain.submission import Kind
from services.intake.use_cases.accept_submission import Accepted, Submission, accept_batch
from shared.errors import InvalidInput
from shared.events.envelope import utcnow
from shared.observability.correlation import current_correlation_id
from shared.service.access import guarded_router
from shared.service.errors import error_responses, field_errors

router = guarded_router(tags=["intake"])

RESPONSES = error_responses(400, 401, 413, 422, 429, 503)
KEY_HEADER = "header.Idempotency-Key"


def _read(kind: Kind, model: type[BaseModel], items: list[Any], source: str
          ) -> tuple[list[Submission], dict[int, list[ItemProblem]], list[int]]:
    """The valid items as submissions (with their positions), and the problems of the others."""
    valid: list[Submission] = []
    positions: list[int] = []
    problems: dict[int, list[ItemProblem]] = {}
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            problems[index] = [ItemProblem(field="", reason="must be a JSON object")]
            continue
        try:
            body = model.model_validate(item)
        except ValidationError as exc:
            problems[index] = [ItemProblem(**p) for p in field_errors(exc)]
            continue
        key = getattr(body, "idempotency_key", None)
        fields = body.model_dump(exclude={"idempotency_key"})
        valid.append(Submission.of(kind, source, key, fields, body.model_dump(mode="json",
                                                                              exclude={"idempotency_key"})))
        positions.append(index)
    return valid, problems, positions


async def _accept(kind: Kind, model: type[BaseModel], items: list[Any], source: str,
                  repository: Submissions) -> BatchAccepted:
    correlation_id = current_correlation_id() or ""
    valid, problems, positions = _read(kind, model, items, source)
    answers = await accept_batch(valid, repository=repository, correlation_id=correlation_id, now=utcnow())
    answered: dict[int, BatchItemAnswer] = {
        index: BatchItemAnswer(index=index, status="refused", errors=found) for index, found in problems.items()}
    for index, answer in zip(positions, answers, strict=True):
        if isinstance(answer, Accepted):
            answered[index] = BatchItemAnswer(index=index, status="accepted", lead_id=answer.lead_id,
                                              submission_id=answer.submission_id, replayed=answer.replayed)
        else:
            answered[index] = BatchItemAnswer(index=index, status="refused", errors=_problems(answer))
    ordered = [answered[index] for index in range(len(items))]
    accepted = sum(a.status == "accepted" for a in ordered)
    return BatchAccepted(accepted=accepted, refused=len(ordered) - accepted, correlation_id=correlation_id,
                         items=ordered)


def _problems(refusal: InvalidInput) -> list[ItemProblem]:
    return [ItemProblem(field="idempotency_key" if field == KEY_HEADER else field, reason=reason)
            for field, reason in refusal.problems]


@router.post("/leads/batch", response_model=BatchAccepted, responses=RESPONSES,
             summary="Submit up to 1,000 leads in one call (a marketing-automation sync)")
async def post_leads(body: LeadBatchIn, source: Source, repository: Submissions) -> BatchAccepted:
    """200 whenever the batch itself can be read: each item says whether it was accepted
    (committed, on its way to scoring) or refused (with its field problems)."""
    return await _accept("lead", BatchLeadIn, body.leads, source, repository)


@router.post("/activities/batch", response_model=BatchAccepted, responses=RESPONSES,
             summary="Record up to 1,000 activities in one call")
async def post_activities(body: ActivityBatchIn, source: Source, repository: Submissions) -> BatchAccepted:
    """200 whenever the batch itself can be read; each item says whether it was accepted."""
    return await _accept("activity", BatchActivityIn, body.activities, source, repository)
