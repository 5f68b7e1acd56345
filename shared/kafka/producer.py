"""The one way events leave a service: acks from every in-sync replica, idempotent.

Also what Kafka's answers mean for a record: taken, refused for good (this record, as it
is, will never be taken: too large, an invalid or forbidden topic), or not now (the broker
is away, a leader is moving, the topic does not exist yet). Only the first two end a
record's journey; the outbox relay retries the third without end.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import (
    CorruptRecordException,
    InvalidProducerEpoch,
    InvalidTimestampError,
    InvalidTopicError,
    MessageSizeTooLargeError,
    OutOfOrderSequenceNumber,
    PolicyViolationError,
    ProducerClosed,
    ProducerFenced,
    RecordListTooLargeError,
    TopicAuthorizationFailedError,
    UnknownProducerId,
    UnsupportedForMessageFormatError,
)
from aiokafka.record.default_records import DefaultRecordBatchBuilder

from shared.kafka.security import KafkaConnection, kafka_connection

log = logging.getLogger(__name__)

# The largest record the producer sends (aiokafka's max_request_size, which it checks each
# record against before queueing it). Kafka's default broker limit (message.max.bytes,
# 1048588) is a batch's size; a batch of this one record fits it.
MAX_RECORD_BYTES = 1_048_576

# Kafka's answers that are about the record or its topic, never about the moment: sending
# the same record again gets the same answer. Everything else (retriable errors, timeouts,
# lost connections, the producer's own state) is "not now".
REFUSED_FOR_GOOD: tuple[type[Exception], ...] = (
    MessageSizeTooLargeError,  # larger than max_request_size, message.max.bytes or the topic's max.message.bytes
    RecordListTooLargeError,
    CorruptRecordException,  # also "exceeds the valid size"
    InvalidTopicError,
    TopicAuthorizationFailedError,
    InvalidTimestampError,
    UnsupportedForMessageFormatError,
    PolicyViolationError,
)
# The broker no longer agrees with the producer's idempotence state (its producer id or its
# sequence numbers): the records are innocent, the producer must be replaced. aiokafka keeps
# counting sequence numbers past a batch the broker refused, so after a refusal every later
# batch on that partition gets OUT_OF_ORDER_SEQUENCE_NUMBER from the same producer.
PRODUCER_STATE_LOST: tuple[type[Exception], ...] = (
    OutOfOrderSequenceNumber,
    UnknownProducerId,
    InvalidProducerEpoch,
    ProducerFenced,
)


@dataclass(frozen=True)
class OutgoingRecord:
    topic: str
    value: bytes
    key: bytes | None = None
    headers: Sequence[tuple[str, bytes]] = field(default_factory=tuple)


def kafka_headers(headers: Mapping[str, object]) -> tuple[tuple[str, bytes], ...]:
    """The outbox keeps headers as a JSON object; Kafka wants (name, bytes) pairs."""
    return tuple((name, str(value).encode()) for name, value in headers.items())


def record_size(topic: str, key: bytes | None, value: bytes,
                headers: Sequence[tuple[str, bytes]] | Mapping[str, object] = ()) -> int:
    """The size aiokafka compares with ``max_request_size`` (``MAX_RECORD_BYTES``) for this record.

    It is aiokafka's own upper-bound estimate (``DefaultRecordBatchBuilder.estimate_size_in_bytes``:
    a batch header, the largest record overhead, key, value and headers), so a record with
    ``record_size(...) <= MAX_RECORD_BYTES`` passes the producer's check. The topic is not part
    of it (a produce request names the topic once per batch); it is taken so callers pass the
    whole record. Headers may be the outbox's JSON object or Kafka's pairs.
    """
    pairs = kafka_headers(headers) if isinstance(headers, Mapping) else list(headers)
    return int(DefaultRecordBatchBuilder.estimate_size_in_bytes(key, value, list(pairs)))


def refused_for_good(error: BaseException) -> bool:
    """True if Kafka (or the producer, before sending) will never take this record as it is."""
    return isinstance(error, REFUSED_FOR_GOOD)


def producer_state_lost(error: BaseException) -> bool:
    return isinstance(error, PRODUCER_STATE_LOST)


class Producer(AIOKafkaProducer):  # type: ignore[misc]  # aiokafka ships no type information
    """aiokafka's producer with Handoff's settings, able to make a fresh copy of itself."""

    def __init__(self, kafka: KafkaConnection | str, *, client_id: str) -> None:
        self.connection = kafka_connection(kafka)
        self.bootstrap_servers = self.connection.bootstrap_servers
        self.client_id = client_id
        super().__init__(
            **self.connection.client_kwargs(),
            client_id=client_id,
            acks="all",
            enable_idempotence=True,
            linger_ms=5,
            request_timeout_ms=15000,
            max_request_size=MAX_RECORD_BYTES,
        )

    def renewed(self) -> Producer:
        """A new, unstarted producer with the same settings: a new producer id, so its
        sequence numbers start again (the way out of PRODUCER_STATE_LOST)."""
        return Producer(self.connection, client_id=self.client_id)


def make_producer(kafka: KafkaConnection | str, *, client_id: str) -> Producer:
    return Producer(kafka, client_id=client_id)


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


@dataclass(frozen=True)
class Delivery:
    """What became of one record: acknowledged (``error`` None), or Kafka's answer."""

    error: BaseException | None = None
    before_sending: bool = False  # refused by the producer's own checks: nothing reached the broker

    @property
    def acked(self) -> bool:
        return self.error is None

    @property
    def refused(self) -> bool:
        """Refused for good: by the producer (this record alone), or by the broker (this record,
        or its whole producer batch: the broker answers per batch)."""
        return self.error is not None and refused_for_good(self.error)

    @property
    def producer_state_lost(self) -> bool:
        return self.error is not None and producer_state_lost(self.error)


