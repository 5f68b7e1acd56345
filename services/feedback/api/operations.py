"""The operator page: live topic throughput and lag, dead letters, SLA breaches and the
funnel of the last hour and day; it refreshes itself from ``/ops/overview``."""

from __future__ import annotations

from importlib.resources import files
from typing import Any

from fastapi.responses import HTMLResponse

from services.feedback.api.dependencies import Resources
from services.feedback.api.models import OperationsOverview
from shared.service.access import OPERATORS, guarded_router, public
from shared.service.errors import error_responses

router = guarded_router(tags=["operations"])
PAGE = files("services.feedback").joinpath("static/operations.html")


@router.get("/ops/", response_class=HTMLResponse, include_in_schema=False,
            dependencies=[public("the page holds no data: it asks for an operator token, sent with each call")])
async def operations_page() -> HTMLResponse:
    return HTMLResponse(PAGE.read_text(encoding="utf-8"), headers={"Cache-Control": "no-cache"})


@router.get("/ops/overview", response_model=OperationsOverview, responses=error_responses(503),
            dependencies=[OPERATORS],
            summary="What the operator page shows, as JSON: topics, lag, dead letters, SLA breaches, funnel")
async def operations_overview(resources: Resources) -> dict[str, Any]:
    return await resources.operations.snapshot()
