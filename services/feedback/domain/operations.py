"""The operator page's arithmetic: topic rates between two samples of the end offsets, and
the summaries the page shows (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from services.feedback.domain.reports import Figures
from shared.kafka.overview import TopicOverview


@dataclass(frozen=True)
class Sample:
    at: float  # monotonic
    end_offsets: dict[str, int]


def rates(previous: Sample | None, current: Sample) -> dict[str, float | None]:
    """Messages per second per topic between two samples; None without an earlier one."""
    if previous is None or current.at <= previous.at:
        return {topic: None for topic in current.end_offsets}
    elapsed = current.at - previous.at
    return {topic: round(max(0, end - previous.end_offsets.get(topic, end)) / elapsed, 2)
            for topic, end in current.end_offsets.items()}


def funnel_summary(figures: Figures) -> dict[str, int]:
    return {"leads": figures.leads, "mqls": figures.mqls, "routed": figures.time_to_assigned.count,
            "accepted": figures.accepted, "rejected": figures.rejected, "recycled": figures.recycled,
            "won": figures.won}


def kafka_summary(sampled: TopicOverview, topic_rates: dict[str, float | None]) -> dict[str, Any]:
    topics, lags = [], []
    for stats in sorted(sampled.topics, key=lambda t: t.name):
        topics.append({"topic": stats.name, "partitions": stats.partitions, "messages": stats.end_offsets,
                       "messages_per_s": topic_rates.get(stats.name), "lag": stats.lag})
        lags += [{"group": g.group, "topic": stats.name, "lag": g.lag} for g in stats.groups]
    lags.sort(key=lambda row: (row["group"], row["topic"]))
    return {"topics": topics, "consumer_lag": lags, "dead_letters": sampled.dead_letter_depth or 0}
