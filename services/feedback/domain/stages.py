"""The lead's stage machine as sales moves it: which outcome may follow which stage."""

from __future__ import annotations

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


def outcome_problems(outcome: Outcome, *, reason: str | None, amount: Decimal | None, currency: str | None,
                     rejection_reasons: tuple[str, ...], loss_reasons: tuple[str, ...]) -> list[dict[str, str]]:
    """What an outcome is missing or gets wrong, as field/reason pairs; empty when it is whole."""
    problems = []
    if outcome == Outcome.REJECTED and reason not in rejection_reasons:
        problems.append({"field": "reason", "reason": f"a rejection needs one of the agreed reasons: "
                                                      f"{', '.join(rejection_reasons)}"})
    if outcome == Outcome.LOST and reason not in loss_reasons:
        problems.append({"field": "reason",
                         "reason": f"a loss needs one of the agreed reasons: {', '.join(loss_reasons)}"})
    if outcome == Outcome.RECYCLED and not reason:
        problems.append({"field": "reason", "reason": "say why the lead is recycled"})
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
