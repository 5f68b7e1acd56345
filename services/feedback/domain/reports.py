"""Funnel reports over lead cycles: counts, conversion, speed and both SLAs.

Pure: no database, no clock. The caller builds one ``LeadCycle`` per (lead, cycle)
from the feedback read models and passes the period and ``now`` in.

Choices (the API and the CSV export rely on them):

- **Cohort by capture.** A cycle belongs to the period when ``period_start <=
  captured_at < period_end`` (half-open: a cycle captured exactly at ``period_end``
  belongs to the next period). Everything that later happened to that cycle
  (qualified, accepted, won, ...) counts with it, even after ``period_end``; so
  conversion rates compare like with like.
- **Stages reached.** mql: ``qualified_at`` set; accepted: ``accepted_at`` set;
  rejected: ``rejected_at`` set (a missing reason counts as ``"unspecified"``);
  recycled: ``recycled_at`` set; opportunity: ``opportunity_at``, ``won_at`` or
  ``lost_at`` set (a won or lost deal was an opportunity, and the CRM's outcomes
  have no separate opportunity step); won: ``won_at`` set; lost: ``lost_at`` set.
- **Revenue** is the sum of ``amount`` over won cycles whose ``currency`` equals the
  report currency (compared upper-cased). Other currencies are summed apart in
  ``revenue_other_currencies`` (a won amount without a currency goes under
  ``"UNKNOWN"``); currencies are never converted or mixed. ``won_in_currency``
  counts the won cycles whose amount is in the report currency: the average deal
  size is ``revenue / won_in_currency``.
- **Rates** are Decimals rounded half-up to 4 decimals (0.1234 = 12.34 %); ``None``
  when the denominator is 0. lead->mql = mqls/leads, mql->accepted = accepted/mqls,
  accepted->opportunity = opportunities/accepted, opportunity->won =
  won/opportunities, lead->won = won/leads.
- **Durations** (capture to owner assigned, capture to accepted) are in seconds.
  Percentiles use the nearest-rank method: the p-th percentile of n sorted values is
  the value at rank ``ceil(p/100 * n)`` (1-based); it is always an observed value,
  and the median of two values is the lower one. ``None`` when there are no values.
- **Sales SLA.** Only cycles with ``sla_due_at`` count. A cycle is *met* when it was
  accepted at or before its deadline; *missed* when it was accepted after it, or is
  not accepted and the deadline is at or before ``now``; *pending* (not counted yet)
  when it is not accepted and the deadline is after ``now``. As in routing, only
  acceptance stops the clock: a rejection is not an acceptance. Compliance =
  met / (met + missed).
- **Marketing SLA** (total only, the promise is for the whole period): delivered =
  mqls in the period, ratio = delivered / promised (4 decimals), ``met`` when
  delivered >= promised. No promise: no marketing figures. A promise of 0 is met,
  with no ratio.
- Groups: ``group_by`` is ``"source"`` (the channel: the first capture's ``utm_source``,
  else its intake source: first-touch attribution, ``shared/attribution.py``),
  ``"campaign"`` (the first capture's ``utm_campaign``), ``"intake"`` (the integration
  that posted the first capture, apart from the channel), ``"owner"`` (owner_id),
  ``"week"`` (ISO week of capture, UTC, ``2026-W47``), ``"month"`` (month of capture,
  UTC, ``2026-11``) or ``None`` (total only). A cycle without the attribute is grouped under key ``None``
  (``"(none)"`` in the CSV). Groups are sorted by key, ``None`` last.
- All datetimes are expected timezone-aware (UTC).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal

from shared.attribution import Touch

GroupBy = Literal["source", "campaign", "intake", "owner", "week", "month"]
GROUP_BYS: tuple[str, ...] = ("source", "campaign", "intake", "owner", "week", "month")
RATE_PLACES = Decimal("0.0001")
UNSPECIFIED_REASON = "unspecified"
UNKNOWN_CURRENCY = "UNKNOWN"
NO_GROUP_LABEL = "(none)"
TOTAL_LABEL = "total"
RATE_NAMES = ("lead_to_mql", "mql_to_accepted", "accepted_to_opportunity", "opportunity_to_won", "lead_to_won")


@dataclass(frozen=True)
class LeadCycle:
    lead_id: str
    cycle: int
    source: str | None
    campaign: str | None
    owner_id: str | None
    captured_at: datetime
    qualified_at: datetime | None = None
    assigned_at: datetime | None = None
    sla_due_at: datetime | None = None
    accepted_at: datetime | None = None
    rejected_at: datetime | None = None
    rejection_reason: str | None = None
    recycled_at: datetime | None = None
    recycle_reason: str | None = None
    opportunity_at: datetime | None = None
    won_at: datetime | None = None
    lost_at: datetime | None = None
    loss_reason: str | None = None
    amount: Decimal | None = None
    currency: str | None = None
    intake_source: str | None = None  # the integration that posted the first capture (its credential's name)
    touches: tuple[Touch, ...] = ()  # every capture of the lead, for attribution

    @property
    def reached_opportunity(self) -> bool:
        return self.opportunity_at is not None or self.won_at is not None or self.lost_at is not None


@dataclass(frozen=True)
class Durations:
    count: int
    median_s: float | None
    p90_s: float | None

    def to_dict(self) -> dict[str, Any]:
        return {"count": self.count, "median_s": self.median_s, "p90_s": self.p90_s}


@dataclass(frozen=True)
class SalesSla:
    met: int
    missed: int
    pending: int
    compliance: Decimal | None

    @property
    def counted(self) -> int:
        return self.met + self.missed

    def to_dict(self) -> dict[str, Any]:
        return {
            "counted": self.counted,
            "met": self.met,
            "missed": self.missed,
            "pending": self.pending,
            "compliance": _dec(self.compliance),
        }


@dataclass(frozen=True)
class MarketingSla:
    promised: int
    delivered: int
    ratio: Decimal | None
    met: bool

    def to_dict(self) -> dict[str, Any]:
        return {"promised": self.promised, "delivered": self.delivered, "ratio": _dec(self.ratio), "met": self.met}


@dataclass(frozen=True)
class Figures:
    leads: int
    mqls: int
    accepted: int
    rejected: int
    rejected_by_reason: dict[str, int]
    recycled: int
    recycled_by_reason: dict[str, int]
    opportunities: int
    won: int
    lost: int
    lost_by_reason: dict[str, int]
    won_in_currency: int
    revenue: Decimal
    revenue_other_currencies: dict[str, Decimal]
    conversion: dict[str, Decimal | None]
    time_to_assigned: Durations
    time_to_accepted: Durations
    sales_sla: SalesSla

    def to_dict(self) -> dict[str, Any]:
        return {
            "leads": self.leads,
            "mqls": self.mqls,
            "accepted": self.accepted,
            "rejected": self.rejected,
            "rejected_by_reason": dict(self.rejected_by_reason),
            "recycled": self.recycled,
            "recycled_by_reason": dict(self.recycled_by_reason),
            "opportunities": self.opportunities,
            "won": self.won,
            "lost": self.lost,
            "lost_by_reason": dict(self.lost_by_reason),
            "won_in_currency": self.won_in_currency,
            "revenue": str(self.revenue),
            "revenue_other_currencies": {k: str(v) for k, v in self.revenue_other_currencies.items()},
            "conversion": {k: _dec(v) for k, v in self.conversion.items()},
            "time_to_assigned": self.time_to_assigned.to_dict(),
            "time_to_accepted": self.time_to_accepted.to_dict(),
            "sales_sla": self.sales_sla.to_dict(),
        }


@dataclass(frozen=True)
class Group:
    key: str | None
    figures: Figures


@dataclass(frozen=True)
class Report:
    period_start: datetime
    period_end: datetime
    now: datetime
    group_by: GroupBy | None
    currency: str
    groups: list[Group]
    total: Figures
    marketing_sla: MarketingSla | None = field(default=None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "period_start": self.period_start.isoformat(),
            "period_end": self.period_end.isoformat(),
            "now": self.now.isoformat(),
            "group_by": self.group_by,
            "currency": self.currency,
            "groups": [{"key": g.key, **g.figures.to_dict()} for g in self.groups],
            "total": self.total.to_dict(),
            "marketing_sla": self.marketing_sla.to_dict() if self.marketing_sla else None,
        }

    def to_csv_rows(self, vocabulary: Mapping[str, Sequence[str]] | None = None) -> list[dict[str, Any]]:
        """One flat row per group, then a ``total`` row; every row has the same columns.

        Reasons become ``rejected_<reason>``, ``recycled_<reason>`` and ``lost_<reason>``
        columns: one for every reason of the agreed ``vocabulary`` (outcome -> reasons),
        whether it occurred or not, so a BI import sees the same columns every time; a
        reason outside it (recorded before the vocabulary changed, ``unspecified``) adds
        its column after them. Other currencies become ``revenue_<CUR>`` columns (union
        over the report); 0 where absent; ``None`` is written as ``""``; marketing
        columns are filled on the total row only.
        """
        all_figures = [g.figures for g in self.groups] + [self.total]
        agreed = vocabulary or {}
        reasons = {outcome: _columns(agreed.get(outcome, ()), (getattr(f, f"{outcome}_by_reason") for f in all_figures))
                   for outcome in REASON_OUTCOMES}
        currencies = sorted({c for f in all_figures for c in f.revenue_other_currencies})
        rows = [self._row(_label(g.key), g.figures, reasons, currencies, None) for g in self.groups]
        rows.append(self._row(TOTAL_LABEL, self.total, reasons, currencies, self.marketing_sla))
        return rows

    def _row(self, label: str, f: Figures, reasons: Mapping[str, Sequence[str]], currencies: Sequence[str],
             marketing: MarketingSla | None) -> dict[str, Any]:
        row: dict[str, Any] = {
            "period_start": self.period_start.isoformat(),
            "period_end": self.period_end.isoformat(),
            "group_by": self.group_by or "",
            "group": label,
            "leads": f.leads,
            "mqls": f.mqls,
            "accepted": f.accepted,
            "rejected": f.rejected,
        }
        for reason in reasons["rejected"]:
            row[f"rejected_{reason}"] = f.rejected_by_reason.get(reason, 0)
        row["recycled"] = f.recycled
        for reason in reasons["recycled"]:
            row[f"recycled_{reason}"] = f.recycled_by_reason.get(reason, 0)
        row |= {"opportunities": f.opportunities, "won": f.won, "lost": f.lost}
        for reason in reasons["lost"]:
            row[f"lost_{reason}"] = f.lost_by_reason.get(reason, 0)
        row |= {
            "currency": self.currency,
            "revenue": str(f.revenue),
        }
        for cur in currencies:
            row[f"revenue_{cur}"] = str(f.revenue_other_currencies.get(cur, Decimal(0)))
        for name in RATE_NAMES:
            row[f"rate_{name}"] = _cell(f.conversion[name])
        row |= {
            "time_to_assigned_median_s": _cell(f.time_to_assigned.median_s),
            "time_to_assigned_p90_s": _cell(f.time_to_assigned.p90_s),
            "time_to_accepted_median_s": _cell(f.time_to_accepted.median_s),
            "time_to_accepted_p90_s": _cell(f.time_to_accepted.p90_s),
            "sales_sla_met": f.sales_sla.met,
            "sales_sla_missed": f.sales_sla.missed,
            "sales_sla_pending": f.sales_sla.pending,
            "sales_sla_compliance": _cell(f.sales_sla.compliance),
            "marketing_promised": marketing.promised if marketing else "",
            "marketing_delivered": marketing.delivered if marketing else "",
            "marketing_ratio": _cell(marketing.ratio) if marketing else "",
            "marketing_met": marketing.met if marketing else "",
        }
        return row


REASON_OUTCOMES = ("rejected", "recycled", "lost")


def _columns(agreed: Sequence[str], seen: Iterable[Mapping[str, int]]) -> list[str]:
    """The agreed reasons in their order, then any other reason that occurred, sorted."""
    others = sorted({reason for counts in seen for reason in counts} - set(agreed))
    return [*agreed, *others]


def funnel_report(
    cycles: Iterable[LeadCycle],
    *,
    period_start: datetime,
    period_end: datetime,
    now: datetime,
    group_by: GroupBy | None = None,
    marketing_promise: int | None = None,
    currency: str = "EUR",
) -> Report:
    if period_end <= period_start:
        raise ValueError("period_end must be after period_start")
    if group_by is not None and group_by not in GROUP_BYS:
        raise ValueError(f"group_by must be one of {', '.join(GROUP_BYS)} or None, not {group_by!r}")
    if marketing_promise is not None and marketing_promise < 0:
        raise ValueError("marketing_promise cannot be negative")
    currency = currency.upper()
    in_period = [c for c in cycles if period_start <= c.captured_at < period_end]

    groups: list[Group] = []
    if group_by is not None:
        buckets: dict[str | None, list[LeadCycle]] = defaultdict(list)
        for c in in_period:
            buckets[group_key(c, group_by)].append(c)
        keys = sorted(buckets, key=lambda k: (k is None, k or ""))
        groups = [Group(k, _figures(buckets[k], now=now, currency=currency)) for k in keys]

    total = _figures(in_period, now=now, currency=currency)
    marketing = None
    if marketing_promise is not None:
        marketing = MarketingSla(
            promised=marketing_promise,
            delivered=total.mqls,
            ratio=rate(total.mqls, marketing_promise),
            met=total.mqls >= marketing_promise,
        )
    return Report(period_start, period_end, now, group_by, currency, groups, total, marketing)


def group_key(cycle: LeadCycle, group_by: GroupBy) -> str | None:
    if group_by == "month":
        return cycle.captured_at.astimezone(UTC).strftime("%Y-%m")
    if group_by == "week":
        year, week, _ = cycle.captured_at.astimezone(UTC).isocalendar()
        return f"{year}-W{week:02d}"
    if group_by == "owner":
        return cycle.owner_id
    if group_by == "source":
        return cycle.source
    if group_by == "intake":
        return cycle.intake_source
    return cycle.campaign


def rate(numerator: int, denominator: int) -> Decimal | None:
    """numerator / denominator rounded half-up to 4 decimals; None for a zero denominator."""
    if denominator == 0:
        return None
    return (Decimal(numerator) / Decimal(denominator)).quantize(RATE_PLACES, rounding=ROUND_HALF_UP)


def nearest_rank(values: Sequence[float], p: float) -> float | None:
    """The p-th percentile (0 < p <= 100) by nearest rank: sorted value at rank ceil(p/100*n)."""
    if not 0 < p <= 100:
        raise ValueError("p must be in (0, 100]")
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p * len(ordered) / 100))
    return ordered[rank - 1]


def durations(values: Sequence[float]) -> Durations:
    return Durations(len(values), nearest_rank(values, 50), nearest_rank(values, 90))


def _figures(cycles: list[LeadCycle], *, now: datetime, currency: str) -> Figures:
    leads = len(cycles)
    mqls = sum(1 for c in cycles if c.qualified_at is not None)
    accepted = sum(1 for c in cycles if c.accepted_at is not None)
    rejected_cycles = [c for c in cycles if c.rejected_at is not None]
    by_reason = Counter(c.rejection_reason or UNSPECIFIED_REASON for c in rejected_cycles)
    recycled_cycles = [c for c in cycles if c.recycled_at is not None]
    recycled_by = Counter(c.recycle_reason or UNSPECIFIED_REASON for c in recycled_cycles)
    opportunities = sum(1 for c in cycles if c.reached_opportunity)
    won_cycles = [c for c in cycles if c.won_at is not None]
    lost_cycles = [c for c in cycles if c.lost_at is not None]
    lost_by = Counter(c.loss_reason or UNSPECIFIED_REASON for c in lost_cycles)
    recycled, lost = len(recycled_cycles), len(lost_cycles)

    revenue = Decimal(0)
    won_in_currency = 0
    others: dict[str, Decimal] = defaultdict(Decimal)
    for c in won_cycles:
        if c.amount is None:
            continue
        cur = (c.currency or UNKNOWN_CURRENCY).upper()
        if cur == currency:
            revenue += c.amount
            won_in_currency += 1
        else:
            others[cur] += c.amount

    met = missed = pending = 0
    for c in cycles:
        if c.sla_due_at is None:
            continue
        if c.accepted_at is not None:
            if c.accepted_at <= c.sla_due_at:
                met += 1
            else:
                missed += 1
        elif c.sla_due_at <= now:
            missed += 1
        else:
            pending += 1

    won = len(won_cycles)
    return Figures(
        leads=leads,
        mqls=mqls,
        accepted=accepted,
        rejected=len(rejected_cycles),
        rejected_by_reason=dict(sorted(by_reason.items())),
        recycled=recycled,
        recycled_by_reason=dict(sorted(recycled_by.items())),
        opportunities=opportunities,
        won=won,
        lost=lost,
        lost_by_reason=dict(sorted(lost_by.items())),
        won_in_currency=won_in_currency,
        revenue=revenue,
        revenue_other_currencies=dict(sorted(others.items())),
        conversion={
            "lead_to_mql": rate(mqls, leads),
            "mql_to_accepted": rate(accepted, mqls),
            "accepted_to_opportunity": rate(opportunities, accepted),
            "opportunity_to_won": rate(won, opportunities),
            "lead_to_won": rate(won, leads),
        },
        time_to_assigned=durations(
            [(c.assigned_at - c.captured_at).total_seconds() for c in cycles if c.assigned_at is not None]
        ),
        time_to_accepted=durations(
            [(c.accepted_at - c.captured_at).total_seconds() for c in cycles if c.accepted_at is not None]
        ),
        sales_sla=SalesSla(met, missed, pending, rate(met, met + missed)),
    )


def _dec(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return str(value)
    return value


def _label(key: str | None) -> str:
    return NO_GROUP_LABEL if key is None else key
