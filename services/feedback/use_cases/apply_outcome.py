"""Apply one CRM outcome to a lead, whole or not at all: the stage moves, the outcome is
stored under its delivery id, and the events leave through the outbox, all in the caller's
transaction. Every CRM adapter and the parked-outcome review use it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Literal

from services.feedback.domain.stages import DEFAULT_RECYCLE_REASONS, TransitionRefused, next_stage, outcome_problems
from services.feedback.repository import FeedbackRepository
from shared.events.envelope import Envelope, utcnow
from shared.events.payloads import LeadNurtured, Outcome, OutcomeRecorded

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


@dataclass(frozen=True)
class Vocabulary:
    """The reasons sales and marketing agreed on."""

    rejection_reasons: tuple[str, ...]
    loss_reasons: tuple[str, ...]
    recycle_reasons: tuple[str, ...] = DEFAULT_RECYCLE_REASONS

    def all_reasons(self) -> dict[str, tuple[str, ...]]:
        """Each outcome that needs a reason, and its reasons: the funnel's stable columns."""
        return {"rejected": self.rejection_reasons, "recycled": self.recycle_reasons, "lost": self.loss_reasons}


@dataclass(frozen=True)
class Applied:
    lead_id: uuid.UUID
    stage: str
    cycle: int


class OutcomeRefused(Exception):
    """Nothing was applied; ``kind`` says why, ``problems`` name the fields when it is invalid."""

    def __init__(self, kind: RefusalKind, detail: str, problems: list[tuple[str, str]] | None = None) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail
        self.problems = problems or []


async def apply_outcome(repository: FeedbackRepository, command: OutcomeCommand, vocabulary: Vocabulary) -> Applied:
    problems = outcome_problems(command.outcome, reason=command.reason, amount=command.amount,
                                currency=command.currency, rejection_reasons=vocabulary.rejection_reasons,
                                loss_reasons=vocabulary.loss_reasons, recycle_reasons=vocabulary.recycle_reasons,
                                retry_after=command.retry_after, today=utcnow().date())
    if problems:
        pairs = [(p["field"], p["reason"]) for p in problems]
        raise OutcomeRefused("invalid", "; ".join(f"{f}: {r}" for f, r in pairs), pairs)
    if await repository.delivery_seen(command.delivery_id):
        raise OutcomeRefused("replay", "delivery already received (replay)")
    lead = await repository.lock_stage(command.lead_id)
    if lead is None:
        raise OutcomeRefused("unknown_lead", f"unknown lead {command.lead_id}")
    try:
        stage = next_stage(lead.stage, command.outcome)
    except TransitionRefused as exc:
        raise OutcomeRefused("transition", str(exc)) from None
    if not await repository.add_outcome(delivery_id=command.delivery_id, lead_id=command.lead_id, cycle=lead.cycle,
                                        outcome=command.outcome.value, reason=command.reason, amount=command.amount,
                                        currency=command.currency):
        raise OutcomeRefused("replay", "delivery already received (replay)")  # a concurrent delivery won
    recorded = Envelope.start(
        OutcomeRecorded(email=lead.email, outcome=command.outcome, cycle=lead.cycle, reason=command.reason,
                        amount=command.amount, currency=command.currency, crm_delivery_id=command.delivery_id,
                        owner_id=lead.owner_id, nurture_track=command.nurture_track, retry_after=command.retry_after),
        lead_id=command.lead_id, producer="feedback", correlation_id=lead.correlation_id or str(uuid.uuid4()))
    emitted = [recorded]
    next_cycle = lead.cycle
    if command.outcome == Outcome.RECYCLED:
        next_cycle = lead.cycle + 1
        emitted.append(recorded.follow(LeadNurtured(
            email=lead.email, cycle=next_cycle, reason=f"recycled by sales: {command.reason}" + (
                f"; back in nurture until {command.retry_after.isoformat()}" if command.retry_after else ""),
        ), producer="feedback"))
    await repository.move_stage(command.lead_id, stage=stage, cycle=next_cycle, at=recorded.occurred_at)
    await repository.emit(emitted)
    return Applied(command.lead_id, stage, next_cycle)
