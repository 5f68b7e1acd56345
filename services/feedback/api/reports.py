"""Reports both teams read: the funnel by period, source, campaign or owner, SLA compliance
of sales and marketing, and the revenue planner. JSON, or CSV to export."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import Query
from fastapi.responses import Response

from services.feedback.api.dependencies import Reads, Resources
from services.feedback.api.models import AttributionView, FunnelReport, PlanRequest, RevenuePlan
from services.feedback.use_cases.reports import attribution as attribution_of
from services.feedback.use_cases.reports import funnel as funnel_of
from services.feedback.use_cases.reports import revenue_plan
from shared.attribution import DEFAULT_MODEL, Dimension, Model
from shared.errors import InvalidInput
from shared.events.envelope import utcnow
from shared.service.access import READERS, guarded_router
from shared.service.errors import error_responses

router = guarded_router(tags=["reports"])
EARLIEST, LATEST = datetime(2000, 1, 1, tzinfo=UTC), datetime(2200, 1, 1, tzinfo=UTC)

Moment = Annotated[datetime | None, Query(description="ISO 8601; without a time zone: UTC; 2000 to 2200")]
CSV = {"text/csv": {"schema": {"type": "string"}, "example": "period_start,period_end,group_by,group,leads\n"}}


def _period(start: datetime | None, end: datetime | None) -> tuple[datetime, datetime]:
    problems = []
    for name, value in (("start", start), ("end", end)):
        if value is not None:
            aware = value if value.tzinfo else value.replace(tzinfo=UTC)
            if not EARLIEST <= aware <= LATEST:
                problems.append((f"query.{name}", "must be between 2000-01-01 and 2200-01-01"))
    if problems:
        raise InvalidInput(problems)
    end = end or utcnow()
    start = start or end - timedelta(days=30)
    start, end = (t if t.tzinfo else t.replace(tzinfo=UTC) for t in (start, end))
    if start >= end:
        raise InvalidInput.one("query.start", "start must be before end")
    return start, end


@router.get("/reports/funnel", dependencies=[READERS], response_model=FunnelReport,
            responses={**error_responses(422, 503), 200: {"content": CSV, "description": "The funnel (JSON or CSV)"}},
            summary="The funnel: leads, MQLs, accepted, rejected, recycled and lost by reason, won and revenue, "
                    "SLA of both teams")
async def funnel(resources: Resources, reads: Reads, start: Moment = None, end: Moment = None,
                 group_by: Literal["source", "campaign", "intake", "owner", "week", "month"] | None = None,
                 currency: Annotated[str, Query(pattern=r"^[A-Za-z]{3}$")] = "EUR",
                 format: Literal["json", "csv"] = "json") -> Any:
    """Counted by the period leads were captured in. ``source`` is the channel (the first
    capture's ``utm_source``, else the intake source: first touch, as /reports/attribution's
    ``first_touch``), ``intake`` the integration that posted it; stage conversion, time to owner and to
    acceptance, rejections, recycles and losses per reason, the sales SLA and the marketing SLA
    against the promise. The CSV has a column for every reason of the agreed vocabularies
    (``rejected_<reason>``, ``recycled_<reason>``, ``lost_<reason>``), 0 when none occurred."""
    start, end = _period(start, end)
    report = await funnel_of(reads, start=start, end=end, group_by=group_by, currency=currency.upper(),
                             promise_per_30_days=resources.settings.marketing_mql_promise_per_30_days, now=utcnow())
    if format == "json":
        return report.to_dict()
    return _csv(report.to_csv_rows(resources.vocabulary.all_reasons()), "handoff-funnel.csv")


@router.get("/reports/attribution", dependencies=[READERS], response_model=AttributionView,
            responses={**error_responses(422, 503), 200: {"content": CSV, "description": "Credit (JSON or CSV)"}},
            summary="Leads, MQLs, acceptance, opportunities, wins and revenue credited by source or campaign")
async def attribution(reads: Reads, start: Moment = None, end: Moment = None, by: Dimension = "source",
                      model: Model = DEFAULT_MODEL,
                      currency: Annotated[str, Query(pattern=r"^[A-Za-z]{3}$")] = "EUR",
                      format: Literal["json", "csv"] = "json") -> Any:
    """The funnel's cohort (leads captured in the period), each lead's credit shared among its
    captures: ``first_touch`` (all to the first; the funnel's own grouping by source or
    campaign), ``last_touch`` (all to the latest) or ``linear`` (an equal share each). Source
    is the channel: the capture's ``utm_source``, else the intake source that posted it. The
    same model and the same touches as the scoring simulation's ``attribution``."""
    start, end = _period(start, end)
    report = await attribution_of(reads, start=start, end=end, model=model, by=by, currency=currency.upper())
    if format == "json":
        return report.to_dict()
    return _csv(report.to_csv_rows(), f"handoff-attribution-{model}-{by}.csv")


def _csv(rows: list[dict[str, Any]], filename: str) -> Response:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]) if rows else ["group"])
    writer.writeheader()
    writer.writerows(rows)
    return Response(out.getvalue(), media_type="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@router.post("/reports/plan", response_model=RevenuePlan, responses=error_responses(400, 413, 422, 503),
             dependencies=[READERS],
             summary="Work back from a revenue goal with our own measured deal size and conversion rates")
async def plan(body: PlanRequest, reads: Reads) -> dict[str, Any]:
    result = await revenue_plan(reads, goal=body.revenue_goal, period_days=body.period_days,
                                window_days=body.window_days, currency=body.currency.upper(), now=utcnow())
    return result.to_dict()
