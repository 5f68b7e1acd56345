"""The lead's stage machine as sales moves it: which outcome may follow which stage."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from decimal import Decimal

from shared.events.payloads import Outcome

ALLOWED_FROM: dict[Outcome, frozenset[str]] = {
    Outcome.ACCEPTED: frozenset({"routed"}),
    Outcome.REJECTED: frozenset({"routed"}),
    Outcome.RECYCLED: frozenset({"routed", "accepted", "rejected", "lost"}),
    Outcome.CONVERTED: frozenset({"accepted"}),
    Outcome.WON: frozenset({"accepted", "opportunity"}),
    Outcome.LOST: frozenset({"accepted", "opportunity"}),
}

STAGE_AFTER: dict[Outcome, str] = {
    Outcome.ACCEPTED: "accepted",
    Outcome.REJECTED: "rejected",
    Outcome.RECYCLED: "recycled",
    Outcome.CONVERTED: "opportunity",
    Outcome.WON: "won",
    Outcome.LOST: "lost",
}

MAX_AMOUNT = Decimal("999999999999.99")
"""The largest deal amount an outcome can carry (12 digits and cents)."""

DEFAULT_REJECTION_REASONS = ("wrong_persona", "no_budget", "duplicate", "student", "bad_data", "no_response",
                             "competitor")
DEFAULT_LOSS_REASONS = ("price", "competitor", "no_decision", "timing", "product_fit")
DEFAULT_RECYCLE_REASONS = ("timing", "no_budget_yet", "no_active_project", "not_the_decision_maker", "no_response")
RETRY_AFTER_MAX_DAYS = 730
"""A recycle's retry_after lies at most two years ahead: further is a disqualification, not a recycle."""


def outcome_problems(outcome: Outcome, *, reason: str | None, amount: Decimal | None, currency: str | None,
                     rejection_reasons: tuple[str, ...], loss_reasons: tuple[str, ...],
                     recycle_reasons: tuple[str, ...] = DEFAULT_RECYCLE_REASONS, retry_after: date | None = None,
                     today: date | None = None) -> list[dict[str, str]]:
    """What an outcome is missing or gets wrong, as field/reason pairs; empty when it is whole."""
    problems = []
    if outcome == Outcome.REJECTED and reason not in rejection_reasons:
        problems.append({"field": "reason", "reason": f"a rejection needs one of the agreed reasons: "
                                                      f"{', '.join(rejection_reasons)}"})
    if outcome == Outcome.LOST and reason not in loss_reasons:
        problems.append({"field": "reason",
                         "reason": f"a loss needs one of the agreed reasons: {', '.join(loss_reasons)}"})
    if outcome == Outcome.RECYCLED and reason not in recycle_reasons:
        problems.append({"field": "reason",
                         "reason": f"a recycle needs one of the agreed reasons: {', '.join(recycle_reasons)}"})
    if retry_after is not None:
        if outcome != Outcome.RECYCLED:
            problems.append({"field": "retry_after", "reason": "only a recycle waits for a date"})
        elif today is not None and not today < retry_after <= today + timedelta(days=RETRY_AFTER_MAX_DAYS):
            problems.append({"field": "retry_after", "reason": f"a day after today and at most "
                                                               f"{RETRY_AFTER_MAX_DAYS} days ahead"})
    if outcome == Outcome.WON:
        if amount is None:
            problems.append({"field": "amount", "reason": "a won deal needs its amount"})
        if not currency:
            problems.append({"field": "currency", "reason": "a won deal needs its currency (ISO 4217, e.g. EUR)"})
    return problems


class TransitionRefused(ValueError):
    """The outcome cannot follow the lead's current stage."""


def next_stage(current: str, outcome: Outcome) -> str:
    allowed = ALLOWED_FROM[outcome]
    if current not in allowed:
        raise TransitionRefused(
            f"'{outcome.value}' cannot follow stage '{current}'; it needs one of: {', '.join(sorted(allowed))}"
        )
    return STAGE_AFTER[outcome]


# ---- the stages pipeline events move (the timeline consumer) ------------------------------

STAGES_BEFORE_ROUTING = ("captured", "nurture", "recycled")


@dataclass(frozen=True)
class StageRow:
    """A lead's stage as feedback keeps it (``lead_stages``)."""

    lead_id: uuid.UUID
    email: str
    cycle: int
    stage: str
    owner_id: str | None
    correlation_id: str | None
    updated_at: datetime


def after_captured(current: StageRow | None, lead_id: uuid.UUID, *, email: str, correlation_id: str,
                   now: datetime) -> StageRow | None:
    """A new lead starts captured; a known one stays where it is (None: no change)."""
    if current is not None:
        return None
    return StageRow(lead_id, email, 1, "captured", None, correlation_id, now)


def after_routed(current: StageRow | None, lead_id: uuid.UUID, *, email: str, cycle: int, owner_id: str,
                 correlation_id: str, at: datetime, now: datetime) -> StageRow | None:
    """The lead has an owner in ``cycle``, unless it already moved past routing in it."""
    if current is None:
        return StageRow(lead_id, email, cycle, "routed", owner_id, correlation_id, now)
    if current.cycle < cycle or (current.cycle == cycle and current.stage in STAGES_BEFORE_ROUTING):
        return replace(current, cycle=cycle, stage="routed", owner_id=owner_id, updated_at=at)
    return None


def after_nurtured(current: StageRow | None, lead_id: uuid.UUID, *, email: str, cycle: int, correlation_id: str,
                   at: datetime, now: datetime) -> StageRow | None:
    """Routing sent the lead to nurture: only a lead still captured in that cycle moves."""
    if current is None:
        return StageRow(lead_id, email, cycle, "nurture", None, correlation_id, now)
    if current.cycle == cycle and current.stage == "captured":
        return replace(current, stage="nurture", updated_at=at)
    return None
