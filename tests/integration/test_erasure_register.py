"""The erasure register on the real PostgreSQL: a consumer drops events about an erased lead
and keeps the rest; each service's eraser erases its schema once and records its progress;
an address erased gives a new id (a new generation), also when an id of it was erased by
lead id; routing's own step closes the person's open assignments and their owners' counts."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.routing.handlers import before_erasure
from services.routing.tables import assignments, owner_open_counts
from services.scoring.handlers import scorer
from services.scoring.repository import definition_store
from services.scoring.tables import leads
from services.scoring.tables import metadata as scoring_metadata
from shared.access.erasures import current_lead_ids, erased_among, progress_of, register_erasure
from shared.access.tables import erased_ids
from shared.db.metadata import processed_events_table
from shared.events.codec import Event
from shared.events.envelope import Envelope
from shared.events.payloads import LeadErased
from shared.identity import lead_id_for
from shared.kafka.consumer import EventConsumer
from shared.service.erasure import eraser
from tests.integration import test_routing_use_cases as rt
from tests.integration import test_scoring_use_cases as sc


def address() -> str:
    return f"grace.{uuid.uuid4().hex[:8]}@acme.com"


async def erased(session: AsyncSession, email: str) -> uuid.UUID:
    lead_id = lead_id_for(email)
    await register_erasure(session, lead_id=lead_id, person=lead_id, generation=0, requested_by="test")
    return lead_id


def erasure_event(lead_id: uuid.UUID, erasure_id: uuid.UUID) -> Event:
    payload = LeadErased(erasure_id=erasure_id, requested_at=sc.NOW)
    return Event(Envelope.start(payload, lead_id=lead_id, correlation_id="erasure", producer="intake"), payload)


async def test_a_consumer_drops_the_events_of_an_erased_lead_and_keeps_the_others(
        sessions: async_sessionmaker[AsyncSession], session: AsyncSession) -> None:
    store = definition_store(sessions, sc.DEFINITION)
    await store.bootstrap()
    gone, kept = address(), address()
    async with sessions() as s, s.begin():
        await erased(s, gone)
    consumer = EventConsumer(scorer(store, clock=lambda: sc.NOW), service="test", bootstrap_servers="127.0.0.1:9",
                             sessions=sessions, processed=processed_events_table(scoring_metadata),
                             producer=None)  # type: ignore[arg-type]  # _apply never produces
    await consumer._apply([sc.captured(gone, job_title="CTO"), sc.captured(kept, job_title="CTO"),
                           sc.activity("demo_request", sc.NOW, email=gone)])

    assert consumer.processed_count == 1
    stored = set((await session.execute(select(leads.c.lead_id))).scalars())
    assert lead_id_for(kept) in stored and lead_id_for(gone) not in stored


async def test_the_eraser_erases_its_schema_once_and_says_so(sessions: async_sessionmaker[AsyncSession],
                                                              session: AsyncSession) -> None:
    email = address()
    await sc.record(session, sc.captured(email, first_name="Grace", last_name="Hopper", company="Acme"))
    lead_id = await erased(session, email)
    erasure_id = uuid.uuid4()
    handle = eraser(scoring_metadata, "scoring").handler

    await handle(session, [erasure_event(lead_id, erasure_id)])
    await handle(session, [erasure_event(lead_id, erasure_id)])  # delivered again

    assert (await session.execute(select(leads).where(leads.c.lead_id == lead_id))).first() is None
    progress = await progress_of(session, erasure_id)
    assert set(progress) == {"scoring"} and progress["scoring"]["rows"]["leads"] == 1
    [anonymous] = (await session.execute(select(erased_ids.c.lead_id).where(
        erased_ids.c.erasure_id == erasure_id, erased_ids.c.service == "scoring"))).scalars()  # one, not two
    [kept] = (await session.execute(select(leads).where(leads.c.lead_id == anonymous))).all()
    assert kept.email.startswith("erased.") and kept.profile["company"] == "Acme"  # the row stays, no one in it
    assert await erased_among(session, [anonymous]) == {anonymous}  # no event about it is acted on either


async def test_an_erased_address_is_a_new_lead_each_generation(session: AsyncSession) -> None:
    email = address()
    root = lead_id_for(email)
    assert (await current_lead_ids(session, [email]))[email] == root
    await register_erasure(session, lead_id=root, person=root, generation=0, requested_by="test")
    second = (await current_lead_ids(session, [email.upper()]))[email.upper()]
    assert second == lead_id_for(email, generation=1) and second != root
    # an erasure asked by lead id names no person: the address still moves past that id
    await register_erasure(session, lead_id=second, person=second, generation=0, requested_by="test")
    third = (await current_lead_ids(session, [email]))[email]
    assert third not in (root, second) and third == lead_id_for(email, generation=2)


async def test_routing_stops_the_clocks_of_an_erased_lead(sessions: async_sessionmaker[AsyncSession],
                                                           session: AsyncSession) -> None:
    email = address()
    router = await rt.router_for(sessions, rt.SHIPPED)
    await rt.route(router, session, rt.lead_scored(email, **rt.US_FIT))
    lead_id = lead_id_for(email)
    [owner] = (await session.execute(select(assignments.c.owner_id).where(
        assignments.c.lead_id == lead_id, assignments.c.status == "assigned"))).scalars()
    open_before = (await session.execute(select(owner_open_counts.c.open)
                                         .where(owner_open_counts.c.owner_id == owner))).scalar_one()

    done = await before_erasure(session, lead_id)

    assert done["assignments closed"] == 1
    [row] = (await session.execute(select(assignments).where(assignments.c.lead_id == lead_id))).all()
    assert row.status == "closed" and row.sla_due_at is None and row.sla_reassign_at is None
    assert (await session.execute(select(owner_open_counts.c.open)
                                  .where(owner_open_counts.c.owner_id == owner))).scalar_one() == open_before - 1
