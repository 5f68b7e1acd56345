"""The CRM tells us what became of a lead: signed, checked, applied whole or not at all."""

from __future__ import annotations

import logging
import time
import uuid
from datetime import date
from decimal import Decimal

from fastapi import APIRouter, HTTPException, Request, status
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert

from services.feedback.domain.stages import (
    TransitionRefused,
    next_stage,
    outcome_problems,
)
from services.feedback.settings import FeedbackSettings
from services.feedback.tables import lead_stages, outcomes
from shared.db.engine import unit_of_work
from shared.events.envelope import Envelope, lead_id_for
from shared.events.payloads import LeadNurtured, Outcome, OutcomeRecorded
from shared.service.app import runtime_of
from shared.service.errors import field_errors
from shared.webhooks.signature import SignatureRefused, verify

log = logging.getLogger(__name__)
router = APIRouter(tags=["feedback"])


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

    problems = outcome_problems(outcome.outcome, reason=outcome.reason, amount=outcome.amount,
                                currency=outcome.currency, rejection_reasons=settings.rejection_reasons,
                                loss_reasons=settings.loss_reasons)
    if problems:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, detail=problems)
    lead_id = outcome.resolved_lead_id()
    async with unit_of_work(runtime.sessions) as session:
        seen = (await session.execute(
            select(outcomes.c.id).where(outcomes.c.delivery_id == outcome.delivery_id)
        )).first()
        if seen is not None:
            log.warning("CRM webhook replayed", extra={"delivery_id": outcome.delivery_id})
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail="delivery already received (replay)")
        lead = (await session.execute(
            select(lead_stages).where(lead_stages.c.lead_id == lead_id).with_for_update()
        )).first()
        if lead is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"unknown lead {lead_id}")
        try:
            stage = next_stage(lead.stage, outcome.outcome)
        except TransitionRefused as exc:
            raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from None
        inserted = (await session.execute(
            insert(outcomes).values(
                delivery_id=outcome.delivery_id, lead_id=lead_id, cycle=lead.cycle,
                outcome=outcome.outcome.value, reason=outcome.reason, amount=outcome.amount,
                currency=outcome.currency,
            ).on_conflict_do_nothing().returning(outcomes.c.id)
        )).first()
        if inserted is None:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail="delivery already received (replay)")
        recorded = Envelope(
            type="lead.outcome", lead_id=lead_id, producer="feedback",
            correlation_id=lead.correlation_id or str(uuid.uuid4()),
            payload=OutcomeRecorded(
                email=lead.email, outcome=outcome.outcome, cycle=lead.cycle, reason=outcome.reason,
                amount=outcome.amount, currency=outcome.currency, crm_delivery_id=outcome.delivery_id,
                owner_id=lead.owner_id, nurture_track=outcome.nurture_track, retry_after=outcome.retry_after,
            ).model_dump(mode="json"),
        )
        emitted = [recorded]
        next_cycle = lead.cycle
        if outcome.outcome == Outcome.RECYCLED:
            next_cycle = lead.cycle + 1
            emitted.append(recorded.follow(
                type="lead.nurture", producer="feedback",
                payload=LeadNurtured(email=lead.email, cycle=next_cycle,
                                     reason=f"recycled by sales: {outcome.reason or 'no reason given'}"),
            ))
        await session.execute(lead_stages.update().where(lead_stages.c.lead_id == lead_id).values(
            stage=stage, cycle=next_cycle, updated_at=recorded.occurred_at,
        ))
        await runtime.outbox.emit(session, emitted)
    runtime.relay.wake()
    return {"status": "applied", "lead_id": str(lead_id), "stage": stage, "cycle": next_cycle}
