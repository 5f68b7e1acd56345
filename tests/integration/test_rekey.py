"""The re-key on the real PostgreSQL: leads stored under the id of their lower-cased email move,
with every row that carries it, to the id their person derives to (where the new ids come
from: ``lead_id_for``), leads that would fold into another stay apart, feedback keeps the old
ids answering; a second run changes nothing; and each service's migration does it on upgrade
and undoes it on downgrade."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import func, insert, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection

from services.feedback import tables as feedback
from services.feedback.repository import FeedbackRepository
from services.routing import tables as routing
from services.scoring import tables as scoring
from shared.db.engine import make_engine
from shared.db.migrations import alembic_config, upgrade
from shared.db.rekey import SCHEMAS, rekey
from shared.identity import LEAD_NAMESPACE, UNKEYED, lead_id_for
from shared.identity_policy import DEFAULT_POLICY

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
KEYS = {k.schema: k for k in SCHEMAS}

# stored before one identity, each under uuid5 of its lower-cased email
TAGGED, GOOGLEMAIL, PLAIN = "ada+news@acme.com", "a.da@googlemail.com", "cy@acme.com"
BOB, BOB_TAGGED = "bob@acme.com", "bob+x@acme.com"  # one person, two stored leads


def old(email: str) -> uuid.UUID:
    return uuid.uuid5(LEAD_NAMESPACE, email)


def person(email: str) -> uuid.UUID:
    """The id of one identity before keyed ids: what scoring_0004 and the others moved leads to."""
    return lead_id_for(email, key=UNKEYED)


async def ids_in(conn: AsyncConnection, table, lead_id: uuid.UUID) -> int:
    return len((await conn.execute(select(table.c.lead_id).where(table.c.lead_id == lead_id))).all())


# -- each schema, in the test's transaction ----------------------------------------------------------

async def store_scoring(conn: AsyncConnection, email: str) -> None:
    lead_id = old(email)
    await conn.execute(insert(scoring.leads).values(lead_id=lead_id, email=email, profile={"email": email}))
    await conn.execute(insert(scoring.activities).values(event_id=uuid.uuid4(), lead_id=lead_id,
                                                         activity_type="demo_request", occurred_at=T0))
    await conn.execute(insert(scoring.submissions).values(event_id=uuid.uuid4(), lead_id=lead_id, source="web",
                                                          submitted_at=T0, fields={"email": email}))
    await conn.execute(insert(scoring.lead_outcomes).values(event_id=uuid.uuid4(), lead_id=lead_id, cycle=1,
                                                            outcome="accepted", recorded_at=T0))


async def test_scoring_leads_move_with_their_activity_submissions_and_outcomes(connection):
    for email in (TAGGED, GOOGLEMAIL, PLAIN, BOB, BOB_TAGGED):
        await store_scoring(connection, email)
    anonymous = old("dee+x@acme.com")  # activity of someone never captured: no email to go by
    await connection.execute(insert(scoring.activities).values(event_id=uuid.uuid4(), lead_id=anonymous,
                                                               activity_type="email_click", occurred_at=T0))

    plan = await connection.run_sync(rekey, KEYS["scoring"], DEFAULT_POLICY, key=UNKEYED)

    assert plan.moves == {old(TAGGED): person(TAGGED), old(GOOGLEMAIL): person(GOOGLEMAIL)}
    assert [(k.lead_id, k.identity_id) for k in plan.kept] == [(old(BOB_TAGGED), old(BOB))]
    tables = (scoring.leads, scoring.activities, scoring.submissions, scoring.lead_outcomes)
    for email in (TAGGED, GOOGLEMAIL):
        for table in tables:
            assert await ids_in(connection, table, person(email)) == 1, (email, table.name)
            assert await ids_in(connection, table, old(email)) == 0, (email, table.name)
    for email in (PLAIN, BOB, BOB_TAGGED):  # untouched
        assert all([await ids_in(connection, t, old(email)) == 1 for t in tables]), email
    assert await ids_in(connection, scoring.activities, anonymous) == 1
    kept_email = (await connection.execute(select(scoring.leads.c.email)
                                           .where(scoring.leads.c.lead_id == person(TAGGED)))).scalar_one()
    assert kept_email == TAGGED  # the address stays as sent; only the id follows the person

    again = await connection.run_sync(rekey, KEYS["scoring"], DEFAULT_POLICY, key=UNKEYED)
    assert again.moves == {} and [k.lead_id for k in again.kept] == [old(BOB_TAGGED)]


async def store_routing(conn: AsyncConnection, email: str) -> None:
    lead_id = old(email)
    await conn.execute(insert(routing.routed_leads).values(lead_id=lead_id, email=email, cycle=1, facts={}))
    await conn.execute(insert(routing.assignments).values(lead_id=lead_id, cycle=1, owner_id="ana",
                                                          policy_version="v1", reason="round robin"))
    await conn.execute(insert(routing.nurtured).values(lead_id=lead_id, cycle=2))
    await conn.execute(insert(routing.queued).values(lead_id=lead_id, cycle=2, rule="r", queued_at=T0, decision={}))
    await conn.execute(insert(routing.decisions).values(lead_id=lead_id, cycle=1, kind="assigned", decision={}))
    await conn.execute(insert(routing.crm_deliveries).values(event_id=uuid.uuid4(), lead_id=lead_id, body=b"{}"))


async def test_routing_leads_move_with_assignments_queues_decisions_and_deliveries(connection):
    for email in (TAGGED, PLAIN, BOB, BOB_TAGGED):
        await store_routing(connection, email)

    plan = await connection.run_sync(rekey, KEYS["routing"], DEFAULT_POLICY, key=UNKEYED)

    assert plan.moves == {old(TAGGED): person(TAGGED)}
    assert [k.lead_id for k in plan.kept] == [old(BOB_TAGGED)]  # two owners, two leads: not folded
    for table in (routing.routed_leads, routing.assignments, routing.nurtured, routing.queued, routing.decisions,
                  routing.crm_deliveries):
        assert await ids_in(connection, table, person(TAGGED)) == 1, table.name
        assert await ids_in(connection, table, old(TAGGED)) == 0, table.name
        assert await ids_in(connection, table, old(BOB_TAGGED)) == 1, table.name


async def store_feedback(conn: AsyncConnection, email: str) -> None:
    lead_id = old(email)
    await conn.execute(insert(feedback.lead_stages).values(lead_id=lead_id, email=email, stage="routed"))
    await conn.execute(insert(feedback.outcomes).values(delivery_id=f"d-{email}", lead_id=lead_id, cycle=1,
                                                        outcome="accepted"))
    await conn.execute(insert(feedback.timeline).values(event_id=uuid.uuid4(), lead_id=lead_id, type="lead.captured",
                                                        occurred_at=T0, producer="intake", correlation_id="c",
                                                        payload={"email": email}))
    await conn.execute(insert(feedback.parked_outcomes).values(delivery_id=f"p-{email}", source="hubspot",
                                                               lead_id=lead_id, outcome={}, problem="p"))


async def test_feedback_moves_leads_and_contacts_and_the_old_ids_keep_answering(connection, session):
    for email in (TAGGED, PLAIN, BOB, BOB_TAGGED):
        await store_feedback(connection, email)
    contact_only = "dee+crm@acme.com"  # a HubSpot contact whose lead was never captured: a pointer
    await connection.execute(insert(feedback.crm_contacts).values(contact_ref="hubspot:1:7", lead_id=old(contact_only),
                                                                  email=contact_only))
    await connection.execute(insert(feedback.crm_contacts).values(contact_ref="hubspot:1:8", lead_id=old(TAGGED),
                                                                  email=TAGGED))
    earlier = uuid.uuid4()  # an alias from an earlier re-key, pointing at an id that moves now
    await connection.execute(insert(feedback.lead_aliases).values(old_lead_id=earlier, lead_id=old(TAGGED)))

    plan = await connection.run_sync(rekey, KEYS["feedback"], DEFAULT_POLICY, key=UNKEYED)

    ada = person(TAGGED)
    assert plan.moves == {old(TAGGED): ada, old(contact_only): person(contact_only)}
    assert [k.lead_id for k in plan.kept] == [old(BOB_TAGGED)]
    for table in (feedback.lead_stages, feedback.outcomes, feedback.timeline, feedback.parked_outcomes,
                  feedback.crm_contacts):
        assert await ids_in(connection, table, ada) == 1, table.name
        assert await ids_in(connection, table, old(TAGGED)) == 0, table.name
    aliases = dict((await connection.execute(select(feedback.lead_aliases.c.old_lead_id,
                                                    feedback.lead_aliases.c.lead_id))).all())
    assert aliases == {old(TAGGED): ada, earlier: ada, old(contact_only): person(contact_only)}

    repository = FeedbackRepository(session)  # what the CRM webhook and the timeline ask
    assert await repository.current_lead_id(old(TAGGED)) == ada
    assert await repository.current_lead_id(earlier) == ada
    assert await repository.current_lead_id(old(PLAIN)) == old(PLAIN)
    assert (await repository.stage_of(await repository.current_lead_id(old(TAGGED)))).email == TAGGED
    assert await repository.lead_for_contact("hubspot:1:8") == ada


async def test_a_second_run_and_a_run_on_empty_schemas_change_nothing(connection):
    for keys in SCHEMAS:
        assert (await connection.run_sync(rekey, keys, DEFAULT_POLICY, key=UNKEYED)).moves == {}


# -- the migrations, on a database of their own -------------------------------------------------------

MIGRATIONS = {"scoring": "scoring_0004", "routing": "routing_0007", "feedback": "feedback_0004"}


@pytest.fixture
async def fresh_database(database_url: str) -> AsyncIterator[str]:
    """An empty database on the test server, dropped afterwards."""
    name = f"rekey_{uuid.uuid4().hex[:10]}"
    server = make_engine(database_url)
    admin = server.execution_options(isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(database_url).set(database=name).render_as_string(hide_password=False)
    finally:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        await server.dispose()


async def migrate(url: str, service: str, revision: str) -> None:
    await asyncio.to_thread(upgrade, service, url, revision)


async def downgrade(url: str, service: str, revision: str) -> None:
    from alembic import command
    await asyncio.to_thread(command.downgrade, alembic_config(service, url), revision)


async def just_before(url: str, service: str, revision: str) -> tuple[str, Any, Any]:
    """The schema migrated to the revision before ``revision``; its writer and its lead table."""
    before = ScriptDirectory.from_config(alembic_config(service, url)).get_revision(revision).down_revision
    assert isinstance(before, str)
    await migrate(url, service, before)
    store = {"scoring": store_scoring, "routing": store_routing, "feedback": store_feedback}[service]
    lead_table = {"scoring": scoring.leads, "routing": routing.routed_leads, "feedback": feedback.lead_stages}[service]
    return before, store, lead_table


@pytest.mark.parametrize("service", MIGRATIONS)
async def test_the_migration_rekeys_on_upgrade_and_undoes_it_on_downgrade(fresh_database, service):
    url, revision = fresh_database, MIGRATIONS[service]
    before, store, lead_table = await just_before(url, service, revision)
    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            for email in (TAGGED, PLAIN):
                await store(conn, email)

        await migrate(url, service, revision)
        async with engine.connect() as conn:
            assert await ids_in(conn, lead_table, person(TAGGED)) == 1
            assert await ids_in(conn, lead_table, old(TAGGED)) == 0
            assert await ids_in(conn, lead_table, old(PLAIN)) == 1

        await downgrade(url, service, before)
        async with engine.connect() as conn:
            assert await ids_in(conn, lead_table, old(TAGGED)) == 1
            assert await ids_in(conn, lead_table, person(TAGGED)) == 0
    finally:
        await engine.dispose()


async def test_the_command_rekeys_every_schema(database_url, engine):
    """``python -m shared.db.rekey``: each schema in its own committed transaction."""
    from shared.db.rekey import rekey_all

    email = f"eve.{uuid.uuid4().hex[:8]}+cmd@acme.com"
    async with engine.begin() as conn:
        await store_scoring(conn, email)
    try:
        plans = await rekey_all(database_url, DEFAULT_POLICY)
        assert plans["scoring"].moves == {old(email): lead_id_for(email)}
        assert set(plans) == {"scoring", "routing", "feedback"}
    finally:
        async with engine.begin() as conn:  # committed rows: leave the shared database as it was
            for table in (scoring.leads, scoring.activities, scoring.submissions, scoring.lead_outcomes):
                await conn.execute(table.delete().where(table.c.lead_id.in_([old(email), lead_id_for(email)])))



KEYED_MIGRATIONS = {"scoring": "scoring_0005", "routing": "routing_0009", "feedback": "feedback_0005"}


@pytest.mark.parametrize("service", KEYED_MIGRATIONS)
async def test_the_move_to_keyed_ids_rekeys_every_lead_and_the_email_derived_ids_stop_answering(
        fresh_database, service):
    url, revision = fresh_database, KEYED_MIGRATIONS[service]
    await migrate(url, "access", "head")  # the installation's key, as the migrate job runs it first
    before, store, lead_table = await just_before(url, service, revision)
    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            key = (await conn.execute(text("SELECT lead_id_key FROM access.installation"))).scalar_one()
            for email in (PLAIN, BOB):
                await store(conn, email)
                await conn.execute(update(lead_table).where(lead_table.c.lead_id == old(email))
                                   .values(lead_id=person(email)))
            if service == "feedback":
                await conn.execute(insert(feedback.lead_aliases).values(old_lead_id=old(TAGGED),
                                                                        lead_id=person(PLAIN)))

        await migrate(url, service, revision)
        async with engine.connect() as conn:
            for email in (PLAIN, BOB):
                assert await ids_in(conn, lead_table, lead_id_for(email, key=key)) == 1, email
                assert await ids_in(conn, lead_table, person(email)) == 0, "an email still gives the id"
            if service == "feedback":
                assert (await conn.execute(select(func.count()).select_from(feedback.lead_aliases))).scalar_one() == 0

        await downgrade(url, service, before)
        async with engine.connect() as conn:
            assert await ids_in(conn, lead_table, person(PLAIN)) == 1
            assert await ids_in(conn, lead_table, lead_id_for(PLAIN, key=key)) == 0
    finally:
        await engine.dispose()
