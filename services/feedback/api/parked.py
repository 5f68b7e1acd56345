"""Review of parked outcomes: see what a CRM sent that could not be applied, retry
it once the cause is fixed (the contact linked, the lead accepted, the mapping
corrected), or discard it with a note. Changes need the admin token."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from pydantic import BaseModel, Field

from services.feedback.hubspot_events import retry_parked
from services.feedback.outcome_applier import OutcomeRefused
from services.feedback.parking import discard, get_parked, list_parked
from shared.service.admin import require_admin
from shared.service.app import runtime_of

router = APIRouter(tags=["feedback"])


@router.get("/outcomes/parked")
async def parked(request: Request, status_: Literal["parked", "applied", "discarded"] = Query("parked", alias="status"),
                 limit: int = Query(100, ge=1, le=1000)) -> dict:
    items = await list_parked(runtime_of(request), status_, limit)
    return {"status": status_, "count": len(items), "items": [p.to_dict() for p in items]}


async def _parked_or_404(request: Request, parked_id: int):
    found = await get_parked(runtime_of(request), parked_id)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no parked outcome {parked_id}")
    if found.status != "parked":
        raise HTTPException(status.HTTP_409_CONFLICT, detail=f"parked outcome {parked_id} is already {found.status}")
    return found


@router.post("/outcomes/parked/{parked_id}/retry")
async def retry(parked_id: int, request: Request, actor: str = Depends(require_admin)) -> dict:
    found = await _parked_or_404(request, parked_id)
    try:
        detail = await retry_parked(runtime_of(request), request.app.state.hubspot_mapping, found, actor)
    except OutcomeRefused as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=f"still cannot be applied: {exc}") from None
    return {"id": parked_id, "status": "applied", "detail": detail}


class DiscardRequest(BaseModel):
    note: str = Field(min_length=3, max_length=1000, description="why it is dropped, for the record")


@router.post("/outcomes/parked/{parked_id}/discard")
async def discard_parked(parked_id: int, body: DiscardRequest, request: Request,
                         actor: str = Depends(require_admin)) -> dict:
    await _parked_or_404(request, parked_id)
    if not await discard(runtime_of(request), parked_id, actor, body.note):
        raise HTTPException(status.HTTP_409_CONFLICT, detail=f"parked outcome {parked_id} was resolved meanwhile")
    return {"id": parked_id, "status": "discarded"}
