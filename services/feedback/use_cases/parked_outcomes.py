"""Review of parked outcomes: retry one once its cause is fixed (the contact linked, the lead
accepted, the mapping corrected), or discard it with a note."""

from __future__ import annotations

from dataclasses import dataclass

from services.feedback.repository import FeedbackRepository, ParkedOutcome
from services.feedback.use_cases.apply_outcome import OutcomeRefused
from services.feedback.use_cases.hubspot_events import HubSpot, retry_parked
from shared.errors import Conflict, NotFound
from shared.events.envelope import utcnow


async def still_parked(repository: FeedbackRepository, parked_id: int) -> ParkedOutcome:
    found = await repository.lock_parked(parked_id)
    if found is None:
        raise NotFound(f"no parked outcome {parked_id}")
    if found.status != "parked":
        raise Conflict(f"parked outcome {parked_id} is already {found.status}")
    return found


@dataclass(frozen=True)
class Retried:
    applied: bool
    detail: str  # what became of the lead, or why it still cannot be applied (kept as its problem)


async def retry(repository: FeedbackRepository, hubspot: HubSpot, parked_id: int, actor: str) -> Retried:
    found = await still_parked(repository, parked_id)
    try:
        return Retried(True, await retry_parked(repository, hubspot, found, actor))
    except OutcomeRefused as exc:
        return Retried(False, f"still cannot be applied: {exc}")


async def discard(repository: FeedbackRepository, parked_id: int, actor: str, note: str) -> None:
    await still_parked(repository, parked_id)
    await repository.resolve_parked(parked_id, status="discarded", resolved_at=utcnow(), resolved_by=actor, note=note)
