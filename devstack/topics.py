"""Create the project's topics up front, because the broker does not auto-create them.

auto.create.topics.enable=false keeps a typo in a topic name from silently creating
a new, unread topic; the price is this explicit step.
"""

from __future__ import annotations

import asyncio
import time

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError, for_code

from devstack.errors import DevstackError
from shared.kafka.security import KafkaConnection, kafka_connection


async def ensure_topics(kafka: KafkaConnection | str, timeout: float = 15.0) -> list[str]:
    """Create every topic in shared.events.topics.ALL_TOPICS that is missing; return their names.

    Returns once the broker lists them all: the controller acknowledges a creation a
    moment before the broker's metadata shows it.
    """
    from shared.events.topics import ALL_TOPICS

    admin = AIOKafkaAdminClient(**kafka_connection(kafka).client_kwargs())
    await admin.start()
    try:
        response = await admin.create_topics(
            [
                NewTopic(topic.name, num_partitions=topic.partitions, replication_factor=1)
                for topic in ALL_TOPICS
            ]
        )
        for name, error_code, *rest in response.topic_errors:
            if error_code and for_code(error_code) is not TopicAlreadyExistsError:
                message = rest[0] if rest else ""
                raise DevstackError(
                    f"creating topic {name} failed: {for_code(error_code).__name__} {message or ''}"
                )
        deadline = time.monotonic() + timeout
        while True:
            existing = set(await admin.list_topics())
            missing = [topic.name for topic in ALL_TOPICS if topic.name not in existing]
            if not missing:
                return [topic.name for topic in ALL_TOPICS]
            if time.monotonic() > deadline:
                raise DevstackError(
                    f"topics still missing {timeout:.0f} s after creation: {', '.join(missing)}"
                )
            await asyncio.sleep(0.1)
    finally:
        await admin.close()
