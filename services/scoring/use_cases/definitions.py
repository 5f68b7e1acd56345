"""RevOps and the lead definition: publish a version or bring an earlier one back (every
stored lead is then re-scored), and simulate a candidate over the stored leads before anyone publishes it."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from services.scoring.domain.definition import LeadDefinition
from services.scoring.domain.simulation import SimulationReport, SimulationRun
from services.scoring.repository import DefinitionStore, ScoringRepository
from shared.db.versioned_store import CannotActivate, VersionExists
from shared.errors import Conflict, NotFound

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


async def activate_definition(store: DefinitionStore, version: str, *, published_by: str,
                              rescore_now: Callable[[], None]) -> LeadDefinition:
    """A rollback: ``version``'s text in force again as a new version; every lead is re-scored."""
    try:
        document = await store.activate(version, published_by)
    except LookupError:
        raise NotFound(f"no definition version {version!r} was published") from None
    except CannotActivate as exc:
        raise Conflict(str(exc)) from None
    rescore_now()
    return document


@dataclass(frozen=True)
class SweepProgress:
    version: str
    leads: int
    rescored: int

    @property
    def finished(self) -> bool:
        return self.rescored >= self.leads


async def sweep_progress(repository: ScoringRepository, store: DefinitionStore) -> SweepProgress:
    """How many stored leads carry a score under the definition in force: after a publication
    or a rollback the sweep brings this up to every lead."""
    await store.refresh()
    leads, rescored = await repository.scored_under(store.active.version)
    return SweepProgress(store.active.version, leads, rescored)


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
