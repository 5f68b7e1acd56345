"""The CRM tells us what became of a lead: signed, checked, applied whole or not at all."""

from __future__ import annotations

import logging
import time
import uuid
from datetime import date
from decimal import Decimal

from fastapi import APIRouter, HTTPException, Request, status
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from services.feedback.outcome_applier import OutcomeCommand, OutcomeRefused, apply_outcome
from services.feedback.settings import FeedbackSettings
from shared.events.envelope import lead_id_for
from shared.events.payloads import Outcome
from shared.service.app import runtime_of
from shared.service.errors import field_errors
from shared.webhooks.signature import SignatureRefused, verify

log = logging.getLogger(__name__)
router = APIRouter(tags=["feedback"])

# a replay is refused like a forged request: it proves nothing about the sender
REFUSAL_STATUS = {"replay": status.HTTP_401_UNAUTHORIZED, "invalid": status.HTTP_422_UNPROCESSABLE_ENTITY,
                  "unknown_lead": status.HTTP_404_NOT_FOUND, "transition": status.HTTP_409_CONFLICT}


class CrmOutcome(BaseModel):
    model_config = ConfigDict(extra="forbid")

    delivery_id: str = Field(min_length=1, max_length=200, description="unique per delivery; replays are refused")
    lead_id: uuid.UUID | None = None
    email: str | None = Field(None, description="instead of lead_id")
    outcome: Outcome
    reason: str | None = Field(None, max_length=200)
    amount: Decimal | None = Field(None, ge=0)
    currency: str | None = Field(None, min_length=3, max_length=3)
    nurture_track: str | None = Field(None, max_length=100, description="recycled: the nurture programme")
    retry_after: date | None = Field(None, description="recycled: not before this date")

    @model_validator(mode="after")
    def _identified(self) -> CrmOutcome:
        if self.lead_id is None and not self.email:
            raise ValueError("give lead_id or email")
        return self

    def resolved_lead_id(self) -> uuid.UUID:
        return self.lead_id or lead_id_for(self.email.strip().lower())


@router.post("/webhooks/crm", status_code=status.HTTP_202_ACCEPTED)
async def crm_outcome(request: Request) -> dict:
    runtime = runtime_of(request)
    settings: FeedbackSettings = runtime.settings
    body = await request.body()
    try:
        verify(request.headers.get("Handoff-Signature"), body, settings.webhook_secrets(), time.time(),
               settings.webhook_tolerance_s)
    except SignatureRefused as exc:
        log.warning("CRM webhook refused: %s", exc, extra={"client": request.client.host if request.client else None})
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail=str(exc)) from None
    try:
        outcome = CrmOutcome.model_validate_json(body)
    except ValidationError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, detail=field_errors(exc)) from None

    command = OutcomeCommand(
        delivery_id=outcome.delivery_id, lead_id=outcome.resolved_lead_id(), outcome=outcome.outcome,
        reason=outcome.reason, amount=outcome.amount, currency=outcome.currency,
        nurture_track=outcome.nurture_track, retry_after=outcome.retry_after,
    )
    try:
        return (await apply_outcome(runtime, command)).to_dict()
    except OutcomeRefused as exc:
        if exc.kind == "replay":
            log.warning("CRM webhook replayed", extra={"delivery_id": outcome.delivery_id})
        raise HTTPException(REFUSAL_STATUS[exc.kind], detail=exc.detail) from None
