"""HubSpot's webhooks, signed with its v3 signature: each event is applied, linked, ignored
or parked for review, and HubSpot hears 200 unless the request is not believed (401) or not
HubSpot's format (422)."""

from __future__ import annotations

import logging
import time
from typing import Annotated

from fastapi import Header, Request
from pydantic import Field, TypeAdapter, ValidationError

from services.feedback.api.dependencies import Resources, Writes
from services.feedback.api.models import EventResultView, HubSpotReceipt
from services.feedback.domain.hubspot import HubSpotEvent
from services.feedback.settings import FeedbackSettings
from services.feedback.use_cases.hubspot_events import RESULTS, handle_event
from shared.errors import InvalidInput, Unauthorized
from shared.service.access import guarded_router, public
from shared.service.errors import error_responses, field_errors
from shared.webhooks.hubspot_signature import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_v3
from shared.webhooks.signature import SignatureRefused

log = logging.getLogger(__name__)
router = guarded_router(tags=["closed loop"])
MAX_EVENTS = 1000
_EVENTS = TypeAdapter(Annotated[list[HubSpotEvent], Field(max_length=MAX_EVENTS)])


def signed_uri(request: Request, settings: FeedbackSettings) -> str:
    """The URL HubSpot called: the configured public one (behind a proxy), else ours."""
    if not settings.hubspot_webhook_url:
        return str(request.url)
    query = request.url.query
    return settings.hubspot_webhook_url + (f"?{query}" if query else "")


BODY = {"requestBody": {"required": True, "content": {"application/json": {"schema": {
    "type": "array", "maxItems": MAX_EVENTS, "items": {"$ref": "#/components/schemas/HubSpotEvent"}}}}}}


@router.post("/webhooks/hubspot", response_model=HubSpotReceipt, responses=error_responses(400, 401, 413, 422, 503),
             dependencies=[public("HubSpot signs it: the v3 signature is checked before anything else is read")],
             openapi_extra=BODY, summary="HubSpot's contact property changes (signature v3)")
async def hubspot_webhook(
    request: Request, resources: Resources, writes: Writes,
    signature: Annotated[str | None, Header(
        alias=SIGNATURE_HEADER, max_length=512,
        description="base64 HMAC-SHA256 of method, URI, body and timestamp")] = None,
    timestamp: Annotated[str | None, Header(alias=TIMESTAMP_HEADER, max_length=20,
                                            description="milliseconds since the epoch")] = None,
) -> HubSpotReceipt:
    settings = resources.settings
    body = await request.body()
    try:
        verify_v3(signature, timestamp, method=request.method, uri=signed_uri(request, settings), body=body,
                  secrets=settings.hubspot_secrets(), now_ms=int(time.time() * 1000))
    except SignatureRefused as exc:
        client = request.client.host if request.client else None
        log.warning("HubSpot webhook refused: %s", exc, extra={"client": client})
        raise Unauthorized(str(exc)) from None
    try:
        events = _EVENTS.validate_json(body)
    except ValidationError as exc:
        raise InvalidInput([(p["field"], p["reason"]) for p in field_errors(exc)]) from None
    results = [await handle_event(writes, resources.hubspot, event)
               for event in sorted(events, key=lambda e: (e.occurredAt, e.eventId))]
    counts = {kind: sum(r.result == kind for r in results) for kind in RESULTS}
    return HubSpotReceipt(received=len(events), **counts,
                          events=[EventResultView(delivery_id=r.delivery_id, result=r.result, detail=r.detail)
                                  for r in results])
