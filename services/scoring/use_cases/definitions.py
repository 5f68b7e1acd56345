"""RevOps and the lead definition: publish a version (every stored lead is then re-scored),
and simulate a candidate over the stored leads before anyone publishes it."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import datetime

from services.scoring.domain.definition import LeadDefinition
from services.scoring.domain.simulation import SimulationReport, SimulationRun
from services.scoring.repository import DefinitionStore, ScoringRepository
from shared.db.versioned_store import VersionExists
from shared.errors import Conflict

log = logging.getLogger(__name__)

PAGE = 1000
"""Leads read and simulated per page: the simulation's memory is one page plus its counts."""


async def publish_definition(store: DefinitionStore, candidate: LeadDefinition, *, published_by: str,
                             rescore_now: Callable[[], None]) -> None:
    """Validated already; applies to new events at once, and the sweep re-scores every stored lead."""
    try:
        await store.publish(candidate, published_by)
    except VersionExists as exc:
        raise Conflict(str(exc)) from None
    rescore_now()


async def simulate_definition(repository: ScoringRepository, active: LeadDefinition, candidate: LeadDefinition,
                              *, now: datetime, sample_size: int, page: int = PAGE) -> SimulationReport:
    """What ``candidate`` would change over the stored leads, against ``active``: read and
    simulated a page at a time, with the progress logged after each page."""
    total = await repository.lead_count()
    run = SimulationRun(active, candidate, now, sample_size)
    done, last = 0, None
    while leads := await repository.simulation_leads(after=last, limit=page):
        for lead in leads:
            run.add(lead)
        done, last = done + len(leads), uuid.UUID(leads[-1].lead_id)
        log.info("simulation of %s: %d of %d leads", candidate.version, done, max(total, done))
    return run.report()
