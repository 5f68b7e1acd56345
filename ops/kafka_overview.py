"""What is on the broker: topics, their throughput, every consumer group's lag, dead letters.

``overview`` gathers the data and returns plain dataclasses (``to_dict()`` for JSON);
printing lives in ``ops.formatting``, so a dashboard can call ``overview`` directly.

How the numbers are taken:

- end offsets are sampled twice, ``interval_s`` apart; the difference over the elapsed
  time is the topic's rate in messages per second;
- committed offsets come from the admin client (``list_consumer_group_offsets``), after
  the second sample, so a lag is never negative because of the order of reads;
- lag = end offset - committed offset. A partition a group has never committed on
  counts from the beginning of the partition (our consumers start at "earliest"), and
  a committed offset already deleted by retention counts from the beginning too;
- a group is listed under a topic when it has committed on at least one of its partitions.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiokafka import TopicPartition

from ops.kafka_io import admin_client, reader
from shared.events.topics import DEAD_LETTER


@dataclass(frozen=True)
class PartitionLag:
    partition: int
    committed: int | None  # None: the group never committed on this partition
    end_offset: int
    lag: int


@dataclass(frozen=True)
class GroupLag:
    group: str
    lag: int
    partitions: list[PartitionLag]


@dataclass(frozen=True)
class TopicStats:
    name: str
    partitions: int
    end_offsets: int  # sum over partitions: every message ever written
    messages: int  # sum of end - beginning: messages still retained
    messages_per_s: float | None  # None when sampled only once (interval 0)
    groups: list[GroupLag] = field(default_factory=list)

    @property
    def lag(self) -> int:
        return sum(g.lag for g in self.groups)


@dataclass(frozen=True)
class TopicOverview:
    bootstrap: str
    sampled_at: datetime
    interval_s: float
    topics: list[TopicStats]
    consumer_groups: list[str]
    dead_letter_topic: str = DEAD_LETTER.name
    dead_letter_depth: int | None = None  # None: the dead-letter topic does not exist

    def topic(self, name: str) -> TopicStats | None:
        return next((t for t in self.topics if t.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["sampled_at"] = self.sampled_at.isoformat()
        for topic, stats in zip(data["topics"], self.topics, strict=True):
            topic["lag"] = stats.lag
        return data


def group_lags(partitions: list[int], beginning: dict[int, int], end: dict[int, int],
               committed_by_group: dict[str, dict[int, int]]) -> list[GroupLag]:
    """Lag per group and partition of one topic (pure: offsets in, lags out)."""
    groups = []
    for group, committed in sorted(committed_by_group.items()):
        if not committed:
            continue
        rows = []
        for p in partitions:
            mark = committed.get(p)
            start = beginning.get(p, 0) if mark is None else max(mark, beginning.get(p, 0))
            rows.append(PartitionLag(p, mark, end.get(p, 0), max(end.get(p, 0) - start, 0)))
        groups.append(GroupLag(group, sum(r.lag for r in rows), rows))
    return groups


async def overview(bootstrap: str, *, interval_s: float = 2.0) -> TopicOverview:
    """Sample the broker at ``bootstrap``; raises ops.kafka_io.KafkaUnreachable if it does not answer."""
    async with admin_client(bootstrap) as admin, reader(bootstrap) as consumer:
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
