"""Erasing a person in one service's schema (the building block of erasure): after it, no row
of any table of the schema holds the person's email, names or phone; every row is still
there (counts and reports keep them) under an id nothing maps back; the person's events
waiting in the outbox are gone; a second run finds nothing; and a later capture with the
same email is a new lead with nothing of the old one."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.feedback.tables import metadata as feedback_metadata
from services.routing.tables import metadata as routing_metadata
from services.scoring.tables import leads
from services.scoring.tables import metadata as scoring_metadata
from shared.db.personal_data import erase_person, export_person
from shared.identity import lead_id_for
from tests.integration import test_feedback_use_cases as fb
from tests.integration import test_routing_use_cases as rt
from tests.integration import test_scoring_use_cases as sc

PERSON = {"first_name": "Augusta", "last_name": "Kingsbyron", "phone": "+442079460958", "job_title": "CTO"}


def person() -> tuple[str, uuid.UUID]:
    email = f"augusta.{uuid.uuid4().hex[:8]}@acme.com"
    return email, lead_id_for(email)


async def everything_in(session: AsyncSession, schema: str) -> str:
    """Every row of every table of the schema, as text."""
    tables = (await session.execute(text(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = :s AND table_type = 'BASE TABLE'"),
        {"s": schema})).scalars().all()
    found = []
    for table in tables:
        found += (await session.execute(text(f'SELECT t::text FROM "{schema}"."{table}" t'))).scalars().all()
    # the outbox keeps events as bytes: read them as text too
    for table in ("outbox", "outbox_refused"):
        found += [bytes(v).decode(errors="replace") for v in (await session.execute(
            text(f'SELECT value FROM "{schema}"."{table}"'))).scalars().all()]
    return "\n".join(found)


async def counts(session: AsyncSession, metadata) -> dict[str, int]:
    return {t.name: (await session.execute(select(func.count()).select_from(t))).scalar_one()
            for t in metadata.sorted_tables if "lead_id" in t.c}


def assert_gone(text_of_schema: str, email: str) -> None:
    for value in (email, *PERSON.values()):
        assert value not in text_of_schema, f"{value!r} is still stored"


async def test_scoring_keeps_its_rows_and_nothing_of_the_person(session: AsyncSession) -> None:
    email, lead_id = person()
    await sc.record(session, sc.captured(email, company="Acme", company_size=500, industry="software", country="US",
                                         **PERSON))
    await sc.record(session, sc.activity("demo_request", sc.NOW, email=email))
    assert email in await everything_in(session, "scoring")
    before = await counts(session, scoring_metadata)

    erased = await erase_person(session, scoring_metadata, lead_id)

    assert erased.rows["leads"] == 1 and erased.rows["activities"] == 1 and erased.deleted["outbox"] >= 1
    assert_gone(await everything_in(session, "scoring"), email)
    assert await counts(session, scoring_metadata) == before
    assert await export_person(session, scoring_metadata, lead_id) == {}
    [kept] = (await session.execute(select(leads).where(leads.c.lead_id == erased.anonymous_id))).all()
    assert kept.profile["company"] == "Acme" and kept.profile["industry"] == "software"  # firmographics stay
    assert (await erase_person(session, scoring_metadata, lead_id)).rows == {}  # idempotent

    await sc.record(session, sc.captured(email, company="Acme"))  # the same person, later: a new lead
    [fresh] = (await session.execute(select(leads).where(leads.c.lead_id == lead_id))).all()
    assert fresh.profile.get("first_name") is None and fresh.profile["email"] == email


async def test_routing_keeps_assignments_and_decisions_and_nothing_of_the_person(
        session: AsyncSession, sessions: async_sessionmaker[AsyncSession]) -> None:
    email, lead_id = person()
    router = await rt.router_for(sessions, rt.SHIPPED)
    await rt.route(router, session, rt.lead_scored(email, **{**rt.US_FIT}))
    assert email in await everything_in(session, "routing")
    before = await counts(session, routing_metadata)

    erased = await erase_person(session, routing_metadata, lead_id)

    assert {"routed_leads", "assignments", "decisions"} <= set(erased.rows)
    assert_gone(await everything_in(session, "routing"), email)
    assert await counts(session, routing_metadata) == before
    assert await export_person(session, routing_metadata, lead_id) == {}


async def test_feedback_keeps_the_funnel_and_nothing_of_the_person(session: AsyncSession) -> None:
    email, lead_id = person()
    await fb.record(session, fb.captured(email), fb.scored(email), fb.routed(email))
    assert email in await everything_in(session, "feedback")
    before = await counts(session, feedback_metadata)

    erased = await erase_person(session, feedback_metadata, lead_id)

    assert {"lead_stages", "timeline"} <= set(erased.rows)
    assert_gone(await everything_in(session, "feedback"), email)
    assert await counts(session, feedback_metadata) == before  # the funnel counts every row as before
    assert await export_person(session, feedback_metadata, lead_id) == {}
