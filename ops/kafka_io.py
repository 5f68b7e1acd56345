"""Short-lived Kafka clients for the operator tool, with one clear error when the broker is away.

Every client here reads without a consumer group (``group_id=None``) and never commits,
so looking at a topic never moves a service's offsets.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, TypeVar

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaConnectionError, KafkaError, KafkaTimeoutError

from ops.defaults import BOOTSTRAP_ENV
from ops.errors import UNREACHABLE, OpsError

CLIENT_ID = "handoff-ops"
T = TypeVar("T")
REQUEST_TIMEOUT_MS = 10_000


class KafkaUnreachable(OpsError):
    def __init__(self, bootstrap: str) -> None:
        super().__init__(
            f"cannot reach Kafka at {bootstrap}: start the stack (./handoff up) or point the tool "
            f"at your broker with --bootstrap HOST:PORT or {BOOTSTRAP_ENV}",
            exit_code=UNREACHABLE,
        )


class KafkaFailed(OpsError):
    """The broker answered, with an error (a coordinator still loading, an authorisation error)."""

    def __init__(self, bootstrap: str, error: KafkaError) -> None:
        super().__init__(f"Kafka at {bootstrap} answered with {type(error).__name__}: {error}; try again, "
                         "and see the broker's log if it persists")


CONNECTION_ERRORS = (KafkaConnectionError, KafkaTimeoutError, OSError)


@asynccontextmanager
async def _translated(bootstrap: str, client: T, start: Callable[[], Awaitable[Any]],
                      stop: Callable[[], Awaitable[Any]]) -> AsyncIterator[T]:
    """Start ``client``, yield it, always stop it; Kafka's errors become one clear OpsError."""
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


def admin_client(bootstrap: str) -> AbstractAsyncContextManager[AIOKafkaAdminClient]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id=CLIENT_ID,
                                request_timeout_ms=REQUEST_TIMEOUT_MS)
    return _translated(bootstrap, admin, admin.start, admin.close)


def reader(bootstrap: str) -> AbstractAsyncContextManager[AIOKafkaConsumer]:
    """A consumer with no group: partitions are assigned by hand and nothing is committed."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        client_id=CLIENT_ID,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        request_timeout_ms=REQUEST_TIMEOUT_MS,
        fetch_max_wait_ms=200,
    )
    return _translated(bootstrap, consumer, consumer.start, consumer.stop)


async def partitions_of(bootstrap: str, topic: str) -> list[int]:
    """The topic's partitions, from the broker's metadata; OpsError naming the topics there are if it is missing."""
    async with admin_client(bootstrap) as admin:
        described = await admin.describe_topics([topic])
        found = next((d for d in described if d["topic"] == topic and not d["error_code"]), None)
        if found and found["partitions"]:
            return sorted(p["partition"] for p in found["partitions"])
        known = sorted(t for t in await admin.list_topics() if not t.startswith("__"))
    raise OpsError(f"no topic {topic!r} on {bootstrap} (topics: {', '.join(known) or 'none'})")
