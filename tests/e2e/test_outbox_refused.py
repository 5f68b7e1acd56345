"""The outbox relay on the real broker and database when Kafka refuses a row for good (it is
set aside in outbox_refused and the rows behind it flow on, in order) and when Kafka cannot
take rows now (every row stays in the outbox, none is refused); then the operator's
`ops refused` commands on a real service's outbox."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from collections.abc import Sequence

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from prometheus_client import REGISTRY
from sqlalchemy import insert, select, text
from typer.testing import CliRunner, Result

from devstack.child import free_ports
from devstack.paths import REPO_ROOT
from ops.cli import app as ops_app
from shared.db.engine import make_engine, unit_of_work
from shared.db.metadata import outbox_refused_table, outbox_table
from shared.kafka.producer import (
    MAX_RECORD_BYTES,
    broker_record_limit,
    limit_warning,
    make_producer,
    record_size,
)
from shared.outbox.relay import OutboxRelay
from tests.e2e.support import nurture_event, wait_until

TOPIC_LIMIT = 4096  # the scratch topic's max.message.bytes: a 10 kB row passes the producer, not the broker


async def create_topic(bootstrap: str, name: str, partitions: int = 1, **configs: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1,
                                            topic_configs=configs)])

        async def has_leaders() -> bool:
            [described] = await admin.describe_topics([name])
            return described["error_code"] == 0 and all(p["leader"] >= 0 for p in described["partitions"])
        await wait_until(has_leaders, timeout_s=15)
    finally:
        await admin.close()


def row(topic: str, value: bytes, key: bytes | None = b"lead-a", **headers: str) -> dict:
    return {"topic": topic, "key": key, "value": value, "headers": {"type": "lead.nurture", **headers}}


def event_row(topic: str, name: str, key: bytes = b"lead-a") -> dict:
    return row(topic, nurture_event(f"{name}-{uuid.uuid4().hex[:6]}@x.io").to_bytes(), key, name=name)


async def insert_rows(sessions, table, rows: Sequence[dict]) -> list[int]:
    ids = []
    async with unit_of_work(sessions) as session:
        for values in rows:  # one by one: ids in this order
            ids.append((await session.execute(insert(table).values(**values).returning(table.c.id))).scalar_one())
    return ids


class TopicReader:
    """Everything published on a topic after it was opened, with the headers."""

    def __init__(self, bootstrap: str, topic: str, partitions: int = 1) -> None:
        self.consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
        self.parts = [TopicPartition(topic, p) for p in range(partitions)]
        self.records: list = []

    async def __aenter__(self) -> TopicReader:
        await self.consumer.start()
        self.consumer.assign(self.parts)
        for part, offset in (await self.consumer.end_offsets(self.parts)).items():
            self.consumer.seek(part, offset)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.consumer.stop()

    async def until(self, count: int, timeout_s: float = 15) -> list:
        async with asyncio.timeout(timeout_s):
            while len(self.records) < count:
                for recs in (await self.consumer.getmany(timeout_ms=300)).values():
                    self.records += recs
        return self.records


def header(record, name: str) -> str | None:
    return next((v.decode() for k, v in record.headers if k == name), None)


def refused_count(topic: str) -> float:
    return REGISTRY.get_sample_value("handoff_outbox_refused_total", {"topic": topic}) or 0.0


@pytest.fixture
async def scratch(make_scratch):
    return await make_scratch(1)


async def test_a_row_kafka_refuses_is_set_aside_and_the_rows_behind_it_go_on_in_order(stack, scratch):
    outbox, refused = outbox_table(scratch.metadata), outbox_refused_table(scratch.metadata)
    topic = f"{scratch.name}.limited"
    await create_topic(stack.kafka_bootstrap, topic, **{"max.message.bytes": str(TOPIC_LIMIT)})
    producer = make_producer(stack.kafka_bootstrap, client_id="itest-refused")
    await producer.start()
    relay = OutboxRelay(scratch.sessions, outbox, producer, batch_size=100, send_timeout_s=20)
    async with TopicReader(stack.kafka_bootstrap, topic) as reader:
        try:
            # the producer has written to the partition before, as a running service's has
            await insert_rows(scratch.sessions, outbox, [event_row(topic, "warm")])
            assert await relay.relay_once() == 1

            broker_refuses = row(topic, b"b" * 10_000, name="broker-refuses")  # passes the producer's check
            producer_refuses = row(topic, b"p" * (MAX_RECORD_BYTES + 1), key=b"lead-b", name="producer-refuses")
            before = refused_count(topic)
            rows = ([event_row(topic, f"n{i}") for i in range(5)] + [broker_refuses]
                    + [event_row(topic, f"n{i}", key=b"lead-a" if i % 2 else b"lead-b") for i in range(5, 10)]
                    + [producer_refuses] + [event_row(topic, f"n{i}") for i in range(10, 15)])
            ids = await insert_rows(scratch.sessions, outbox, rows)
            while await relay.relay_once():
                pass

            records = await reader.until(16)
            await asyncio.sleep(0.5)  # a repeat would be here by now (the sentinel below proves the end)
            await insert_rows(scratch.sessions, outbox, [event_row(topic, "sentinel")])
            assert await relay.relay_once() == 1
            records = await reader.until(17)
        finally:
            await relay.close()
            await producer.stop()

    names = [header(r, "name") for r in records]
    assert names == ["warm", *(f"n{i}" for i in range(15)), "sentinel"]  # in order, once each, no refused one
    async with scratch.sessions() as session:
        assert (await session.execute(select(outbox.c.id))).all() == []
        kept = (await session.execute(select(refused).order_by(refused.c.id))).all()
    assert [(k.outbox_id, k.topic, k.key, k.value, k.headers["name"]) for k in kept] == [
        (ids[5], topic, b"lead-a", broker_refuses["value"], "broker-refuses"),
        (ids[11], topic, b"lead-b", producer_refuses["value"], "producer-refuses"),
    ]
    assert kept[0].reason.startswith("MessageSizeTooLargeError: ")
    assert kept[1].reason.startswith("MessageSizeTooLargeError: ") and "max_request_size" in kept[1].reason
    assert all(len(k.reason) <= 1000 and k.created_at < k.refused_at for k in kept)
    assert refused_count(topic) - before == 2

    assert await relay.backlog() == 0
    assert REGISTRY.get_sample_value("handoff_outbox_refused_rows") == 2


async def test_a_topic_that_does_not_exist_yet_keeps_every_row_in_the_outbox_until_it_does(stack, scratch):
    outbox, refused = outbox_table(scratch.metadata), outbox_refused_table(scratch.metadata)
    missing = f"{scratch.name}.later"
    producer = make_producer(stack.kafka_bootstrap, client_id="itest-not-now")
    await producer.start()
    relay = OutboxRelay(scratch.sessions, outbox, producer, send_timeout_s=2)
    try:
        ids = await insert_rows(scratch.sessions, outbox, [event_row(missing, "first")]
                                + [event_row(scratch.topic, f"n{i}") for i in range(3)])
        for _ in range(2):  # the broker has no such topic: "not now", whatever the round
            with pytest.raises(TimeoutError):
                await relay.relay_once()
        async with scratch.sessions() as session:
            assert (await session.execute(select(outbox.c.id).order_by(outbox.c.id))).scalars().all() == ids
            assert (await session.execute(select(refused.c.id))).all() == []

        await create_topic(stack.kafka_bootstrap, missing)
        async with TopicReader(stack.kafka_bootstrap, missing) as late, \
                TopicReader(stack.kafka_bootstrap, scratch.topic) as others:
            while await relay.relay_once():
                pass
            assert [header(r, "name") for r in await late.until(1)] == ["first"]
            assert [header(r, "name") for r in await others.until(3)] == ["n0", "n1", "n2"]
    finally:
        await relay.close()
        await producer.stop()
    async with scratch.sessions() as session:
        assert (await session.execute(select(outbox.c.id))).all() == []
        assert (await session.execute(select(refused.c.id))).all() == []


async def test_an_unreachable_broker_refuses_nothing(scratch):
    outbox, refused = outbox_table(scratch.metadata), outbox_refused_table(scratch.metadata)
    [port] = free_ports(1)
    producer = make_producer(f"127.0.0.1:{port}", client_id="itest-away")  # nothing listens there
    relay = OutboxRelay(scratch.sessions, outbox, producer, send_timeout_s=1)
    ids = await insert_rows(scratch.sessions, outbox, [row(scratch.topic, b"x" * (MAX_RECORD_BYTES + 1)),
                                                       event_row(scratch.topic, "n0")])
    with pytest.raises(TimeoutError):
        await relay.relay_once()
    await producer.stop()
    async with scratch.sessions() as session:
        assert (await session.execute(select(outbox.c.id).order_by(outbox.c.id))).scalars().all() == ids
        assert (await session.execute(select(refused.c.id))).all() == []


async def test_the_producer_limit_fits_the_broker_and_record_size_is_what_the_producer_checks(stack, scratch):
    assert await broker_record_limit(stack.kafka_bootstrap) == 1048588  # Kafka's default message.max.bytes
    assert limit_warning(1048588) is None
    assert "message.max.bytes (1000)" in (limit_warning(1000) or "")

    producer = make_producer(stack.kafka_bootstrap, client_id="itest-size")
    await producer.start()
    try:
        headers = [("type", b"lead.nurture"), ("correlation_id", b"c" * 36)]
        overhead = record_size("t", b"k" * 36, b"", headers)
        fits = b"v" * (MAX_RECORD_BYTES - overhead - 10)
        assert record_size("t", b"k" * 36, fits, headers) <= MAX_RECORD_BYTES
        # a scratch topic: nothing of the stack reads it (a service would dead-letter these bytes)
        sent = await producer.send(scratch.topic, fits, key=b"k" * 36, headers=headers)  # the check passed
        with pytest.raises(Exception, match="max_request_size"):
            await producer.send(scratch.topic, fits + b"v" * 20, key=b"k" * 36, headers=headers)
        await sent  # and the broker takes it: the limit fits message.max.bytes
    finally:
        await producer.stop()


# -- the operator's commands, on a real service ---------------------------------------

async def ops(*args: str) -> Result:
    """The command as the operator runs it; in a thread, since it runs its own event loop."""
    return await asyncio.to_thread(CliRunner().invoke, ops_app, list(args))


async def ok(*args: str) -> str:
    result = await ops(*args)
    assert result.exit_code == 0, (args, result.exit_code, result.stdout, result.stderr, result.exception)
    return result.stdout


async def test_ops_lists_replays_and_discards_what_a_running_service_refused(stack):
    """Routing's own relay refuses an oversized row; a row the broker refused is replayed once
    its cause is fixed and routing's relay delivers it; the oversized one can only be discarded."""
    topic = f"itest_{uuid.uuid4().hex[:8]}.v1"
    await create_topic(stack.kafka_bootstrap, topic, partitions=1)
    engine = make_engine(stack.database_url)
    url = stack.database_url
    try:
        async with engine.begin() as conn:
            oversized = (await conn.execute(text(
                "INSERT INTO routing.outbox (topic, key, value, headers) VALUES (:t, :k, :v, :h) RETURNING id"),
                {"t": topic, "k": b"lead-big", "v": b"o" * (MAX_RECORD_BYTES + 10),
                 "h": json.dumps({"type": "lead.routed"})})).scalar_one()
            fixed = nurture_event("replayed@x.io")
            earlier = (await conn.execute(text(
                "INSERT INTO routing.outbox_refused (outbox_id, topic, key, value, headers, created_at, reason) "
                "VALUES (0, :t, :k, :v, :h, now(), 'MessageSizeTooLargeError: [Error 10] MessageSizeTooLargeError') "
                "RETURNING id"),
                {"t": topic, "k": fixed.key, "v": fixed.to_bytes(),
                 "h": json.dumps({"type": "lead.nurture", "correlation_id": "itest"})})).scalar_one()

        async def set_aside_by_routing():
            async with engine.connect() as conn:
                return (await conn.execute(text("SELECT id FROM routing.outbox_refused WHERE outbox_id = :o"),
                                           {"o": oversized})).scalar_one_or_none()
        big = await wait_until(set_aside_by_routing)

        def routing_metric(name: str, labels: str = "") -> float | None:
            body = httpx.get(f"{stack.urls['routing']}/metrics", timeout=5).text
            line = next((ln for ln in body.splitlines() if ln.startswith(f"{name}{labels} ")), None)
            return float(line.split()[-1]) if line else None

        assert routing_metric("handoff_outbox_refused_total", f'{{topic="{topic}"}}') == 1

        async def gauge_refreshed():
            return (routing_metric("handoff_outbox_refused_rows") or 0) >= 2
        await wait_until(gauge_refreshed)

        listed = json.loads(await ok("refused", "list", "--service", "routing", "--json", "--database-url", url))
        mine = {item["id"]: item for item in listed if item["topic"] == topic}
        assert set(mine) == {earlier, big}
        assert mine[big]["too_large"] and mine[big]["outbox_id"] == oversized
        assert mine[big]["reason"].startswith("MessageSizeTooLargeError") and mine[big]["lead_id"] == "lead-big"
        assert mine[earlier]["lead_id"] == fixed.key.decode() and not mine[earlier]["too_large"]
        text_list = (await ok("refused", "list", "--database-url", url)).splitlines()
        assert text_list[0].split() == ["service", "id", "outbox_id", "topic", "event", "lead", "bytes", "created_at",
                                        "refused_at", "reason"]
        [line] = [ln for ln in text_list if ln.split()[:2] == ["routing", str(big)]]
        size = record_size(topic, b"lead-big", b"o" * (MAX_RECORD_BYTES + 10), {"type": "lead.routed"})
        assert line.split()[2:7] == [str(oversized), topic, "lead.routed", "lead-big", str(size)]
        shown = await ok("refused", "show", "routing", str(earlier), "--database-url", url)
        assert f"routing refused row {earlier}" in shown and str(fixed.event_id) in shown

        refused_replay = await ops("refused", "replay", "routing", str(big), "--yes", "--database-url", url)
        assert refused_replay.exit_code == 1 and "larger than the producer sends" in refused_replay.stderr
        not_confirmed = await ops("refused", "replay", "routing", str(earlier), "--database-url", url)
        assert not_confirmed.exit_code == 1 and "nothing changed" in not_confirmed.stderr

        async with TopicReader(stack.kafka_bootstrap, topic) as reader:
            replayed = await ok("refused", "replay", "routing", str(earlier), "--yes", "--database-url", url)
            assert f"replayed routing refused row {earlier} as outbox row " in replayed
            [record] = await reader.until(1)
        assert record.value == fixed.to_bytes() and record.key == fixed.key
        assert header(record, "handoff-replay-of") == f"outbox_refused:{earlier}"

        unknown = await ops("refused", "discard", "routing", str(earlier), "--yes", "--database-url", url)
        assert unknown.exit_code == 1 and f"no refused row {earlier}" in unknown.stderr
        discarded = await ok("refused", "discard", "routing", str(big), "--yes", "--database-url", url)
        assert f"discarded routing refused row {big}" in discarded
        after = json.loads(await ok("refused", "list", "--service", "routing", "--json", "--database-url", url))
        assert not [item for item in after if item["topic"] == topic]
    finally:
        await engine.dispose()


async def test_ops_refused_with_the_database_away_is_exit_code_2():
    [port] = free_ports(1)
    result = await ops("refused", "list", "--database-url", f"postgresql://postgres@127.0.0.1:{port}/handoff")
    assert result.exit_code == 2, (result.stdout, result.stderr, result.exception)
    assert result.stderr.startswith(f"ops: error: cannot reach PostgreSQL at 127.0.0.1:{port}/handoff")
    assert "Traceback" not in result.output


def test_handoff_ops_has_the_refused_commands():
    done = subprocess.run([sys.executable, "-m", "devstack", "ops", "refused", "--help"], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    for command in ("list", "show", "replay", "discard"):
        assert command in done.stdout
