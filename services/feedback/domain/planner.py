"""Revenue planner: work backwards from a revenue goal with the measured funnel.

Pure. ``measured`` is a ``funnel_report`` total over a trailing window of
``window_days`` days; the plan is for a coming period of ``period_days`` days.

- Average deal size = revenue / won_in_currency (won deals whose amount is in the
  report currency; other currencies are never mixed in).
- customers = ceil(goal / average deal); then, stage by stage backwards, the number
  needed at the stage before is ceil(needed / rate), with the rate taken exactly
  from the measured counts (opportunity->won = won/opportunities, accepted->
  opportunity = opportunities/accepted, mql->accepted = accepted/mqls, lead->mql =
  mqls/leads), not from the report's rounded rates. Rounding up happens at each
  step, so a fraction of a lead is never planned away.
- A rate that is unknown (zero denominator) or zero (nothing converted) cannot be
  divided by: its name goes to ``missing`` with the reason, and the stages above it
  stay ``None``. ``feasible`` is True when every needed figure could be computed.
- Run rate = the window's count * period_days / window_days, rounded half-up to 2
  decimals; gap = needed - run rate (positive: short of the goal). ``on_track`` is
  True when no stage has a positive gap, ``None`` when the plan is not feasible.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from services.feedback.domain.reports import Report

STAGES = ("leads", "mqls", "sqls", "opportunities", "customers")
RUN_RATE_PLACES = Decimal("0.01")


@dataclass(frozen=True)
class Plan:
    revenue_goal: Decimal
    currency: str
    period_days: int
    window_days: int
    average_deal_size: Decimal | None
    needed: dict[str, int | None]
    run_rate: dict[str, Decimal]
    revenue_run_rate: Decimal
    gaps: dict[str, Decimal | None]
    feasible: bool
    on_track: bool | None
    missing: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {
            "revenue_goal": str(self.revenue_goal),
            "currency": self.currency,
            "period_days": self.period_days,
            "window_days": self.window_days,
            "average_deal_size": None if self.average_deal_size is None else str(self.average_deal_size),
            "needed": dict(self.needed),
            "run_rate": {k: str(v) for k, v in self.run_rate.items()},
            "revenue_run_rate": str(self.revenue_run_rate),
            "gaps": {k: None if v is None else str(v) for k, v in self.gaps.items()},
            "feasible": self.feasible,
            "on_track": self.on_track,
            "missing": list(self.missing),
        }


def _ceil_div(a: int | Decimal, b: int | Decimal) -> int:
    """ceil(a / b) for positive b, exact for ints and Decimals."""
    q, r = divmod(Decimal(a), Decimal(b))
    return int(q) + (1 if r > 0 else 0)


def plan(revenue_goal: Decimal, *, period_days: int, measured: Report, window_days: int) -> Plan:
    if revenue_goal <= 0:
        raise ValueError("revenue_goal must be positive")
    if period_days <= 0 or window_days <= 0:
        raise ValueError("period_days and window_days must be positive")
    t = measured.total
    missing: list[str] = []

    average = None
    if t.won_in_currency == 0 or t.revenue <= 0:
        missing.append(f"average_deal_size: no won deal with revenue in {measured.currency} in the window")
    else:
        average = (t.revenue / t.won_in_currency).quantize(RUN_RATE_PLACES, rounding=ROUND_HALF_UP)

    # (stage needed, its measured count, the next stage's measured count, rate name)
    steps = [
        ("opportunities", t.opportunities, t.won, "opportunity_to_won"),
        ("sqls", t.accepted, t.opportunities, "accepted_to_opportunity"),
        ("mqls", t.mqls, t.accepted, "mql_to_accepted"),
        ("leads", t.leads, t.mqls, "lead_to_mql"),
    ]
    for stage, before, after, name in steps:
        if before == 0:
            missing.append(f"{name}: no {stage} in the window")
        elif after == 0:
            missing.append(f"{name}: nothing converted in the window (rate is 0)")

    needed: dict[str, int | None] = dict.fromkeys(STAGES)
    if average is not None:
        # exact: goal / (revenue / won) = goal * won / revenue
        current = _ceil_div(revenue_goal * t.won_in_currency, t.revenue)
        needed["customers"] = current
        for stage, before, after, _name in steps:
            if before == 0 or after == 0:
                break
            current = _ceil_div(current * before, after)
            needed[stage] = current

    counts = {"leads": t.leads, "mqls": t.mqls, "sqls": t.accepted, "opportunities": t.opportunities,
              "customers": t.won}
    run_rate = {k: _scale(v, period_days, window_days) for k, v in counts.items()}
    gaps: dict[str, Decimal | None] = {k: None if (n := needed[k]) is None else n - run_rate[k] for k in STAGES}
    feasible = not missing
    # feasible: every needed figure, so every gap, was computed (the `is not None` only narrows)
    on_track = all(g is not None and g <= 0 for g in gaps.values()) if feasible else None
    return Plan(
        revenue_goal=revenue_goal,
        currency=measured.currency,
        period_days=period_days,
        window_days=window_days,
        average_deal_size=average,
        needed=needed,
        run_rate=run_rate,
        revenue_run_rate=_scale(t.revenue, period_days, window_days),
        gaps=gaps,
        feasible=feasible,
        on_track=on_track,
        missing=missing,
    )


def _scale(value: int | Decimal, period_days: int, window_days: int) -> Decimal:
    return (Decimal(value) * period_days / window_days).quantize(RUN_RATE_PLACES, rounding=ROUND_HALF_UP)
