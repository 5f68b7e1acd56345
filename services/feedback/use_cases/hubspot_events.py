"""Acts on HubSpot webhook events: links contacts to leads, applies the outcomes the mapping
names, and parks for review whatever cannot be applied, so nothing HubSpot told us is dropped
and HubSpot is never made to retry a batch for one bad event.

All events of one delivery share the request's transaction; each is applied in a savepoint,
so an event that is refused leaves nothing behind but its parked record."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Literal

from services.feedback.domain.hubspot import (
    ContactLink,
    HubSpotEvent,
    HubSpotMapping,
    Ignored,
    MappedOutcome,
    Unusable,
    interpret,
)
from services.feedback.repository import FeedbackRepository, ParkedOutcome
from services.feedback.use_cases.apply_outcome import (
    Applied,
    OutcomeCommand,
    OutcomeRefused,
    Vocabulary,
    apply_outcome,
)
from shared.events.envelope import utcnow
from shared.identity import InvalidEmail

log = logging.getLogger(__name__)

SOURCE = "hubspot"
Result = Literal["linked", "applied", "parked", "duplicate", "ignored"]
RESULTS: tuple[Result, ...] = ("applied", "linked", "parked", "duplicate", "ignored")


@dataclass(frozen=True)
class EventResult:
    delivery_id: str
    result: Result
    detail: str | None = None


@dataclass(frozen=True)
class HubSpot:
    """What handling an event needs besides the repository."""

    mapping: HubSpotMapping
    vocabulary: Vocabulary


async def _apply_now(repository: FeedbackRepository, hubspot: HubSpot, meaning: MappedOutcome | Unusable | Ignored,
                     lead_id: uuid.UUID | None) -> Applied:
    """Apply one outcome event to the contact's lead in a savepoint, or raise OutcomeRefused."""
    if isinstance(meaning, Ignored):
        raise OutcomeRefused("invalid", f"no longer maps to an outcome: {meaning.why}")
    if isinstance(meaning, Unusable):
        raise OutcomeRefused("invalid", meaning.problem)
    if lead_id is None:
        raise OutcomeRefused("unknown_lead", f"HubSpot contact {meaning.contact_ref} is not linked to a lead: "
                                             "no change of its email property has been received")
    command = OutcomeCommand(delivery_id=meaning.delivery_id, lead_id=lead_id, outcome=meaning.outcome,
                             reason=meaning.reason, amount=meaning.amount, currency=meaning.currency)
    async with repository.session.begin_nested():
        return await apply_outcome(repository, command, hubspot.vocabulary)


def _described(applied: Applied) -> str:
    return f"lead {applied.lead_id} is now {applied.stage}"


async def handle_event(repository: FeedbackRepository, hubspot: HubSpot, event: HubSpotEvent) -> EventResult:
    meaning = interpret(event, hubspot.mapping)
    if isinstance(meaning, Ignored):
        return EventResult(event.delivery_id, "ignored", meaning.why)
    if isinstance(meaning, ContactLink):
        try:
            person = await repository.lead_id_of_email(meaning.email)  # however HubSpot spells it
        except InvalidEmail as exc:  # an answer for this event only: HubSpot must not retry the batch
            return EventResult(event.delivery_id, "ignored", f"{meaning.contact_ref}: {exc}")
        await repository.link_contact(meaning.contact_ref, person, meaning.email)
        retried = await retry_parked_for_contact(repository, hubspot, meaning.contact_ref)
        detail = f"{meaning.contact_ref} is {meaning.email}"
        if retried:
            detail += f"; {retried} parked outcome(s) applied"
        return EventResult(event.delivery_id, "linked", detail)
    lead_id = await repository.lead_for_contact(meaning.contact_ref)
    try:
        applied = await _apply_now(repository, hubspot, meaning, lead_id)
        return EventResult(event.delivery_id, "applied", _described(applied))
    except OutcomeRefused as exc:
        if exc.kind == "replay":  # HubSpot retries a batch it thinks failed: already applied
            return EventResult(event.delivery_id, "duplicate", str(exc))
        await repository.park(source=SOURCE, delivery_id=event.delivery_id, contact_ref=meaning.contact_ref,
                              lead_id=lead_id, received=event.model_dump(mode="json"), problem=str(exc))
        log.warning("HubSpot outcome parked for review: %s", exc, extra={"delivery_id": event.delivery_id})
        return EventResult(event.delivery_id, "parked", str(exc))


async def retry_parked(repository: FeedbackRepository, hubspot: HubSpot, parked: ParkedOutcome, actor: str) -> str:
    """Read the event again with today's mapping and links; apply it, or say why not (the
    outcome stays parked with its new problem)."""
    meaning = interpret(HubSpotEvent.model_validate(parked.received), hubspot.mapping)
    if isinstance(meaning, ContactLink):  # cannot be parked; the mapping changed under it
        raise OutcomeRefused("invalid", "this event now links a contact; it is not an outcome")
    lead_id = None if isinstance(meaning, Ignored) else await repository.lead_for_contact(meaning.contact_ref)
    try:
        applied = await _apply_now(repository, hubspot, meaning, lead_id)
    except OutcomeRefused as exc:
        if exc.kind == "replay":
            await repository.resolve_parked(parked.id, status="applied", resolved_at=utcnow(), resolved_by=actor,
                                            note="already applied by a later delivery")
            return "already applied"
        await repository.resolve_parked(parked.id, problem=str(exc))
        raise
    await repository.resolve_parked(parked.id, status="applied", resolved_at=utcnow(), resolved_by=actor,
                                    lead_id=applied.lead_id)
    return _described(applied)


async def retry_parked_for_contact(repository: FeedbackRepository, hubspot: HubSpot, contact_ref: str) -> int:
    """Once a contact is linked, its parked outcomes are tried again, oldest first."""
    applied = 0
    for parked in await repository.parked_for_contact(contact_ref):
        try:
            await retry_parked(repository, hubspot, parked, actor="contact linked")
            applied += 1
        except OutcomeRefused:
            continue  # stays parked with its new problem
    return applied
