"""Reports both teams read: the funnel by period, source, campaign or owner, SLA
compliance of sales and marketing, and the revenue planner. JSON, or CSV to export."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Literal

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from services.feedback.cycles import cycles_active_since
from services.feedback.domain.planner import plan
from services.feedback.domain.reports import funnel_report
from services.feedback.settings import FeedbackSettings
from shared.events.envelope import utcnow
from shared.service.app import runtime_of

router = APIRouter(tags=["reports"])


async def _cycles(request: Request, since: datetime):
    async with runtime_of(request).sessions() as session:
        return await cycles_active_since(session, since)


def _promise(settings: FeedbackSettings, start: datetime, end: datetime) -> int | None:
    per_30 = settings.marketing_mql_promise_per_30_days
    if per_30 is None:
        return None
    return round(per_30 * (end - start).total_seconds() / timedelta(days=30).total_seconds())


def _period(start: datetime | None, end: datetime | None) -> tuple[datetime, datetime]:
    end = end or utcnow()
    start = start or end - timedelta(days=30)
    start, end = (t if t.tzinfo else t.replace(tzinfo=UTC) for t in (start, end))
    if start >= end:
        raise HTTPException(422, detail=[{"field": "query.start", "reason": "start must be before end"}])
    return start, end


@router.get("/reports/funnel")
async def funnel(request: Request, start: datetime | None = Query(None, description="default: 30 days ago"),
                 end: datetime | None = Query(None, description="default: now"),
                 group_by: Literal["source", "campaign", "owner", "week", "month"] | None = None,
                 currency: str = Query("EUR", min_length=3, max_length=3),
                 format: Literal["json", "csv"] = "json"):
    """Leads, MQLs, accepted, rejected by reason, recycled, opportunities, won and revenue;
    stage conversion; time to owner and to acceptance; SLA compliance of both teams."""
    start, end = _period(start, end)
    report = funnel_report(await _cycles(request, start), period_start=start, period_end=end, group_by=group_by,
                           marketing_promise=_promise(runtime_of(request).settings, start, end),
                           currency=currency.upper(), now=utcnow())
    if format == "json":
        return report.to_dict()
    rows = report.to_csv_rows()
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]) if rows else ["group"])
    writer.writeheader()
    writer.writerows(rows)
    return Response(out.getvalue(), media_type="text/csv",
                    headers={"Content-Disposition": 'attachment; filename="handoff-funnel.csv"'})


class PlanRequest(BaseModel):
    revenue_goal: Decimal = Field(gt=0)
    period_days: int = Field(90, gt=0, le=366, description="the period the goal is for")
    window_days: int = Field(90, gt=0, le=730, description="the trailing window the rates are measured over")
    currency: str = Field("EUR", min_length=3, max_length=3)


@router.post("/reports/plan")
async def revenue_plan(body: PlanRequest, request: Request) -> dict:
    """Work backwards from a revenue goal with our own measured deal size and conversion rates."""
    now = utcnow()
    start = now - timedelta(days=body.window_days)
    measured = funnel_report(await _cycles(request, start), period_start=start, period_end=now, group_by=None,
                             marketing_promise=None, currency=body.currency.upper(), now=now)
    return plan(body.revenue_goal, period_days=body.period_days, measured=measured,
                window_days=body.window_days).to_dict()
