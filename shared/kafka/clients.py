"""Short-lived Kafka clients that look without touching anything: an admin client and a
reader with no consumer group (partitions assigned by hand, nothing committed), so
looking at a topic never moves a service's offsets. A broker that does not answer is
one error, ``KafkaUnreachable``, whoever looks (the operator page, the operator tool)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, TypeVar

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaConnectionError, KafkaError, KafkaTimeoutError

from shared.kafka.security import KafkaConnection, kafka_connection

CLIENT_ID = "handoff-inspect"
REQUEST_TIMEOUT_MS = 10_000
CONNECTION_ERRORS = (KafkaConnectionError, KafkaTimeoutError, OSError)
T = TypeVar("T")


class KafkaUnreachable(Exception):
    """The broker at ``bootstrap`` did not answer."""

    def __init__(self, bootstrap: str) -> None:
        super().__init__(f"cannot reach Kafka at {bootstrap}")
        self.bootstrap = bootstrap


class KafkaFailed(Exception):
    """The broker answered, with an error (a coordinator still loading, an authorisation error)."""

    def __init__(self, bootstrap: str, error: KafkaError) -> None:
        super().__init__(f"Kafka at {bootstrap} answered with {type(error).__name__}: {error}")
        self.bootstrap = bootstrap
        self.error = error


@asynccontextmanager
async def _translated(bootstrap: str, client: T, start: Callable[[], Awaitable[Any]],
                      stop: Callable[[], Awaitable[Any]]) -> AsyncIterator[T]:
    """Start ``client``, yield it, always stop it; Kafka's errors become the two above."""
    try:
        await start()
    except (*CONNECTION_ERRORS, KafkaError) as exc:
        await stop()
        raise KafkaUnreachable(bootstrap) from exc
    try:
        yield client
    except CONNECTION_ERRORS as exc:
        raise KafkaUnreachable(bootstrap) from exc
    except KafkaError as exc:
        raise KafkaFailed(bootstrap, exc) from exc
    finally:
        await stop()


def admin_client(kafka: KafkaConnection | str,
                 client_id: str = CLIENT_ID) -> AbstractAsyncContextManager[AIOKafkaAdminClient]:
    connection = kafka_connection(kafka)
    admin = AIOKafkaAdminClient(**connection.client_kwargs(), client_id=client_id,
                                request_timeout_ms=REQUEST_TIMEOUT_MS)
    return _translated(str(connection), admin, admin.start, admin.close)


def reader(kafka: KafkaConnection | str, client_id: str = CLIENT_ID) -> AbstractAsyncContextManager[AIOKafkaConsumer]:
    """A consumer with no group: partitions are assigned by hand and nothing is committed."""
    connection = kafka_connection(kafka)
    consumer = AIOKafkaConsumer(
        **connection.client_kwargs(),
        client_id=client_id,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        request_timeout_ms=REQUEST_TIMEOUT_MS,
        fetch_max_wait_ms=200,
    )
    return _translated(str(connection), consumer, consumer.start, consumer.stop)
