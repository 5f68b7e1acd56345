"""Acts on HubSpot webhook events: links contacts to leads, applies the outcomes the
mapping names, and parks for review whatever cannot be applied, so nothing HubSpot
told us is dropped and HubSpot is never made to retry a batch for one bad event."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert

from services.feedback.domain.hubspot import (
    ContactLink,
    HubSpotEvent,
    HubSpotMapping,
    Ignored,
    MappedOutcome,
    Unusable,
    interpret,
)
from services.feedback.outcome_applier import Applied, OutcomeCommand, OutcomeRefused, apply_outcome
from services.feedback.parking import ParkedOutcome, mark_applied, park, parked_for_contact, still_parked
from services.feedback.tables import crm_contacts
from shared.db.engine import unit_of_work
from shared.events.envelope import lead_id_for
from shared.service.runtime import ServiceRuntime

log = logging.getLogger(__name__)

SOURCE = "hubspot"
Result = Literal["linked", "applied", "parked", "duplicate", "ignored"]


@dataclass(frozen=True)
class EventResult:
    delivery_id: str
    result: Result
    detail: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"delivery_id": self.delivery_id, "result": self.result, "detail": self.detail}


async def lead_for_contact(runtime: ServiceRuntime, contact_ref: str) -> uuid.UUID | None:
    async with runtime.sessions() as session:
        return (await session.execute(
            select(crm_contacts.c.lead_id).where(crm_contacts.c.contact_ref == contact_ref)
        )).scalar_one_or_none()


async def apply_mapped(runtime: ServiceRuntime, meaning: MappedOutcome | Unusable | Ignored,
                       lead_id: uuid.UUID | None) -> Applied:
    """Apply one outcome event to the contact's lead now, or raise OutcomeRefused saying why not."""
    if isinstance(meaning, Ignored):
        raise OutcomeRefused("invalid", f"no longer maps to an outcome: {meaning.why}")
    if isinstance(meaning, Unusable):
        raise OutcomeRefused("invalid", meaning.problem)
    if lead_id is None:
        raise OutcomeRefused("unknown_lead", f"HubSpot contact {meaning.contact_ref} is not linked to a lead: "
                                             "no change of its email property has been received")
    command = OutcomeCommand(delivery_id=meaning.delivery_id, lead_id=lead_id, outcome=meaning.outcome,
                             reason=meaning.reason, amount=meaning.amount, currency=meaning.currency)
    return await apply_outcome(runtime, command)


def _described(applied: Applied) -> str:
    return f"lead {applied.lead_id} is now {applied.stage}"


async def handle_event(runtime: ServiceRuntime, mapping: HubSpotMapping, event: HubSpotEvent) -> EventResult:
    meaning = interpret(event, mapping)
    if isinstance(meaning, Ignored):
        return EventResult(event.delivery_id, "ignored", meaning.why)
    if isinstance(meaning, ContactLink):
        await _link(runtime, meaning)
        retried = await retry_parked_for_contact(runtime, meaning.contact_ref, mapping)
        detail = f"{meaning.contact_ref} is {meaning.email}"
        if retried:
            detail += f"; {retried} parked outcome(s) applied"
        return EventResult(event.delivery_id, "linked", detail)
    lead_id = await lead_for_contact(runtime, meaning.contact_ref)
    try:
        applied = await apply_mapped(runtime, meaning, lead_id)
        return EventResult(event.delivery_id, "applied", _described(applied))
    except OutcomeRefused as exc:
        if exc.kind == "replay":  # HubSpot retries a batch it thinks failed: already applied
            return EventResult(event.delivery_id, "duplicate", str(exc))
        await park(runtime, source=SOURCE, delivery_id=event.delivery_id, contact_ref=meaning.contact_ref,
                   lead_id=lead_id,
                   received=event.model_dump(mode="json"), problem=str(exc))
        log.warning("HubSpot outcome parked for review: %s", exc, extra={"delivery_id": event.delivery_id})
        return EventResult(event.delivery_id, "parked", str(exc))


async def _link(runtime: ServiceRuntime, link: ContactLink) -> None:
    lead_id = lead_id_for(link.email)
    async with unit_of_work(runtime.sessions) as session:
        stmt = insert(crm_contacts).values(contact_ref=link.contact_ref, lead_id=lead_id, email=link.email)
        await session.execute(stmt.on_conflict_do_update(
            index_elements=["contact_ref"], set_={"lead_id": lead_id, "email": link.email,
                                                  "linked_at": stmt.excluded.linked_at}))


async def retry_parked(runtime: ServiceRuntime, mapping: HubSpotMapping, parked: ParkedOutcome,
                       actor: str) -> str:
    """Read the event again with today's mapping and links; apply it, or say why not."""
    meaning = interpret(HubSpotEvent.model_validate(parked.received), mapping)
    if isinstance(meaning, ContactLink):  # cannot be parked; mapping changed under it
        raise OutcomeRefused("invalid", "this event now links a contact; it is not an outcome")
    lead_id = None if isinstance(meaning, Ignored) else await lead_for_contact(runtime, meaning.contact_ref)
    try:
        applied = await apply_mapped(runtime, meaning, lead_id)
    except OutcomeRefused as exc:
        if exc.kind == "replay":
            await mark_applied(runtime, parked.id, actor, note="already applied by a later delivery")
            return "already applied"
        await still_parked(runtime, parked.id, str(exc))
        raise
    await mark_applied(runtime, parked.id, actor, lead_id=applied.lead_id)
    return _described(applied)


async def retry_parked_for_contact(runtime: ServiceRuntime, contact_ref: str, mapping: HubSpotMapping) -> int:
    """Once a contact is linked, its parked outcomes are tried again, oldest first."""
    applied = 0
    for parked in await parked_for_contact(runtime, contact_ref):
        try:
            await retry_parked(runtime, mapping, parked, actor="contact linked")
            applied += 1
        except OutcomeRefused:
            continue  # stays parked with its new problem
    return applied
