"""Samples the broker into a ``TopicOverview``: two reads of the end offsets for the rates,
then every consumer group's committed offsets. Reads only (no group, no commit)."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

from aiokafka import TopicPartition

from shared.events.topics import DEAD_LETTER
from shared.kafka.clients import admin_client, reader
from shared.kafka.overview import TopicOverview, TopicStats, group_lags
from shared.kafka.security import KafkaConnection


async def sample_overview(kafka: KafkaConnection | str, *, interval_s: float = 2.0) -> TopicOverview:
    """Sample the broker ``kafka`` names; raises KafkaUnreachable if it does not answer."""
    bootstrap = str(kafka)
    async with admin_client(kafka) as admin, reader(kafka) as consumer:
        names = sorted(t for t in await admin.list_topics() if not t.startswith("__"))
        described = await admin.describe_topics(names)
        partitions = {d["topic"]: sorted(p["partition"] for p in d["partitions"])
                      for d in described if not d["error_code"]}
        tps = [TopicPartition(t, p) for t in names if t in partitions for p in partitions[t]]

        first = await consumer.end_offsets(tps) if tps else {}
        first_at = time.monotonic()
        elapsed = 0.0
        if interval_s > 0:
            await asyncio.sleep(interval_s)
        end = await consumer.end_offsets(tps) if tps else {}
        if interval_s > 0:
            elapsed = time.monotonic() - first_at  # between the two answers
        beginning = await consumer.beginning_offsets(tps) if tps else {}

        groups = sorted({g[0] for g in await admin.list_consumer_groups()})
        offsets = await asyncio.gather(*(admin.list_consumer_group_offsets(g) for g in groups))
        sampled_at = datetime.now(UTC)

    committed: dict[str, dict[str, dict[int, int]]] = {}  # topic -> group -> partition -> offset
    for group, group_offsets in zip(groups, offsets, strict=True):
        for tp, meta in group_offsets.items():
            if meta.offset >= 0:
                committed.setdefault(tp.topic, {}).setdefault(group, {})[tp.partition] = meta.offset

    stats = []
    for name in names:
        if name not in partitions:
            continue
        ps = partitions[name]
        end_p = {p: end[TopicPartition(name, p)] for p in ps}
        begin_p = {p: beginning[TopicPartition(name, p)] for p in ps}
        total_end = sum(end_p.values())
        rate = None
        if elapsed > 0:
            rate = round((total_end - sum(first[TopicPartition(name, p)] for p in ps)) / elapsed, 3)
        stats.append(TopicStats(
            name=name, partitions=len(ps), end_offsets=total_end,
            messages=sum(end_p[p] - begin_p[p] for p in ps), messages_per_s=rate,
            groups=group_lags(ps, begin_p, end_p, committed.get(name, {})),
        ))
    dead = next((t for t in stats if t.name == DEAD_LETTER.name), None)
    return TopicOverview(bootstrap=bootstrap, sampled_at=sampled_at, interval_s=round(elapsed, 3),
                         topics=stats, consumer_groups=groups,
                         dead_letter_depth=dead.messages if dead else None)
