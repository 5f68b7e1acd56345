"""RevOps and the lead definition: publish a version (every stored lead is then re-scored),
and simulate a candidate over the stored leads before anyone publishes it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from services.scoring.domain.definition import LeadDefinition
from services.scoring.domain.simulation import SimulationReport, simulate
from services.scoring.repository import DefinitionStore, ScoringRepository
from shared.db.versioned_store import VersionExists
from shared.errors import Conflict


async def publish_definition(store: DefinitionStore, candidate: LeadDefinition, *, published_by: str,
                             rescore_now: Callable[[], None]) -> None:
    """Validated already; applies to new events at once, and the sweep re-scores every stored lead."""
    try:
        await store.publish(candidate, published_by)
    except VersionExists as exc:
        raise Conflict(str(exc)) from None
    rescore_now()


async def simulate_definition(repository: ScoringRepository, active: LeadDefinition, candidate: LeadDefinition,
                              *, now: datetime, sample_size: int) -> SimulationReport:
    """What ``candidate`` would change over the stored leads, against ``active``."""
    return simulate(active, candidate, await repository.simulation_leads(), now, sample_size=sample_size)
