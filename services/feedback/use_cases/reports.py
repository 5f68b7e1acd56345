"""Reports both teams read: the funnel over a period (grouped by source, campaign, intake,
owner, week or month) with both sides of the SLA, credit by source or campaign under an
attribution model, and the revenue planner working back from a goal
with the system's own measured rates."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from services.feedback.domain.attribution_report import AttributionReport, attribution_report
from services.feedback.domain.planner import Plan, plan
from services.feedback.domain.reports import GroupBy, Report, funnel_report
from services.feedback.repository import FeedbackRepository
from shared.attribution import Dimension, Model


def marketing_promise(per_30_days: int | None, start: datetime, end: datetime) -> int | None:
    """The MQLs marketing promised per 30 days, scaled to the period."""
    if per_30_days is None:
        return None
    return round(per_30_days * (end - start).total_seconds() / timedelta(days=30).total_seconds())


async def funnel(repository: FeedbackRepository, *, start: datetime, end: datetime, group_by: GroupBy | None,
                 currency: str, promise_per_30_days: int | None, now: datetime) -> Report:
    cycles = await repository.cycles_active_since(start)
    return funnel_report(cycles, period_start=start, period_end=end, group_by=group_by,
                         marketing_promise=marketing_promise(promise_per_30_days, start, end),
                         currency=currency, now=now)


async def attribution(repository: FeedbackRepository, *, start: datetime, end: datetime, model: Model,
                      by: Dimension, currency: str) -> AttributionReport:
    cycles = await repository.cycles_active_since(start)
    return attribution_report(cycles, period_start=start, period_end=end, model=model, by=by, currency=currency)


async def revenue_plan(repository: FeedbackRepository, *, goal: Decimal, period_days: int, window_days: int,
                       currency: str, now: datetime) -> Plan:
    start = now - timedelta(days=window_days)
    measured = funnel_report(await repository.cycles_active_since(start), period_start=start, period_end=now,
                             group_by=None, marketing_promise=None, currency=currency, now=now)
    return plan(goal, period_days=period_days, measured=measured, window_days=window_days)
