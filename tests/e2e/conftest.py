"""Scratch space on the real stack for the runtime tests (consumer loop, relay, rebalances):
a schema of our own with the common tables and an effects log (no unique constraint, so a
record applied twice shows up twice), and a fresh topic whose partitions all have a leader."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import pytest
from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from sqlalchemy import Column, MetaData, Table
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.db.engine import make_engine, make_sessionmaker
from shared.db.metadata import service_metadata
from tests.e2e.support import wait_until


@dataclass
class Scratch:
    name: str  # schema, also the service name, so the group id is handoff.<name>.<spec>
    metadata: MetaData
    effects: Table
    topic: str
    partition_count: int
    sessions: async_sessionmaker[AsyncSession]
    bootstrap: str

    @property
    def partitions(self) -> list[TopicPartition]:
        return [TopicPartition(self.topic, p) for p in range(self.partition_count)]


@pytest.fixture
async def make_scratch(stack) -> AsyncIterator[Callable[[int], Awaitable[Scratch]]]:
    engine = make_engine(stack.database_url)
    made: list[str] = []

    async def make(partitions: int) -> Scratch:
        name = f"itest_{uuid.uuid4().hex[:8]}"
        metadata = service_metadata(name)
        effects = Table("effects", metadata, Column("event_id", UUID(as_uuid=True), nullable=False))
        async with engine.begin() as conn:
            await conn.exec_driver_sql(f'CREATE SCHEMA "{name}"')
            await conn.run_sync(metadata.create_all)
        made.append(name)
        topic = f"{name}.v1"
        admin = AIOKafkaAdminClient(bootstrap_servers=stack.kafka_bootstrap)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)])

            async def every_partition_has_a_leader() -> bool:
                # a member that joins before the broker's metadata shows the new topic is
                # assigned nothing until its next metadata refresh (5 minutes): wait first
                [described] = await admin.describe_topics([topic])
                return described["error_code"] == 0 and len(described["partitions"]) == partitions \
                    and all(p["leader"] >= 0 for p in described["partitions"])
            await wait_until(every_partition_has_a_leader, timeout_s=15)
        finally:
            await admin.close()
        return Scratch(name, metadata, effects, topic, partitions, make_sessionmaker(engine),
                       stack.kafka_bootstrap)

    yield make
    async with engine.begin() as conn:
        for name in made:
            await conn.exec_driver_sql(f'DROP SCHEMA "{name}" CASCADE')
    await engine.dispose()
