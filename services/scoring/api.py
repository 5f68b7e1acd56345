"""Read side of scoring: the active definition and a lead's current score."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, HTTPException, Request
from sqlalchemy import select

from services.scoring.tables import leads
from shared.service.app import runtime_of

router = APIRouter(tags=["scoring"])


@router.get("/definition")
async def active_definition(request: Request) -> dict:
    return request.app.state.definition.model_dump()


@router.get("/leads/{lead_id}/score")
async def lead_score(lead_id: uuid.UUID, request: Request) -> dict:
    async with runtime_of(request).sessions() as session:
        row = (await session.execute(select(leads).where(leads.c.lead_id == lead_id))).first()
    if row is None:
        raise HTTPException(404, detail=f"no lead {lead_id} has been scored")
    return {
        "lead_id": str(row.lead_id), "email": row.email, "cycle": row.cycle,
        "fit_score": row.fit_score, "engagement_score": row.engagement_score, "score": row.score,
        "qualified": row.qualified, "rules_fired": row.rules_fired,
        "definition_version": row.definition_version,
    }
