"""Applies one CRM outcome to a lead, whole or not at all: the stage moves, the
outcome is stored under its delivery id, and the events leave through the outbox,
all in one transaction. Every CRM adapter and the parked-outcome review use it."""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass
from datetime import date
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert

from services.feedback.domain.stages import TransitionRefused, next_stage, outcome_problems
from services.feedback.settings import FeedbackSettings
from services.feedback.tables import lead_stages, outcomes
from shared.db.engine import unit_of_work
from shared.events.envelope import Envelope
from shared.events.payloads import LeadNurtured, Outcome, OutcomeRecorded
from shared.service.runtime import ServiceRuntime

RefusalKind = Literal["replay", "invalid", "unknown_lead", "transition"]


@dataclass(frozen=True)
class OutcomeCommand:
    """An outcome as any CRM adapter understood it."""

    delivery_id: str
    lead_id: uuid.UUID
    outcome: Outcome
    reason: str | None = None
    amount: Decimal | None = None
    currency: str | None = None
    nurture_track: str | None = None
    retry_after: date | None = None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(lead_id=str(self.lead_id), outcome=self.outcome.value,
                    amount=str(self.amount) if self.amount is not None else None,
                    retry_after=self.retry_after.isoformat() if self.retry_after else None)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> OutcomeCommand:
        return cls(
            delivery_id=data["delivery_id"], lead_id=uuid.UUID(data["lead_id"]), outcome=Outcome(data["outcome"]),
            reason=data.get("reason"), amount=Decimal(data["amount"]) if data.get("amount") is not None else None,
            currency=data.get("currency"), nurture_track=data.get("nurture_track"),
            retry_after=date.fromisoformat(data["retry_after"]) if data.get("retry_after") else None,
        )


@dataclass(frozen=True)
class Applied:
    lead_id: uuid.UUID
    stage: str
    cycle: int

    def to_dict(self) -> dict[str, Any]:
        return {"status": "applied", "lead_id": str(self.lead_id), "stage": self.stage, "cycle": self.cycle}


class OutcomeRefused(Exception):
    """Nothing was applied; ``kind`` says why, ``detail`` is safe to return."""

    def __init__(self, kind: RefusalKind, detail: str | list[dict[str, str]]) -> None:
        super().__init__(detail if isinstance(detail, str) else "; ".join(
            f"{p['field']}: {p['reason']}" for p in detail))
        self.kind = kind
        self.detail = detail


async def apply_outcome(runtime: ServiceRuntime, command: OutcomeCommand) -> Applied:
    settings: FeedbackSettings = runtime.settings
    problems = outcome_problems(command.outcome, reason=command.reason, amount=command.amount,
                                currency=command.currency, rejection_reasons=settings.rejection_reasons,
                                loss_reasons=settings.loss_reasons)
    if problems:
        raise OutcomeRefused("invalid", problems)
    async with unit_of_work(runtime.sessions) as session:
        seen = (await session.execute(
            select(outcomes.c.id).where(outcomes.c.delivery_id == command.delivery_id)
        )).first()
        if seen is not None:
            raise OutcomeRefused("replay", "delivery already received (replay)")
        lead = (await session.execute(
            select(lead_stages).where(lead_stages.c.lead_id == command.lead_id).with_for_update()
        )).first()
        if lead is None:
            raise OutcomeRefused("unknown_lead", f"unknown lead {command.lead_id}")
        try:
            stage = next_stage(lead.stage, command.outcome)
        except TransitionRefused as exc:
            raise OutcomeRefused("transition", str(exc)) from None
        inserted = (await session.execute(
            insert(outcomes).values(
                delivery_id=command.delivery_id, lead_id=command.lead_id, cycle=lead.cycle,
                outcome=command.outcome.value, reason=command.reason, amount=command.amount,
                currency=command.currency,
            ).on_conflict_do_nothing().returning(outcomes.c.id)
        )).first()
        if inserted is None:  # a concurrent delivery of the same id won the race
            raise OutcomeRefused("replay", "delivery already received (replay)")
        recorded = Envelope(
            type="lead.outcome", lead_id=command.lead_id, producer="feedback",
            correlation_id=lead.correlation_id or str(uuid.uuid4()),
            payload=OutcomeRecorded(
                email=lead.email, outcome=command.outcome, cycle=lead.cycle, reason=command.reason,
                amount=command.amount, currency=command.currency, crm_delivery_id=command.delivery_id,
                owner_id=lead.owner_id, nurture_track=command.nurture_track, retry_after=command.retry_after,
            ).model_dump(mode="json"),
        )
        emitted = [recorded]
        next_cycle = lead.cycle
        if command.outcome == Outcome.RECYCLED:
            next_cycle = lead.cycle + 1
            emitted.append(recorded.follow(
                type="lead.nurture", producer="feedback",
                payload=LeadNurtured(email=lead.email, cycle=next_cycle,
                                     reason=f"recycled by sales: {command.reason or 'no reason given'}"),
            ))
        await session.execute(lead_stages.update().where(lead_stages.c.lead_id == command.lead_id).values(
            stage=stage, cycle=next_cycle, updated_at=recorded.occurred_at,
        ))
        await runtime.outbox.emit(session, emitted)
    runtime.relay.wake()
    return Applied(command.lead_id, stage, next_cycle)
