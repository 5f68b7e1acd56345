"""The raw relay: what Kafka and Python alone do with the pipeline's records, as a yardstick.

``hops`` processes pass records along fresh topics, topic0 -> hop 1 -> topic1 -> ... ->
topicN, each hop the way a service's consumer works (a consumer group polling up to 500
records, ``fetch_max_wait_ms=100``, the services' producer: acks=all, idempotent, 5 ms
linger; offsets committed after the batch is acknowledged) but doing nothing else with a
batch, or, with a database, one multi-row INSERT of the batch into a scratch table. The
driver (``Relay``) sends to topic0 and notes when each record reaches topicN.

A hop runs as its own process, as every service does, under uvloop:

    .venv/bin/python -m benchmarks.relay --bootstrap 127.0.0.1:9092 --source t0 --target t1 --group g --hop 1 \
        [--dsn postgresql://... --table schema.table]

``benchmarks.compare`` starts the hops, the topics and the table itself.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import asyncpg
import uvloop
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.structs import ConsumerRecord

from benchmarks.arrivals import Arrivals
from devstack import child
from shared.kafka.producer import OutgoingRecord, make_producer, send_all

MAX_RECORDS = 500  # per poll, as shared.kafka.consumer.EventConsumer
REPO_ROOT = Path(__file__).resolve().parent.parent


# ---- topics and the scratch table ---------------------------------------------------

async def create_topics(bootstrap: str, names: Sequence[str], partitions: int) -> None:
    """Fresh topics: the broker does not create topics on first use (auto.create.topics.enable=false)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1) for name in names])
        deadline = time.monotonic() + 15
        while not set(names) <= set(await admin.list_topics()):
            if time.monotonic() > deadline:
                raise TimeoutError(f"topics {', '.join(names)} not listed 15 s after their creation")
            await asyncio.sleep(0.1)
    finally:
        await admin.close()


