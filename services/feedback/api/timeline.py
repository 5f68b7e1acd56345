"""A lead's story: every event about it, from every service, in order."""

from __future__ import annotations

import uuid

from services.feedback.api.dependencies import Reads
from services.feedback.api.models import Timeline, TimelineEntry
from shared.errors import NotFound
from shared.service.access import READERS, guarded_router
from shared.service.errors import error_responses

router = guarded_router(tags=["leads"])


@router.get("/leads/{lead_id}/timeline", response_model=Timeline, responses=error_responses(404, 422, 503),
            dependencies=[READERS],
            summary="Every event about a lead, from every service, in order")
async def lead_timeline(lead_id: uuid.UUID, reads: Reads) -> Timeline:
    """An id the lead had before a re-key answers with the lead as it is now."""
    lead_id = await reads.current_lead_id(lead_id)
    rows = await reads.timeline_of(lead_id)
    if not rows:
        raise NotFound(f"nothing is known about lead {lead_id}")
    stage = await reads.stage_of(lead_id)
    return Timeline(
        lead_id=lead_id, stage=stage.stage if stage else None, cycle=stage.cycle if stage else None,
        owner_id=stage.owner_id if stage else None,
        events=[TimelineEntry(event_id=r.event_id, type=r.type, occurred_at=r.occurred_at, producer=r.producer,
                              correlation_id=r.correlation_id, causation_id=r.causation_id, payload=r.payload)
                for r in rows])