def _forget(future: asyncio.Future[object]) -> None:
    """A future we stopped waiting for may still fail later: retrieve it, so asyncio does not warn."""
    future.add_done_callback(lambda f: f.cancelled() or f.exception())


async def send_each(producer: AIOKafkaProducer, records: Sequence[OutgoingRecord], *,
                    timeout_s: float) -> list[Delivery]:
    """Queue every record, wait for every answer, and say what became of each one.

    A record the producer refuses before queueing it (``send()`` raises, e.g. larger than
    ``max_request_size``) is refused on its own and the others are still queued. ``send()``
    raising "not now" (no metadata for the topic, a full buffer) and no answer for every
    record within ``timeout_s`` are raised. aiokafka retries an idempotent batch without
    end, hence the deadline; what it still sends afterwards is sent again by the caller and
    absorbed by the consumers' dedupe.
    """
    pending: list[asyncio.Future[object] | Delivery] = []
    try:
        async with asyncio.timeout(timeout_s):
            for r in records:
                try:
                    pending.append(await producer.send(r.topic, r.value, key=r.key,
                                                       headers=list(r.headers) or None))
                except Exception as exc:
                    if not refused_for_good(exc):
                        raise
                    pending.append(Delivery(exc, before_sending=True))
            await asyncio.gather(*(p for p in pending if isinstance(p, asyncio.Future)), return_exceptions=True)
    except BaseException:
        for p in pending:
            if isinstance(p, asyncio.Future):
                _forget(p)
        raise
    # a message future is cancelled only when its producer stops: "not now", never our task's cancellation
    return [p if isinstance(p, Delivery) else Delivery(ProducerClosed() if p.cancelled() else p.exception())
            for p in pending]


async def broker_record_limit(kafka: KafkaConnection | str, *, timeout_s: float = 5.0) -> int | None:
    """The smallest ``message.max.bytes`` of the cluster's brokers; None if a broker does not say."""
    admin = AIOKafkaAdminClient(**kafka_connection(kafka).client_kwargs(), client_id="handoff-limits",
                                request_timeout_ms=int(timeout_s * 1000))
    try:
        async with asyncio.timeout(timeout_s):
            await admin.start()
            brokers = (await admin.describe_cluster())["brokers"]
            answers = await admin.describe_configs([
                ConfigResource(ConfigResourceType.BROKER, str(b["node_id"]), {"message.max.bytes": None})
                for b in brokers
            ])
    finally:
        await admin.close()
    limits = [
        int(entry["config_value"])
        for answer in answers
        for resource in answer.to_object()["resources"]
        for entry in resource["config_entries"]
        if entry["config_names"] == "message.max.bytes" and entry["config_value"] is not None
    ]
    return min(limits) if limits else None


def limit_warning(broker_limit: int | None, producer_limit: int = MAX_RECORD_BYTES) -> str | None:
    """What to tell the operator when the broker takes less than the producer sends."""
    if broker_limit is None or broker_limit >= producer_limit:
        return None
    return (f"the broker's message.max.bytes ({broker_limit}) is smaller than the producer's "
            f"max_request_size ({producer_limit}): records between the two are refused by the "
            "broker and set aside in outbox_refused; raise message.max.bytes or lower MAX_RECORD_BYTES")


async def broker_answers(producer: AIOKafkaProducer) -> bool:
    """A real metadata round trip, not the cached view."""
    await producer.client.fetch_all_metadata()
    return True
