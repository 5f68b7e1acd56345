"""Review of parked outcomes: see what a CRM sent that could not be applied, retry it once
the cause is fixed (the contact linked, the lead accepted, the mapping corrected), or
discard it with a note. Changes need the admin token."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import Path, Query
from fastapi.responses import JSONResponse

from services.feedback.api.dependencies import Reads, Resources, Writes
from services.feedback.api.models import Discarded, DiscardRequest, ParkedList, ParkedStatus, ParkedView, RetryResult
from services.feedback.use_cases.parked_outcomes import discard, retry
from shared.access.roles import Role
from shared.service.access import RevOps, guarded_router, requires
from shared.service.errors import error_responses

router = guarded_router(tags=["closed loop"])

ParkedId = Annotated[int, Path(ge=1, le=2**63 - 1, description="the parked outcome's id", examples=[3])]


@router.get("/outcomes/parked", response_model=ParkedList, responses=error_responses(422, 503),
            dependencies=[requires(Role.revops, Role.operator)],
            summary="Outcomes a CRM sent that could not be applied, with the problem")
async def parked(reads: Reads, status: ParkedStatus = "parked",
                 limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> ParkedList:
    items = await reads.parked(status, limit)
    return ParkedList(status=status, count=len(items), items=[ParkedView.model_validate(asdict(p)) for p in items])


@router.post("/outcomes/parked/{parked_id}/retry", response_model=RetryResult,
             responses=error_responses(401, 403, 404, 409, 422, 503),
             summary="Apply a parked outcome again, now (RevOps); 409 says why it still cannot be")
async def retry_parked(parked_id: ParkedId, actor: RevOps, resources: Resources,
                       writes: Writes) -> RetryResult | JSONResponse:
    result = await retry(writes, resources.hubspot, parked_id, actor)
    if not result.applied:  # answered, not raised: the outcome's new problem is kept
        return JSONResponse({"detail": result.detail}, status_code=409)
    return RetryResult(id=parked_id, status="applied", detail=result.detail)


@router.post("/outcomes/parked/{parked_id}/discard", response_model=Discarded,
             responses=error_responses(400, 401, 403, 404, 409, 413, 422, 503),
             summary="Drop a parked outcome with a note (RevOps)")
async def discard_parked(parked_id: ParkedId, body: DiscardRequest, actor: RevOps, writes: Writes) -> Discarded:
    await discard(writes, parked_id, actor, body.note)
    return Discarded(id=parked_id, status="discarded")
