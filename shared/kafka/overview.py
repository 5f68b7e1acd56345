"""What is on the broker: topics, their throughput, every consumer group's lag, dead letters.

Plain dataclasses (``to_dict()`` for JSON) and the pure arithmetic of lags; the sampling
that fills them is ``shared.kafka.sampling.sample_overview``.

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

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

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


