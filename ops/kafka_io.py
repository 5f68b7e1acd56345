"""The operator tool's Kafka clients: ``shared.kafka.clients`` (no consumer group, nothing
committed), and the broker's errors said the operator's way, with what to do about them."""

from __future__ import annotations

from ops.defaults import BOOTSTRAP_ENV, KAFKA_ENV_PREFIX
from ops.errors import UNREACHABLE, OpsError
from shared.kafka.clients import (
    CONNECTION_ERRORS,
    KafkaFailed,
    KafkaUnreachable,
    admin_client,
    reader,
)
from shared.kafka.security import KafkaConnection

CLIENT_ID = "handoff-ops"

__all__ = ["CLIENT_ID", "CONNECTION_ERRORS", "KafkaUnreachable", "admin_client", "as_ops_error",
           "partitions_of", "reader"]


def as_ops_error(error: KafkaUnreachable | KafkaFailed) -> OpsError:
    if isinstance(error, KafkaUnreachable):
        return OpsError(f"cannot reach Kafka at {error.bootstrap}: start the stack (./handoff up) or point the "
                        f"tool at your broker with --bootstrap HOST:PORT or {BOOTSTRAP_ENV} (a broker that wants TLS "
                        f"or SASL: {KAFKA_ENV_PREFIX}SECURITY_PROTOCOL and the others, docs/architecture.md)",
                        exit_code=UNREACHABLE)
    return OpsError(f"{error}; try again, and see the broker's log if it persists")


async def partitions_of(bootstrap: KafkaConnection | str, topic: str) -> list[int]:
    """The topic's partitions, from the broker's metadata; OpsError naming the topics there are if it is missing."""
    async with admin_client(bootstrap, CLIENT_ID) as admin:
        described = await admin.describe_topics([topic])
        found = next((d for d in described if d["topic"] == topic and not d["error_code"]), None)
        if found and found["partitions"]:
            return sorted(p["partition"] for p in found["partitions"])
        known = sorted(t for t in await admin.list_topics() if not t.startswith("__"))
    raise OpsError(f"no topic {topic!r} on {bootstrap} (topics: {', '.join(known) or 'none'})")
