"""Does each rule point at leads sales accepts and wins? (pure)

For every rule, the leads with an outcome are split into those the rule fired for
and the rest, and their accept and win rates are compared. A lead counts as
accepted when sales accepted it or won it (a won lead was accepted first); any
outcome of any cycle counts. The same tally per grade cell (fit letter x engagement digit,
the lead's grade now) says which cells of the matrix sales takes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from services.scoring.domain.definition import LeadDefinition

OUTCOMES = frozenset({"accepted", "rejected", "recycled", "won", "lost"})
MIN_MATCHED = 5  # below this many matched leads with an outcome, a rate says nothing yet
_ABOUT_THE_SAME = Fraction(1, 10)  # a lift within 1 +- this (exactly) reads "about as often"


@dataclass(frozen=True)
class CalibrationLead:
    lead_id: str
    rules_fired: frozenset[str]
    outcomes: frozenset[str]
    grade: str | None = None


def calibrate(definition: LeadDefinition, leads: Iterable[CalibrationLead]) -> list[dict[str, Any]]:
    """One entry per rule: the definition's rules in order, then rules only seen in the data, by name.

    Each entry: ``rule``, ``in_definition``, ``matched`` and ``not_matched`` (each
    ``{leads, accepted, won, accept_rate, win_rate}``), ``lift_accept`` (matched
    accept rate / not-matched accept rate) and a one-line ``verdict``. Rates and
    lift are None when undefined (nothing to divide by) and rounded to 4 places.
    Outcomes outside ``OUTCOMES`` are ignored; a lead with no known outcome does not count.
    """
    counted = [(lead.rules_fired, lead.outcomes & OUTCOMES) for lead in leads]
    counted = [(rules, outcomes) for rules, outcomes in counted if outcomes]
    names = list(definition.rule_names)
    in_definition = set(names)
    names += sorted({r for rules, _ in counted for r in rules} - in_definition)
    return [_rule_report(name, name in in_definition, counted) for name in names]


def calibrate_cells(leads: Iterable[CalibrationLead]) -> list[dict[str, Any]]:
    """One entry per grade cell that has leads with a known outcome, by cell: ``cell`` and the
    tally (``leads``, ``accepted``, ``won`` and their rates)."""
    tallies: dict[str, _Tally] = {}
    for lead in leads:
        outcomes = lead.outcomes & OUTCOMES
        if outcomes and lead.grade is not None:
            tallies.setdefault(lead.grade, _Tally()).add(outcomes)
    return [{"cell": cell, **tally.as_dict()} for cell, tally in sorted(tallies.items())]


def _rule_report(name: str, in_definition: bool, counted: list[tuple[frozenset[str], frozenset[str]]]
                 ) -> dict[str, Any]:
    matched = _Tally()
    not_matched = _Tally()
    for rules, outcomes in counted:
        (matched if name in rules else not_matched).add(outcomes)
    lift = _exact_ratio(matched.accepted * not_matched.leads, matched.leads * not_matched.accepted)
    return {
        "rule": name,
        "in_definition": in_definition,
        "matched": matched.as_dict(),
        "not_matched": not_matched.as_dict(),
        "lift_accept": None if lift is None else round(float(lift), 4),
        "verdict": _verdict(matched, not_matched, lift),
    }


class _Tally:
    def __init__(self) -> None:
        self.leads = self.accepted = self.won = 0

    def add(self, outcomes: frozenset[str]) -> None:
        self.leads += 1
        self.accepted += bool(outcomes & {"accepted", "won"})
        self.won += "won" in outcomes

    def as_dict(self) -> dict[str, Any]:
        accept_rate = _ratio(self.accepted, self.leads)
        win_rate = _ratio(self.won, self.leads)
        return {"leads": self.leads, "accepted": self.accepted, "won": self.won,
                "accept_rate": None if accept_rate is None else round(accept_rate, 4),
                "win_rate": None if win_rate is None else round(win_rate, 4)}


def _ratio(numerator: int, denominator: int) -> float | None:
    return None if denominator == 0 else numerator / denominator


def _exact_ratio(numerator: int, denominator: int) -> Fraction | None:
    return None if denominator == 0 else Fraction(numerator, denominator)


def _verdict(matched: _Tally, not_matched: _Tally, lift: Fraction | None) -> str:
    if matched.leads < MIN_MATCHED:
        return "too few outcomes"
    if not_matched.leads == 0:
        return "every lead with an outcome matched: nothing to compare with"
    if lift is None:  # nobody outside the rule was accepted
        if matched.accepted == 0:
            return "no lead was accepted, matched or not"
        return "matched leads were accepted, the others never"
    if lift == 0:
        return "matched leads were never accepted, the others were"
    if abs(lift - 1) <= _ABOUT_THE_SAME:
        return f"matched leads accepted about as often as the others ({float(lift):.1f}x)"
    return f"matched leads accepted {float(lift):.1f}x as often"
