"""One person, one lead, across the places that look leads up by email: scoring merges the
spellings of one person into one profile (the address kept as sent), HubSpot links a contact to
the person whatever spelling it sends and ignores one that is no address, and the CRM reaches
a lead by the id it had before a re-key."""

from __future__ import annotations

import uuid

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.feedback.repository import FeedbackRepository
from services.feedback.tables import crm_contacts, lead_aliases
from services.feedback.use_cases.apply_outcome import OutcomeCommand, apply_outcome
from services.feedback.use_cases.hubspot_events import handle_event
from services.feedback.use_cases.record_timeline import record_timeline
from services.scoring.tables import leads, submissions
from shared.events.payloads import Outcome
from shared.identity import LEAD_NAMESPACE, lead_id_for
from tests.integration import test_feedback_use_cases as fb
from tests.integration import test_scoring_use_cases as sc

ADA = lead_id_for("ada@acme.com")


async def test_scoring_keeps_one_lead_for_every_spelling_of_one_person(session: AsyncSession) -> None:
    await sc.record(session, sc.captured("ada+news@acme.com", **sc.GOOD_FIT))
    await sc.record(session, sc.captured("ADA@acme.com".lower(), company="Acme"))

    [row] = (await session.execute(select(leads))).all()
    assert row.lead_id == ADA
    assert row.email == "ada+news@acme.com"  # the address first captured, as sent
    assert row.profile["email"] == "ada@acme.com" and row.profile["company"] == "Acme"  # merged, newest wins
    assert row.profile["email_domain"] == "acme.com"
    kept = (await session.execute(select(submissions.c.lead_id))).scalars().all()
    assert kept == [ADA, ADA]


async def test_hubspot_links_a_contact_to_the_person_and_ignores_what_is_no_address(session: AsyncSession) -> None:
    repository = FeedbackRepository(session)
    await record_timeline(repository, [fb.captured("ada@acme.com"), fb.routed("ada@acme.com")])

    linked = await handle_event(repository, fb.HUBSPOT, fb.hubspot("email", "Ada+HubSpot@Acme.com", event_id=1))
    applied = await handle_event(repository, fb.HUBSPOT, fb.hubspot("hs_lead_status", "IN_PROGRESS", event_id=2))
    refused = await handle_event(repository, fb.HUBSPOT, fb.hubspot("email", "ada@localhost", event_id=3, contact=9))

    assert linked.result == "linked" and applied.detail == f"lead {ADA} is now accepted"
    assert (refused.result, refused.detail) == ("ignored", "hubspot:33:9: not an email address: The part after "
                                                           "the @-sign is not valid. It should have a period.")
    contacts = (await session.execute(select(crm_contacts.c.contact_ref, crm_contacts.c.lead_id,
                                             crm_contacts.c.email))).all()
    assert contacts == [("hubspot:33:501", ADA, "ada+hubspot@acme.com")]


async def test_an_outcome_for_the_id_a_lead_had_before_the_rekey_reaches_the_lead(session: AsyncSession) -> None:
    repository = FeedbackRepository(session)
    await record_timeline(repository, [fb.captured("ada@acme.com"), fb.routed("ada@acme.com")])
    before = uuid.uuid5(LEAD_NAMESPACE, "ada+news@acme.com")  # the id before one identity
    await session.execute(insert(lead_aliases).values(old_lead_id=before, lead_id=ADA))

    lead_id = await repository.current_lead_id(before)  # what the CRM webhook does first
    applied = await apply_outcome(repository, OutcomeCommand("crm-9", lead_id, Outcome.ACCEPTED), fb.VOCABULARY)

    assert (applied.lead_id, applied.stage) == (ADA, "accepted")
