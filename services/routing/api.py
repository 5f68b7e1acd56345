"""Read side of routing: who owns a lead, and the policy in force."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, HTTPException, Request
from sqlalchemy import select

from services.routing.tables import assignments
from shared.service.app import runtime_of

router = APIRouter(tags=["routing"])


@router.get("/policy")
async def active_policy(request: Request) -> dict:
    return request.app.state.policy.model_dump()


@router.get("/leads/{lead_id}/assignments")
async def lead_assignments(lead_id: uuid.UUID, request: Request) -> list[dict]:
    async with runtime_of(request).sessions() as session:
        rows = (await session.execute(
            select(assignments).where(assignments.c.lead_id == lead_id).order_by(assignments.c.cycle)
        )).all()
    if not rows:
        raise HTTPException(404, detail=f"lead {lead_id} has not been assigned")
    return [
        {"lead_id": str(r.lead_id), "cycle": r.cycle, "owner_id": r.owner_id, "reason": r.reason,
         "policy_version": r.policy_version, "assigned_at": r.assigned_at.isoformat()}
        for r in rows
    ]
