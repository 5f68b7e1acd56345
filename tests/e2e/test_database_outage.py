"""PostgreSQL stopped (fast shutdown, as a restart or failover does it) while leads are in
flight through every service: the consumers see "terminating connection", "the database
system is shutting down" and "starting up", and must take them as "not now". Every lead
accepted before the outage is decided once it is back, and none is dead-lettered."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Sequence

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from sqlalchemy import insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from shared.db.engine import make_engine
from shared.db.metadata import processed_events_table
from shared.events.codec import Event
from shared.events.payloads import DeadLetter
from shared.events.topics import DEAD_LETTER
from shared.kafka.consumer import ConsumerSpec, EventConsumer
from shared.kafka.producer import make_producer
from tests.e2e.helpers import QUALIFIED, UNQUALIFIED, wait_for, wait_for_event
from tests.e2e.support import nurture_event, wait_until
from tests.e2e.test_intake_edges import Decisions

pytestmark = pytest.mark.stack

OUTAGE_S = 2.0  # how long the database stays down: the fault itself, not a wait for anything
BATCHES, BATCH_SIZE = 5, 100  # enough work that the outage lands while every consumer is busy


async def dead_letter_ends(bootstrap: str) -> dict[TopicPartition, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        return await consumer.end_offsets([TopicPartition(DEAD_LETTER.name, p) for p in range(DEAD_LETTER.partitions)])
    finally:
        await consumer.stop()


async def letters_between(bootstrap: str, start: dict[TopicPartition, int],
                          end: dict[TopicPartition, int]) -> list[DeadLetter]:
    letters: list[DeadLetter] = []
    wanted = [tp for tp in end if end[tp] > start[tp]]
    if not wanted:  # nothing was written meanwhile
        return letters
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(wanted)
        for tp in wanted:
            consumer.seek(tp, start[tp])

        async def behind() -> bool:
            return any([await consumer.position(tp) < end[tp] for tp in wanted])
        while await behind():
            for records in (await consumer.getmany(timeout_ms=1000)).values():
                letters += [DeadLetter.model_validate_json(r.value) for r in records]
    finally:
        await consumer.stop()
    return letters


def every_group_caught_up(feedback: httpx.Client) -> bool:
    lags = feedback.get("/ops/overview").json()["kafka"]["consumer_lag"]
    return bool(lags) and all(row["lag"] == 0 for row in lags)


async def test_leads_in_flight_when_the_database_restarts_are_all_decided_and_none_dead_lettered(stack, feedback):
    run = uuid.uuid4().hex[:8]
    key = stack.secrets.intake_api_keys["web-form"]
    before = await dead_letter_ends(stack.kafka_bootstrap)
    async with (Decisions(stack.kafka_bootstrap) as decisions,
                httpx.AsyncClient(base_url=stack.urls["intake"], timeout=30,
                                  headers={"Authorization": f"Bearer {key}"}) as intake):
        accepted: set[str] = set()
        for batch in range(BATCHES):
            answer = await intake.post("/leads/batch", json={"leads": [
                {"email": f"outage{batch}.{i}.{run}@company{i % 7}-{run}.com",
                 **(QUALIFIED if i % 3 else UNQUALIFIED)} for i in range(BATCH_SIZE)]})
            assert answer.status_code == 200 and answer.json()["accepted"] == BATCH_SIZE
            accepted |= {item["lead_id"] for item in answer.json()["items"]}

        await decisions.at_least(BATCH_SIZE // 2, timeout_s=30)  # the pipeline is busy with them: now the fault
        stack.stop_postgres()
        try:
            time.sleep(OUTAGE_S)
        finally:
            stack.start_postgres()

        decided = await decisions.until(accepted, timeout_s=120)
    assert set(decided.values()) <= {"lead.routed", "lead.nurture"}

    wait_for(lambda: every_group_caught_up(feedback), 60, "every consumer group at lag 0 after the restart")
    letters = await letters_between(stack.kafka_bootstrap, before, await dead_letter_ends(stack.kafka_bootstrap))
    ours = [f"{letter.consumer_group}: {letter.error[:200]}" for letter in letters if letter.key in accepted]
    assert not ours, f"dead-lettered because the database restarted: {ours}"


async def test_a_connection_the_database_terminates_mid_statement_is_retried_not_dead_lettered(stack, make_scratch):
    """Deterministic: PostgreSQL terminates the handler's connection in the middle of its
    statement (pg_terminate_backend, as a failover or an administrator does), for the batch
    and for every retry a poison record would get. That is "not now", so the record is
    applied once the connection holds, and nothing is dead-lettered."""
    scratch = await make_scratch(1)
    admin = make_engine(stack.database_url)
    cut_offs = 0
    dead_after = 1 + 3  # the batch, then max_attempts tries on its own: what a poison record gets

    async def terminate(pid: int) -> None:
        async with admin.connect() as conn:
            await wait_until(lambda: _running_sleep(conn, pid), timeout_s=10)
            await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})

    async def handler(session: AsyncSession, events: Sequence[Event]) -> None:
        nonlocal cut_offs
        if cut_offs < dead_after:
            cut_offs += 1
            pid = (await session.execute(text("SELECT pg_backend_pid()"))).scalar_one()
            killer = asyncio.create_task(terminate(pid))
            try:
                await session.execute(text("SELECT pg_sleep(30)"))  # terminated under it
            finally:
                await killer
        for event in events:
            await session.execute(insert(scratch.effects).values(event_id=event.envelope.event_id))

    event = nurture_event("cut-off@x.io")
    producer = make_producer(stack.kafka_bootstrap, client_id="itest-terminated")
    await producer.start()
    await producer.send_and_wait(scratch.topic, event.to_bytes(), key=event.key)
    consumer = EventConsumer(ConsumerSpec("itest", (scratch.topic,), handler), service=scratch.name,
                             bootstrap_servers=stack.kafka_bootstrap, sessions=scratch.sessions,
                             processed=processed_events_table(scratch.metadata), producer=producer,
                             max_attempts=3, retry_backoff_s=0.05)
    await consumer.start()
    task = asyncio.create_task(consumer.run())
    try:
        async def applied() -> bool:
            async with scratch.sessions() as session:
                return bool((await session.execute(select(scratch.effects.c.event_id))).scalars().all())
        await wait_until(applied, timeout_s=60)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await consumer.stop()
        await producer.stop()
        await admin.dispose()
    assert cut_offs == dead_after and consumer.dead_lettered_count == 0
    async with scratch.sessions() as session:
        assert (await session.execute(select(scratch.effects.c.event_id))).scalars().all() == [event.event_id]


async def _running_sleep(conn, pid: int) -> bool:
    query = text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid AND query LIKE 'SELECT pg_sleep%'")
    return bool((await conn.execute(query, {"pid": pid})).scalar_one())


def test_with_the_database_frozen_intake_answers_503_in_bounded_time_then_recovers(stack, intake, feedback, email):
    """SIGSTOP of PostgreSQL: connections stay open and nothing answers. Intake must not hang
    the source: it answers 503 with Retry-After once its database timeout passed. After the
    thaw, leads are accepted and routed again, and what consumers held meanwhile goes on."""
    stack.freeze_postgres()
    try:
        started = time.monotonic()
        frozen = intake.post("/leads", json={"email": email, **QUALIFIED}, timeout=60)
        waited = time.monotonic() - started
    finally:
        stack.thaw_postgres()
    assert frozen.status_code == 503, frozen.text
    assert int(frozen.headers["Retry-After"]) >= 1 and "database" in frozen.json()["detail"]
    print(f"\nintake answered 503 after {waited:.1f} s of a frozen database")
    back = wait_for(lambda: (r := intake.post("/leads", json={"email": email, **QUALIFIED})).status_code == 202
                    and r, 30, "intake accepting again after the thaw")
    wait_for_event(feedback, back.json()["lead_id"], "lead.routed", timeout_s=60)
