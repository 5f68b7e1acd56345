"""The operator page: live topic throughput and lag, dead letters, SLA breaches and the
funnel of the last hour and day; it refreshes itself from ``/ops/overview``."""

from __future__ import annotations

import logging
from importlib.resources import files

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import HTMLResponse

from ops.errors import OpsError

log = logging.getLogger(__name__)
router = APIRouter(tags=["operations"])
PAGE = files("services.feedback").joinpath("static/operations.html")


@router.get("/ops/", response_class=HTMLResponse, include_in_schema=False)
async def operations_page() -> HTMLResponse:
    return HTMLResponse(PAGE.read_text(encoding="utf-8"), headers={"Cache-Control": "no-cache"})


@router.get("/ops/overview")
async def operations_overview(request: Request) -> dict:
    """What the page shows, as JSON: the same numbers, for scripts and for checking the page."""
    try:
        return await request.app.state.operations.snapshot()
    except OpsError as exc:
        log.warning("operator overview unavailable: %s", exc)
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail=str(exc)) from None