async def delete_topics(bootstrap: str, names: Sequence[str]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.delete_topics(list(names))
    finally:
        await admin.close()


def asyncpg_dsn(database_url: str) -> str:
    """The stack gives SQLAlchemy's URL (postgresql+asyncpg://); asyncpg takes the plain one."""
    return database_url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def create_scratch_table(dsn: str, schema: str) -> str:
    """A table in a schema of its own, so dropping the schema removes every trace; the primary
    key makes each insert check an index, as the services' dedupe tables do."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f"CREATE SCHEMA {schema}")
        await conn.execute(f"CREATE TABLE {schema}.relayed (hop smallint NOT NULL, key bytea NOT NULL, "
                           "value bytea NOT NULL, PRIMARY KEY (hop, key))")
    finally:
        await conn.close()
    return f"{schema}.relayed"


async def drop_scratch_schema(dsn: str, schema: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    finally:
        await conn.close()


# ---- one hop (the child process) ----------------------------------------------------

async def run_hop(bootstrap: str, source: str, target: str, group: str, hop: int,
                  dsn: str | None, table: str | None) -> None:
    """Relay ``source`` to ``target`` batch by batch until SIGTERM."""
    consumer = AIOKafkaConsumer(source, bootstrap_servers=bootstrap, group_id=group, client_id=group,
                                enable_auto_commit=False, auto_offset_reset="earliest", fetch_max_wait_ms=100)
    producer = make_producer(bootstrap, client_id=group)
    db = await asyncpg.connect(dsn) if dsn else None
    insert = (f"INSERT INTO {table} (hop, key, value) SELECT $1, k, v FROM unnest($2::bytea[], $3::bytea[]) "
              "AS t(k, v)")
    stopping = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopping.set)
    await consumer.start()
    await producer.start()
    try:
        while not stopping.is_set():
            batch = await consumer.getmany(timeout_ms=500, max_records=MAX_RECORDS)
            records = [record for part in batch.values() for record in part]
            if not records:
                continue
            if db is not None:
                await db.execute(insert, hop, [r.key for r in records], [r.value for r in records])
            await send_all(producer, [OutgoingRecord(target, r.value, r.key) for r in records])
            await consumer.commit()
    finally:
        await consumer.stop()
        await producer.stop()
        if db is not None:
            await db.close()


# ---- the hops as child processes, and the driver ------------------------------------

class Hops:
    """One process per hop between consecutive ``topics``, for the length of a ``with`` block."""

    def __init__(self, bootstrap: str, topics: Sequence[str], logs_dir: Path, *, dsn: str | None = None,
                 table: str | None = None) -> None:
        self.bootstrap = bootstrap
        self.topics = list(topics)
        self.logs_dir = logs_dir
        self.dsn = dsn
        self.table = table
        self.processes: list[subprocess.Popen[bytes]] = []

    @property
    def pids(self) -> dict[str, int]:
        return {f"hop {n}": process.pid for n, process in enumerate(self.processes, start=1)}

    def __enter__(self) -> Hops:
        for n, (source, target) in enumerate(zip(self.topics, self.topics[1:], strict=False), start=1):
            args = [sys.executable, "-m", "benchmarks.relay", "--bootstrap", self.bootstrap, "--source", source,
                    "--target", target, "--group", f"{source}.hop", "--hop", str(n)]
            if self.dsn and self.table:
                args += ["--dsn", self.dsn, "--table", self.table]
            self.processes.append(child.spawn(args, log_path=self.logs_dir / f"{source}.hop.log", cwd=REPO_ROOT,
                                              env={**os.environ, "PYTHONUNBUFFERED": "1"}))
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        child.terminate_all([(process, signal.SIGTERM) for process in self.processes], timeout=10)


@dataclass(frozen=True)
class RelayRun:
    records: int
    seconds: float  # first send to last arrival
    latencies: list[float]  # sorted, send (or its scheduled moment) -> arrival on the last topic

    @property
    def rate(self) -> float:
        return self.records / self.seconds


def _key(record: ConsumerRecord) -> Hashable:
    key: bytes = record.key  # the driver's own key, a fresh uuid a record
    return key


class Relay:
    """The driver: a producer (the services' settings) to the first topic, ``Arrivals`` on the last."""

    def __init__(self, bootstrap: str, topics: Sequence[str], partitions: int, templates: Sequence[bytes]) -> None:
        self.first = topics[0]
        self.templates = list(templates)
        self._producer = make_producer(bootstrap, client_id="bench-relay-driver")
        self._arrivals = Arrivals(bootstrap, [(topics[-1], partitions)], _key)

    async def __aenter__(self) -> Relay:
        await self._producer.start()
        await self._arrivals.__aenter__()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self._arrivals.__aexit__(exc_type, exc, tb)
        await self._producer.stop()

    async def _send(self, i: int, key: bytes) -> asyncio.Future[object]:
        future: asyncio.Future[object] = await self._producer.send(
            self.first, self.templates[i % len(self.templates)], key=key)
        return future

    async def burst(self, count: int, timeout: float = 300) -> RelayRun:
        """Send ``count`` records as fast as the producer takes them: the sustained rate."""
        sent: dict[Hashable, float] = {}
        futures = []
        for i in range(count):
            key = uuid.uuid4().bytes
            sent[key] = time.monotonic()
            futures.append(await self._send(i, key))
        await asyncio.gather(*futures)
        await self._arrivals.wait_for(sent, timeout)
        first = min(sent.values())
        return RelayRun(count, self._arrivals.last(sent) - first, self._arrivals.latencies(sent))

    async def paced(self, count: int, rate: float, timeout: float = 300) -> RelayRun:
        """Send ``count`` records at ``rate`` a second on a fixed schedule (open loop: a slow
        answer does not delay the next send); latency counts from each record's scheduled moment."""
        sent: dict[Hashable, float] = {}
        futures = []
        start = time.monotonic()
        for i in range(count):
            scheduled = start + i / rate
            if scheduled > time.monotonic():
                await asyncio.sleep(scheduled - time.monotonic())
            key = uuid.uuid4().bytes
            sent[key] = scheduled
            futures.append(await self._send(i, key))
        await asyncio.gather(*futures)
        await self._arrivals.wait_for(sent, timeout)
        return RelayRun(count, self._arrivals.last(sent) - start, self._arrivals.latencies(sent))


def main() -> None:
    parser = argparse.ArgumentParser(description="one hop of the raw relay (started by benchmarks.compare)")
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--source", required=True)
    parser.add_argument("--target", required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--hop", type=int, required=True)
    parser.add_argument("--dsn", help="with --table: one multi-row INSERT per batch")
    parser.add_argument("--table")
    args = parser.parse_args()
    uvloop.run(run_hop(args.bootstrap, args.source, args.target, args.group, args.hop, args.dsn, args.table))


if __name__ == "__main__":
    main()
