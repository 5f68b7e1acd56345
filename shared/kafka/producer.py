"""The one way events leave a service: acks from every in-sync replica, idempotent."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from aiokafka import AIOKafkaProducer


@dataclass(frozen=True)
class OutgoingRecord:
    topic: str
    value: bytes
    key: bytes | None = None
    headers: Sequence[tuple[str, bytes]] = field(default_factory=tuple)


def make_producer(bootstrap_servers: str, *, client_id: str) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers,
        client_id=client_id,
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        request_timeout_ms=15000,
    )


async def send_all(producer: AIOKafkaProducer, records: Iterable[OutgoingRecord]) -> int:
    """Queue every record, then wait for all acks: batching without losing the guarantee.

    Raises if any record was not acknowledged; the caller must then not treat any
    of them as sent (they will be sent again, and consumers dedupe).
    """
    futures = [
        await producer.send(r.topic, r.value, key=r.key, headers=list(r.headers) or None)
        for r in records
    ]
    if futures:
        await asyncio.gather(*futures)
    return len(futures)


async def broker_answers(producer: AIOKafkaProducer) -> bool:
    """A real metadata round trip, not the cached view."""
    await producer.client.fetch_all_metadata()
    return True
