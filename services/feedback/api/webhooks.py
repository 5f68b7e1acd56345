"""The CRM tells us what became of a lead: signed, checked, applied whole or not at all."""

from __future__ import annotations

import logging
import time
from typing import Annotated

from fastapi import Header, Request, status
from pydantic import ValidationError

from services.feedback.api.dependencies import Resources, Writes
from services.feedback.api.models import CrmOutcome, OutcomeApplied
from services.feedback.use_cases.apply_outcome import OutcomeCommand, OutcomeRefused, apply_outcome
from shared.errors import Conflict, InvalidInput, NotFound, Unauthorized
from shared.service.access import guarded_router, public
from shared.service.errors import error_responses, field_errors
from shared.webhooks.signature import SignatureRefused, verify

log = logging.getLogger(__name__)
router = guarded_router(tags=["closed loop"])


SIGNATURE = Annotated[str | None, Header(alias="Handoff-Signature", max_length=2048,
                                         description="t=<unix seconds>,v1=<hex HMAC-SHA256 of '<t>.<raw body>'>")]
BODY = {"requestBody": {"required": True, "content": {"application/json": {
    "schema": {"$ref": "#/components/schemas/CrmOutcome"}}}}}


@router.post("/webhooks/crm", status_code=status.HTTP_202_ACCEPTED, response_model=OutcomeApplied,
             dependencies=[public("the CRM signs it with the shared secret, checked before anything else is read")],
             responses=error_responses(400, 401, 404, 409, 413, 422, 503), openapi_extra=BODY,
             summary="An outcome from the CRM (signed): accepted, rejected, recycled, converted, won or lost")
async def crm_outcome(request: Request, resources: Resources, writes: Writes,
                      signature: SIGNATURE = None) -> OutcomeApplied:
    """Unsigned, wrongly signed, stale (over the tolerance) or replayed deliveries get 401 and
    change nothing; a stage the outcome cannot follow is 409, an unknown lead 404."""
    settings = resources.settings
    body = await request.body()
    try:
        verify(signature, body, settings.webhook_secrets(), time.time(), settings.webhook_tolerance_s)
    except SignatureRefused as exc:
        log.warning("CRM webhook refused: %s", exc, extra={"client": request.client.host if request.client else None})
        raise Unauthorized(str(exc)) from None
    try:
        outcome = CrmOutcome.model_validate_json(body)
    except ValidationError as exc:
        raise InvalidInput([(p["field"], p["reason"]) for p in field_errors(exc)]) from None
    command = OutcomeCommand(
        delivery_id=outcome.delivery_id, lead_id=await writes.current_lead_id(outcome.lead_id) if outcome.lead_id
        else await writes.lead_id_of_email(outcome.email or ""),
        outcome=outcome.outcome,
        reason=outcome.reason, amount=outcome.amount, currency=outcome.currency.upper() if outcome.currency else None,
        nurture_track=outcome.nurture_track, retry_after=outcome.retry_after,
    )
    try:
        applied = await apply_outcome(writes, command, resources.vocabulary)
    except OutcomeRefused as exc:
        if exc.kind == "replay":  # refused like a forged request: it proves nothing about the sender
            log.warning("CRM webhook replayed", extra={"delivery_id": outcome.delivery_id})
            raise Unauthorized(exc.detail) from None
        if exc.kind == "invalid":
            raise InvalidInput(exc.problems or [("body", exc.detail)]) from None
        if exc.kind == "unknown_lead":
            raise NotFound(exc.detail) from None
        raise Conflict(exc.detail) from None
    return OutcomeApplied(lead_id=applied.lead_id, stage=applied.stage, cycle=applied.cycle)
