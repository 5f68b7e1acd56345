"""The operator page's arithmetic: rates between samples and the Kafka summary."""

from __future__ import annotations

from datetime import UTC, datetime

from services.feedback.domain.operations import Sample, kafka_summary, rates
from shared.kafka.overview import GroupLag, PartitionLag, TopicOverview, TopicStats


def test_rates_need_two_samples_and_divide_by_the_elapsed_time():
    first = Sample(10.0, {"a": 100, "b": 7})
    assert rates(None, first) == {"a": None, "b": None}
    second = Sample(14.0, {"a": 110, "b": 7, "c": 3})
    assert rates(first, second) == {"a": 2.5, "b": 0.0, "c": 0.0}  # a new topic has no earlier count
    assert rates(second, second) == {"a": None, "b": None, "c": None}


def test_rates_never_go_negative_when_a_topic_is_recreated():
    assert rates(Sample(0.0, {"a": 50}), Sample(2.0, {"a": 10})) == {"a": 0.0}


def test_kafka_summary_sorts_and_totals_lag_per_group():
    lag = lambda p, c, e: PartitionLag(p, c, e, e - (c or 0))  # noqa: E731
    overview = TopicOverview(
        bootstrap="x", sampled_at=datetime(2026, 1, 1, tzinfo=UTC), interval_s=0, consumer_groups=["g1", "g2"],
        topics=[
            TopicStats("z.topic", 2, 30, 30, None, [GroupLag("g2", 5, [lag(0, 10, 15), lag(1, 15, 15)])]),
            TopicStats("a.topic", 1, 4, 4, None, [GroupLag("g1", 0, [lag(0, 4, 4)])]),
        ],
        dead_letter_depth=None,
    )
    summary = kafka_summary(overview, {"z.topic": 1.5})
    assert [t["topic"] for t in summary["topics"]] == ["a.topic", "z.topic"]
    assert summary["topics"][1] == {"topic": "z.topic", "partitions": 2, "messages": 30, "messages_per_s": 1.5,
                                    "lag": 5}
    assert summary["consumer_lag"] == [{"group": "g1", "topic": "a.topic", "lag": 0},
                                       {"group": "g2", "topic": "z.topic", "lag": 5}]
    assert summary["dead_letters"] == 0  # no dead-letter topic yet: none
