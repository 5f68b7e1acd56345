"""The lead's stage machine as sales moves it: which outcome may follow which stage."""

from __future__ import annotations

from shared.events.payloads import Outcome

ALLOWED_FROM: dict[Outcome, frozenset[str]] = {
    Outcome.ACCEPTED: frozenset({"routed"}),
    Outcome.REJECTED: frozenset({"routed"}),
    Outcome.RECYCLED: frozenset({"routed", "accepted", "rejected", "lost"}),
    Outcome.WON: frozenset({"accepted"}),
    Outcome.LOST: frozenset({"accepted"}),
}

STAGE_AFTER: dict[Outcome, str] = {
    Outcome.ACCEPTED: "accepted",
    Outcome.REJECTED: "rejected",
    Outcome.RECYCLED: "recycled",
    Outcome.WON: "won",
    Outcome.LOST: "lost",
}


class TransitionRefused(ValueError):
    """The outcome cannot follow the lead's current stage."""


def next_stage(current: str, outcome: Outcome) -> str:
    allowed = ALLOWED_FROM[outcome]
    if current not in allowed:
        raise TransitionRefused(
            f"'{outcome.value}' cannot follow stage '{current}'; it needs one of: {', '.join(sorted(allowed))}"
        )
    return STAGE_AFTER[outcome]
