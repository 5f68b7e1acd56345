"""A lead's story: every event about it, from every service, in order."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, HTTPException, Request
from sqlalchemy import select

from services.feedback.tables import lead_stages, timeline
from shared.service.app import runtime_of

router = APIRouter(tags=["feedback"])


@router.get("/leads/{lead_id}/timeline")
async def lead_timeline(lead_id: uuid.UUID, request: Request) -> dict:
    async with runtime_of(request).sessions() as session:
        rows = (await session.execute(
            select(timeline).where(timeline.c.lead_id == lead_id)
            .order_by(timeline.c.occurred_at, timeline.c.seq)
        )).all()
        stage = (await session.execute(
            select(lead_stages).where(lead_stages.c.lead_id == lead_id)
        )).first()
    if not rows:
        raise HTTPException(404, detail=f"nothing is known about lead {lead_id}")
    return {
        "lead_id": str(lead_id),
        "stage": stage.stage if stage else None,
        "cycle": stage.cycle if stage else None,
        "owner_id": stage.owner_id if stage else None,
        "events": [
            {"event_id": str(r.event_id), "type": r.type, "occurred_at": r.occurred_at.isoformat(),
             "producer": r.producer, "correlation_id": r.correlation_id,
             "causation_id": str(r.causation_id) if r.causation_id else None, "payload": r.payload}
            for r in rows
        ],
    }
