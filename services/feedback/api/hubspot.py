"""HubSpot's webhooks, signed with its v3 signature: each event is applied, linked,
ignored or parked for review, and HubSpot hears 200 unless the request is not
believed (401) or not HubSpot's format (422)."""

from __future__ import annotations

import logging
import time

from fastapi import APIRouter, HTTPException, Request, status
from pydantic import TypeAdapter, ValidationError

from services.feedback.domain.hubspot import HubSpotEvent
from services.feedback.hubspot_events import handle_event
from services.feedback.settings import FeedbackSettings
from shared.service.app import runtime_of
from shared.service.errors import field_errors
from shared.webhooks.hubspot_signature import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_v3
from shared.webhooks.signature import SignatureRefused

log = logging.getLogger(__name__)
router = APIRouter(tags=["feedback"])
_EVENTS = TypeAdapter(list[HubSpotEvent])


def signed_uri(request: Request, settings: FeedbackSettings) -> str:
    """The URL HubSpot called: the configured public one (behind a proxy), else ours."""
    if not settings.hubspot_webhook_url:
        return str(request.url)
    query = request.url.query
    return settings.hubspot_webhook_url + (f"?{query}" if query else "")


@router.post("/webhooks/hubspot")
async def hubspot_webhook(request: Request) -> dict:
    runtime = runtime_of(request)
    settings: FeedbackSettings = runtime.settings
    body = await request.body()
    try:
        verify_v3(request.headers.get(SIGNATURE_HEADER), request.headers.get(TIMESTAMP_HEADER),
                  method=request.method, uri=signed_uri(request, settings), body=body,
                  secrets=settings.hubspot_secrets(), now_ms=int(time.time() * 1000))
    except SignatureRefused as exc:
        log.warning("HubSpot webhook refused: %s", exc,
                    extra={"client": request.client.host if request.client else None})
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail=str(exc)) from None
    try:
        events = _EVENTS.validate_json(body)
    except ValidationError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, detail=field_errors(exc)) from None
    mapping = request.app.state.hubspot_mapping
    results = [await handle_event(runtime, mapping, event)
               for event in sorted(events, key=lambda e: (e.occurredAt, e.eventId))]
    counts = {kind: sum(r.result == kind for r in results)
              for kind in ("applied", "linked", "parked", "duplicate", "ignored")}
    return {"received": len(events), **counts, "events": [r.to_dict() for r in results]}
