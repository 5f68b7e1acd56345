"""Feedback's use cases on the real database: every event lands once on feedback.timeline and
moves feedback.lead_stages; a CRM outcome is applied whole or refused with nothing applied
(transition, replay, unknown lead, invalid reason), a recycle opens the next cycle with a
nurture event; HubSpot events park what cannot be applied yet, a contact's email change links
it and applies what was parked, a retried event is a duplicate; parked outcomes can be retried
or discarded; and the funnel report counts the cycles recorded on the timeline."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.feedback.domain.hubspot import HubSpotEvent, load_mapping
from services.feedback.domain.stages import DEFAULT_LOSS_REASONS, DEFAULT_REJECTION_REASONS
from services.feedback.repository import FeedbackRepository
from services.feedback.tables import crm_contacts, lead_stages, metadata, outcomes, parked_outcomes, timeline
from services.feedback.use_cases.apply_outcome import Applied, OutcomeCommand, OutcomeRefused, Vocabulary, apply_outcome
from services.feedback.use_cases.hubspot_events import HubSpot, handle_event
from services.feedback.use_cases.parked_outcomes import Retried, discard, retry
from services.feedback.use_cases.record_timeline import record_timeline
from services.feedback.use_cases.reports import funnel
from shared.db.metadata import outbox_table
from shared.errors import Conflict
from shared.events.codec import Event
from shared.events.envelope import Envelope
from shared.events.payloads import (
    LeadCaptured,
    LeadNurtured,
    LeadRouted,
    LeadScored,
    Outcome,
    OutcomeRecorded,
    Payload,
)
from shared.identity import lead_id_for

VOCABULARY = Vocabulary(DEFAULT_REJECTION_REASONS, DEFAULT_LOSS_REASONS)
HUBSPOT = HubSpot(load_mapping(Path(__file__).parents[2] / "config" / "hubspot_mapping.yaml"), VOCABULARY)
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
ADA = "ada@acme.com"
ADA_ID = lead_id_for(ADA)
outbox = outbox_table(metadata)


# -- builders ---------------------------------------------------------------------------------


def event(payload: Payload, email: str, at: datetime, producer: str) -> Event:
    envelope = Envelope.start(payload, lead_id=lead_id_for(email), correlation_id=f"corr-{email}", producer=producer)
    return Event(envelope.model_copy(update={"occurred_at": at}), payload)


def captured(email: str = ADA, at: datetime = T0, source: str = "website") -> Event:
    return event(LeadCaptured(submission_id=uuid.uuid4(), source=source, email=email), email, at, "intake")


def scored(email: str = ADA, at: datetime = T0, qualified: bool = True) -> Event:
    return event(LeadScored(email=email, cycle=1, definition_version="d1", fit_score=65, engagement_score=0,
                            score=65 if qualified else 20, threshold=50, qualified=qualified, rules_fired=[]),
                 email, at, "scoring")


def routed(email: str = ADA, at: datetime = T0, cycle: int = 1, owner: str = "ana.silva") -> Event:
    return event(LeadRouted(email=email, cycle=cycle, owner_id=owner, owner_name=owner, policy_version="p1",
                            strategy="round_robin", reason="test", score=65, sla_due_at=at + timedelta(hours=1)),
                 email, at, "routing")


def nurtured(email: str = ADA, at: datetime = T0, producer: str = "routing", cycle: int = 1) -> Event:
    return event(LeadNurtured(email=email, cycle=cycle, reason="below"), email, at, producer)


def recorded(email: str, kind: Outcome, at: datetime, **fields: Any) -> Event:
    return event(OutcomeRecorded(email=email, outcome=kind, cycle=1, **fields), email, at, "feedback")


def command(kind: Outcome, delivery_id: str = "crm-1", lead_id: uuid.UUID = ADA_ID, **fields: Any) -> OutcomeCommand:
    return OutcomeCommand(delivery_id=delivery_id, lead_id=lead_id, outcome=kind, **fields)


def hubspot(prop: str, value: str, *, event_id: int = 1, contact: int = 501, attempt: int = 0) -> HubSpotEvent:
    return HubSpotEvent(eventId=event_id, subscriptionId=25, portalId=33, occurredAt=1_764_666_000_000 + event_id,
                        subscriptionType="contact.propertyChange", objectId=contact, attemptNumber=attempt,
                        propertyName=prop, propertyValue=value)


async def record(session: AsyncSession, *events: Event) -> FeedbackRepository:
    repository = FeedbackRepository(session)
    await record_timeline(repository, list(events))
    return repository


async def stage(session: AsyncSession, lead_id: uuid.UUID = ADA_ID) -> tuple[str, int, str | None] | None:
    row = (await session.execute(select(lead_stages).where(lead_stages.c.lead_id == lead_id))).one_or_none()
    return None if row is None else (row.stage, row.cycle, row.owner_id)


async def emitted(session: AsyncSession) -> list[Envelope]:
    return [Envelope.from_bytes(raw) for raw in
            (await session.execute(select(outbox.c.value).order_by(outbox.c.id))).scalars()]


async def rows(session: AsyncSession, table: Any) -> list[Any]:
    return list((await session.execute(select(table))).all())


# -- the timeline ------------------------------------------------------------------------------


async def test_events_land_on_the_timeline_once_and_move_the_stage(session: AsyncSession) -> None:
    batch = [captured(), scored(at=T0 + timedelta(minutes=1)), routed(at=T0 + timedelta(minutes=2))]
    await record(session, *batch)
    await record(session, *batch)  # redelivered

    entries = (await session.execute(select(timeline).order_by(timeline.c.seq))).all()
    assert [(e.event_id, e.type, e.producer, e.lead_id) for e in entries] == [
        (b.envelope.event_id, b.envelope.type, b.envelope.producer, ADA_ID) for b in batch]
    assert entries[2].payload["owner_id"] == "ana.silva"
    assert await stage(session) == ("routed", 1, "ana.silva")


async def test_capture_and_nurture_move_the_stage_and_routing_follows_nurture(session: AsyncSession) -> None:
    await record(session, captured())
    assert await stage(session) == ("captured", 1, None)
    await record(session, nurtured(producer="feedback"))  # only routing's nurture is a stage
    assert await stage(session) == ("captured", 1, None)
    await record(session, nurtured())
    assert await stage(session) == ("nurture", 1, None)
    await record(session, routed(owner="ben.okafor"))
    assert await stage(session) == ("routed", 1, "ben.okafor")


async def test_a_late_routed_event_does_not_undo_an_acceptance(session: AsyncSession) -> None:
    repository = await record(session, captured(), routed())
    await apply_outcome(repository, command(Outcome.ACCEPTED), VOCABULARY)
    await record(session, routed(owner="ben.okafor"))  # a reassignment the CRM overtook
    assert await stage(session) == ("accepted", 1, "ana.silva")


# -- applying an outcome ---------------------------------------------------------------------------


async def test_an_acceptance_after_routing_moves_the_stage_and_emits_the_outcome(session: AsyncSession) -> None:
    repository = await record(session, captured(), routed())

    applied = await apply_outcome(repository, command(Outcome.ACCEPTED), VOCABULARY)

    assert applied == Applied(ADA_ID, "accepted", 1)
    assert await stage(session) == ("accepted", 1, "ana.silva")
    [stored] = await rows(session, outcomes)
    assert (stored.delivery_id, stored.lead_id, stored.cycle, stored.outcome) == ("crm-1", ADA_ID, 1, "accepted")
    [envelope] = await emitted(session)
    assert (envelope.type, envelope.topic, envelope.lead_id, envelope.correlation_id, envelope.producer) == (
        "lead.outcome", "lead.outcome.v1", ADA_ID, f"corr-{ADA}", "feedback")
    assert OutcomeRecorded.model_validate(envelope.payload) == OutcomeRecorded(
        email=ADA, outcome=Outcome.ACCEPTED, cycle=1, crm_delivery_id="crm-1", owner_id="ana.silva")


async def refused(repository: FeedbackRepository, outcome: OutcomeCommand) -> OutcomeRefused:
    with pytest.raises(OutcomeRefused) as caught:
        await apply_outcome(repository, outcome, VOCABULARY)
    return caught.value


async def test_won_before_accepted_is_a_refused_transition_and_applies_nothing(session: AsyncSession) -> None:
    repository = await record(session, captured(), routed())
    refusal = await refused(repository, command(Outcome.WON, amount=Decimal("1200"), currency="EUR"))
    assert refusal.kind == "transition"
    assert await stage(session) == ("routed", 1, "ana.silva")
    assert (await rows(session, outcomes), await emitted(session)) == ([], [])


async def test_the_same_delivery_twice_is_a_replay(session: AsyncSession) -> None:
    repository = await record(session, captured(), routed())
    await apply_outcome(repository, command(Outcome.ACCEPTED), VOCABULARY)
    assert (await refused(repository, command(Outcome.ACCEPTED))).kind == "replay"
    assert (len(await rows(session, outcomes)), len(await emitted(session))) == (1, 1)


async def test_an_unknown_lead_is_refused(session: AsyncSession) -> None:
    repository = FeedbackRepository(session)
    refusal = await refused(repository, command(Outcome.ACCEPTED, lead_id=lead_id_for("nobody@acme.com")))
    assert refusal.kind == "unknown_lead"
    assert await rows(session, outcomes) == []


@pytest.mark.parametrize("reason", [None, "too small"])
async def test_a_rejection_needs_an_agreed_reason(session: AsyncSession, reason: str | None) -> None:
    repository = await record(session, captured(), routed())
    refusal = await refused(repository, command(Outcome.REJECTED, reason=reason))
    assert (refusal.kind, [field for field, _ in refusal.problems]) == ("invalid", ["reason"])
    assert await stage(session) == ("routed", 1, "ana.silva")
    assert await emitted(session) == []


async def test_a_recycle_emits_the_outcome_and_a_nurture_for_the_next_cycle(session: AsyncSession) -> None:
    repository = await record(session, captured(), routed())

    applied = await apply_outcome(repository, command(Outcome.RECYCLED, reason="no_budget_yet"), VOCABULARY)

    assert applied == Applied(ADA_ID, "recycled", 2)
    assert await stage(session) == ("recycled", 2, "ana.silva")
    outcome_event, nurture = await emitted(session)
    assert (outcome_event.type, OutcomeRecorded.model_validate(outcome_event.payload).cycle) == ("lead.outcome", 1)
    assert (nurture.type, nurture.causation_id, nurture.producer) == (
        "lead.nurture", outcome_event.event_id, "feedback")
    assert LeadNurtured.model_validate(nurture.payload) == LeadNurtured(
        email=ADA, cycle=2, reason="recycled by sales: no_budget_yet")
    await record(session, routed(cycle=2, owner="ben.okafor"))  # routed again in the new cycle
    assert await stage(session) == ("routed", 2, "ben.okafor")


# -- HubSpot and parked outcomes ------------------------------------------------------------------


async def test_an_outcome_for_an_unlinked_contact_is_parked_until_its_email_links_it(session: AsyncSession) -> None:
    repository = await record(session, captured(), routed())
    connected = hubspot("hs_lead_status", "CONNECTED", event_id=1)

    parked = await handle_event(repository, HUBSPOT, connected)
    assert parked.result == "parked"
    [row] = await rows(session, parked_outcomes)
    assert (row.delivery_id, row.contact_ref, row.status, row.lead_id) == (
        connected.delivery_id, "hubspot:33:501", "parked", None)
    assert "not linked" in row.problem
    assert (await stage(session), await emitted(session)) == (("routed", 1, "ana.silva"), [])

    linked = await handle_event(repository, HUBSPOT, hubspot("email", " ADA@acme.com ", event_id=2))
    assert (linked.result, linked.detail) == ("linked", "hubspot:33:501 is ada@acme.com; 1 parked outcome(s) applied")
    [contact] = await rows(session, crm_contacts)
    assert (contact.contact_ref, contact.lead_id, contact.email) == ("hubspot:33:501", ADA_ID, ADA)
    [row] = await rows(session, parked_outcomes)
    assert (row.status, row.lead_id, row.resolved_by) == ("applied", ADA_ID, "contact linked")
    assert await stage(session) == ("accepted", 1, "ana.silva")
    [envelope] = await emitted(session)
    assert OutcomeRecorded.model_validate(envelope.payload).crm_delivery_id == connected.delivery_id


async def test_a_retried_hubspot_event_is_a_duplicate(session: AsyncSession) -> None:
    repository = await record(session, captured(), routed())
    await handle_event(repository, HUBSPOT, hubspot("email", ADA, event_id=1))

    first = await handle_event(repository, HUBSPOT, hubspot("hs_lead_status", "IN_PROGRESS", event_id=2))
    again = await handle_event(repository, HUBSPOT, hubspot("hs_lead_status", "IN_PROGRESS", event_id=2, attempt=1))

    assert (first.result, first.detail, again.result) == ("applied", f"lead {ADA_ID} is now accepted", "duplicate")
    assert (len(await rows(session, outcomes)), len(await emitted(session))) == (1, 1)
    assert await rows(session, parked_outcomes) == []


async def parked_id(session: AsyncSession) -> int:
    found: int = (await session.execute(select(parked_outcomes.c.id))).scalar_one()
    return found


async def test_retrying_a_parked_outcome_keeps_it_parked_until_its_cause_is_fixed(session: AsyncSession) -> None:
    repository = FeedbackRepository(session)  # feedback has not seen this lead yet
    await handle_event(repository, HUBSPOT, hubspot("hs_lead_status", "CONNECTED", event_id=1))
    linked = await handle_event(repository, HUBSPOT, hubspot("email", ADA, event_id=2))
    assert linked.detail == "hubspot:33:501 is ada@acme.com"  # tried on linking, still unknown
    number = await parked_id(session)

    still = await retry(repository, HUBSPOT, number, "revops")
    assert still == Retried(False, f"still cannot be applied: unknown lead {ADA_ID}")
    [row] = await rows(session, parked_outcomes)
    assert (row.status, row.problem) == ("parked", f"unknown lead {ADA_ID}")

    await record(session, captured(), routed())
    assert await retry(repository, HUBSPOT, number, "revops") == Retried(True, f"lead {ADA_ID} is now accepted")
    [row] = await rows(session, parked_outcomes)
    assert (row.status, row.resolved_by, row.lead_id) == ("applied", "revops", ADA_ID)
    assert await stage(session) == ("accepted", 1, "ana.silva")
    with pytest.raises(Conflict):
        await retry(repository, HUBSPOT, number, "revops")


async def test_discarding_a_parked_outcome_records_who_and_why(session: AsyncSession) -> None:
    repository = FeedbackRepository(session)
    await handle_event(repository, HUBSPOT, hubspot("handoff_loss_reason", "price", event_id=1))
    number = await parked_id(session)

    await discard(repository, number, "revops", "test contact, not a real lead")

    [row] = await rows(session, parked_outcomes)
    assert (row.status, row.resolved_by, row.note) == ("discarded", "revops", "test contact, not a real lead")
    assert row.resolved_at is not None
    with pytest.raises(Conflict):
        await discard(repository, number, "revops", "again")
    assert await session.scalar(select(func.count()).select_from(outcomes)) == 0


# -- reports ---------------------------------------------------------------------------------------


async def test_the_funnel_counts_the_cycles_on_the_timeline(session: AsyncSession) -> None:
    start, minute = T0, timedelta(minutes=1)
    won, lost, cold, early = "won@acme.com", "rej@acme.com", "cold@acme.com", "early@acme.com"
    repository = await record(
        session,
        captured(won, start), scored(won, start + minute), routed(won, start + 2 * minute),
        recorded(won, Outcome.ACCEPTED, start + 30 * minute),
        recorded(won, Outcome.WON, start + timedelta(days=1), amount=Decimal("1000"), currency="EUR"),
        captured(lost, start + minute), scored(lost, start + 2 * minute), routed(lost, start + 3 * minute),
        recorded(lost, Outcome.REJECTED, start + 4 * minute, reason="no_budget"),
        captured(cold, start + minute, source="webinar"), scored(cold, start + 2 * minute, qualified=False),
        nurtured(cold, start + 3 * minute),
        captured(early, start - timedelta(days=3)), routed(early, start + minute),  # captured before the period
    )

    report = await funnel(repository, start=start, end=start + timedelta(days=7), group_by="source", currency="EUR",
                          promise_per_30_days=None, now=start + timedelta(days=2))

    total = report.total
    assert (total.leads, total.mqls, total.accepted, total.rejected, total.opportunities, total.won) == (3, 2, 1, 1, 1, 1)
    assert (total.rejected_by_reason, total.revenue) == ({"no_budget": 1}, Decimal("1000"))
    assert (total.sales_sla.met, total.sales_sla.missed, total.sales_sla.pending) == (1, 1, 0)
    assert {g.key: (g.figures.leads, g.figures.mqls) for g in report.groups} == {"website": (2, 2), "webinar": (1, 0)}
