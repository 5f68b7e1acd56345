"""A consumer batch costs the database a fixed number of statements, whatever its size: each
handler locks and reads its batch's rows once, decides in memory and writes each table with
one multi-row statement. Measured on the real PostgreSQL through the consumer's own unit of
work (``EventConsumer._apply``: the claim of the event ids, the handler, the commit), for a
small and a large batch of the same mix of events."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from services.feedback.handlers import TIMELINE
from services.feedback.tables import lead_stages
from services.feedback.tables import metadata as feedback_metadata
from services.routing.handlers import router_consumer
from services.routing.tables import assignments, nurtured, owner_open_counts
from services.routing.tables import metadata as routing_metadata
from services.scoring.handlers import scorer
from services.scoring.repository import definition_store
from services.scoring.tables import activities, leads
from services.scoring.tables import metadata as scoring_metadata
from shared.db.metadata import processed_events_table
from shared.events.codec import Event
from shared.events.payloads import Outcome
from shared.kafka.consumer import ConsumerSpec, EventConsumer
from tests.integration import test_feedback_use_cases as fb
from tests.integration import test_routing_use_cases as rt
from tests.integration import test_scoring_use_cases as sc

MOST_PER_BATCH = 8  # the target of issue 12, erasure register included (shared.access.erasures.claim_alive)
SMALL, LARGE = 4, 120
SAVEPOINTS = ("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT")  # the test's transaction, not the batch's


async def statements_of(connection: AsyncConnection, sessions: async_sessionmaker[AsyncSession],
                        spec: ConsumerSpec, processed, events: list[Event]) -> list[str]:
    """The statements one batch sent, in order (the test's own savepoints left out)."""
    sent: list[str] = []

    def seen(conn, cursor, statement, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
        sent.extend([statement] * (len(parameters) if executemany else 1))

    consumer = EventConsumer(spec, service="test", bootstrap_servers="127.0.0.1:9", sessions=sessions,
                             processed=processed, producer=None)  # type: ignore[arg-type]  # _apply never produces
    event.listen(connection.sync_connection, "before_cursor_execute", seen)
    try:
        await consumer._apply(events)
    finally:
        event.remove(connection.sync_connection, "before_cursor_execute", seen)
    assert consumer.processed_count == len(events)
    return [s for s in sent if not s.lstrip().upper().startswith(SAVEPOINTS)]


def scoring_batch(n: int, tag: str) -> list[Event]:
    events = []
    for i in range(n):
        email = f"ada.{tag}{i}@acme.com"
        at = sc.NOW - timedelta(minutes=10)
        events += [sc.captured(email, at=at, **sc.GOOD_FIT), sc.activity("pricing_page", at, email=email),
                   sc.outcome(Outcome.RECYCLED, at, email=email)]
    return events


def routing_batch(n: int, tag: str) -> list[Event]:
    events = []
    for i in range(n):
        email = f"lead.{tag}{i}@company{i}.com"
        events += [rt.lead_scored(email, qualified=i % 2 == 0, score=65 if i % 2 == 0 else 20),
                   rt.outcome(email, Outcome.ACCEPTED)]
    return events


def feedback_batch(n: int, tag: str) -> list[Event]:
    events = []
    for i in range(n):
        email = f"fb.{tag}{i}@acme.com"
        events += [fb.captured(email), fb.scored(email), fb.routed(email) if i % 2 else fb.nurtured(email)]
    return events


async def count(session: AsyncSession, table) -> int:  # type: ignore[no-untyped-def]
    return (await session.execute(select(func.count()).select_from(table))).scalar_one()


async def test_scoring_costs_the_same_statements_for_4_or_120_leads(connection, sessions, session) -> None:
    store = definition_store(sessions, sc.DEFINITION)
    await store.bootstrap()
    spec, processed = scorer(store, clock=lambda: sc.NOW), processed_events_table(scoring_metadata)
    small = await statements_of(connection, sessions, spec, processed, scoring_batch(SMALL, "s"))
    large = await statements_of(connection, sessions, spec, processed, scoring_batch(LARGE, "l"))
    assert len(large) == len(small) <= MOST_PER_BATCH, "\n".join(s[:150].replace("\n", " ") for s in large)
    # and the large batch did all its work
    assert await count(session, leads) == SMALL + LARGE
    assert await count(session, activities) == SMALL + LARGE
    recycled = (await session.execute(select(func.count()).where(leads.c.cycle == 2))).scalar_one()
    assert recycled == SMALL + LARGE


async def test_routing_costs_the_same_statements_for_4_or_120_leads(connection, sessions, session) -> None:
    router = await rt.router_for(sessions, rt.SHIPPED)
    spec, processed = router_consumer(router, clock=lambda: rt.NOW), processed_events_table(routing_metadata)
    small = await statements_of(connection, sessions, spec, processed, routing_batch(SMALL, "s"))
    large = await statements_of(connection, sessions, spec, processed, routing_batch(LARGE, "l"))
    assert len(large) == len(small) <= MOST_PER_BATCH, "\n".join(s[:150].replace("\n", " ") for s in large)
    assigned = (SMALL + LARGE) // 2
    assert await count(session, assignments) == assigned
    assert await count(session, nurtured) == SMALL + LARGE - assigned
    accepted = (await session.execute(
        select(func.count()).where(assignments.c.status == "accepted"))).scalar_one()
    assert accepted == assigned  # the outcomes in the same batch closed the clocks they follow
    open_now = (await session.execute(select(func.coalesce(func.sum(owner_open_counts.c.open), 0)))).scalar_one()
    assert open_now == 0


async def test_feedback_costs_the_same_statements_for_4_or_120_leads(connection, sessions, session) -> None:
    processed = processed_events_table(feedback_metadata)
    small = await statements_of(connection, sessions, TIMELINE, processed, feedback_batch(SMALL, "s"))
    large = await statements_of(connection, sessions, TIMELINE, processed, feedback_batch(LARGE, "l"))
    assert len(large) == len(small) <= MOST_PER_BATCH, "\n".join(s[:150].replace("\n", " ") for s in large)
    stages = dict((await session.execute(select(lead_stages.c.stage, func.count()).group_by(lead_stages.c.stage))).all())
    assert stages == {"routed": SMALL // 2 + LARGE // 2, "nurture": SMALL // 2 + LARGE // 2}


@pytest.mark.parametrize("make", [scoring_batch, routing_batch, feedback_batch])
def test_the_batches_mix_several_event_types(make: Callable[[int, str], list[Event]]) -> None:
    assert len({e.envelope.type for e in make(2, "x")}) >= 2
