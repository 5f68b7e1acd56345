"""Credit for leads, MQLs, acceptance, opportunities, wins and revenue by source or campaign
under an attribution model (first touch, last touch, linear): the cohort and the stages as
in the funnel (``reports.py``), each cycle's credit shared among its touches as
``shared/attribution.py`` says. Under ``first_touch`` the figures are the funnel's own
counts grouped by source or campaign. Pure."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Any

from services.feedback.domain.reports import NO_GROUP_LABEL, TOTAL_LABEL, LeadCycle
from shared.attribution import Dimension, Model, credit

PLACES = Decimal("0.01")
MEASURES = ("leads", "mqls", "accepted", "opportunities", "won", "revenue")


@dataclass(frozen=True)
class CreditRow:
    key: str | None
    credit: Mapping[str, Fraction]  # measure -> credited amount

    def rounded(self) -> dict[str, str]:
        return {m: str(_decimal(self.credit.get(m, Fraction(0)))) for m in MEASURES}


@dataclass(frozen=True)
class AttributionReport:
    period_start: datetime
    period_end: datetime
    model: Model
    by: Dimension
    currency: str
    rows: list[CreditRow]
    total: CreditRow

    def to_dict(self) -> dict[str, Any]:
        return {"period_start": self.period_start.isoformat(), "period_end": self.period_end.isoformat(),
                "model": self.model, "by": self.by, "currency": self.currency,
                "rows": [{"key": r.key, **r.rounded()} for r in self.rows], "total": self.total.rounded()}

    def to_csv_rows(self) -> list[dict[str, Any]]:
        """One row per key, then the total; always the same columns."""
        head = {"period_start": self.period_start.isoformat(), "period_end": self.period_end.isoformat(),
                "model": self.model, "by": self.by, "currency": self.currency}
        rows = [{**head, "key": NO_GROUP_LABEL if r.key is None else r.key, **r.rounded()} for r in self.rows]
        return [*rows, {**head, "key": TOTAL_LABEL, **self.total.rounded()}]


def attribution_report(cycles: Iterable[LeadCycle], *, period_start: datetime, period_end: datetime, model: Model,
                       by: Dimension, currency: str = "EUR") -> AttributionReport:
    if period_end <= period_start:
        raise ValueError("period_end must be after period_start")
    currency = currency.upper()
    totals: dict[str | None, dict[str, Fraction]] = {}
    for cycle in cycles:
        if not period_start <= cycle.captured_at < period_end:
            continue
        reached = _reached(cycle, currency)
        for key, share in credit(cycle.touches, model, by).items():
            bucket = totals.setdefault(key, {})
            for measure, amount in reached.items():
                bucket[measure] = bucket.get(measure, Fraction(0)) + share * amount
    keys = sorted(totals, key=lambda k: (k is None, k or ""))
    rows = [CreditRow(k, totals[k]) for k in keys]
    total = {m: sum((r.credit.get(m, Fraction(0)) for r in rows), Fraction(0)) for m in MEASURES}
    return AttributionReport(period_start, period_end, model, by, currency, rows, CreditRow(None, total))


def _reached(cycle: LeadCycle, currency: str) -> dict[str, Fraction]:
    won_here = cycle.won_at is not None and cycle.amount is not None and (cycle.currency or "").upper() == currency
    return {"leads": Fraction(1), "mqls": Fraction(cycle.qualified_at is not None),
            "accepted": Fraction(cycle.accepted_at is not None), "opportunities": Fraction(cycle.reached_opportunity),
            "won": Fraction(cycle.won_at is not None),
            "revenue": Fraction(cycle.amount) if won_here and cycle.amount is not None else Fraction(0)}


def _decimal(value: Fraction) -> Decimal:
    return (Decimal(value.numerator) / Decimal(value.denominator)).quantize(PLACES, rounding=ROUND_HALF_UP)
