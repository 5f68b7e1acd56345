"""SQL statements per lead and per consumer batch, from each service's Prometheus ``/metrics``.

Every service counts the statements it sends in ``handoff_sql_statements_total``, labelled
by the work that sent them (a consumer group, or "other": HTTP requests and loops such as
the outbox relay), and each polled batch in ``handoff_batch_processing_seconds_count``.
Scraped before and after a run, their differences say how many round trips a lead costs
each service and how many statements one batch of each consumer takes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import httpx
from prometheus_client.parser import text_string_to_metric_families

STATEMENTS = "handoff_sql_statements_total"
BATCHES = "handoff_batch_processing_seconds_count"
CONSUMED = "handoff_events_consumed_total"
WORK_LABELS = ("consumer_group", "work")  # the label naming the work; "work" in an earlier draft of the metric

Counts = dict[tuple[str, str], float]  # (metric, work) -> value


def _work(labels: Mapping[str, str]) -> str:
    return next((labels[name] for name in WORK_LABELS if name in labels), "")


async def scrape(client: httpx.AsyncClient, url: str) -> Counts:
    """The three counters of one service, summed over every label but the work's."""
    response = await client.get(f"{url}/metrics")
    response.raise_for_status()
    counts: Counts = {}
    for family in text_string_to_metric_families(response.text):
        for s in family.samples:
            if s.name in (STATEMENTS, BATCHES, CONSUMED):
                key = (s.name, _work(s.labels))
                counts[key] = counts.get(key, 0.0) + s.value
    return counts


async def scrape_all(urls: Mapping[str, str]) -> dict[str, Counts]:
    async with httpx.AsyncClient(timeout=10) as client:
        return {name: await scrape(client, url) for name, url in urls.items()}


def _delta(before: Counts, after: Counts, metric: str) -> dict[str, float]:
    works = {work for name, work in after if name == metric}
    return {work: after.get((metric, work), 0.0) - before.get((metric, work), 0.0) for work in works}


@dataclass(frozen=True)
class ConsumerFigures:
    service: str
    group: str
    batches: float
    records: float
    statements: float

    @property
    def per_batch(self) -> float:
        return self.statements / self.batches if self.batches else 0.0

    @property
    def records_per_batch(self) -> float:
        return self.records / self.batches if self.batches else 0.0


@dataclass(frozen=True)
class SqlFigures:
    """What one run cost in statements: per service (all its work) and per consumer group."""

    leads: int
    per_service: dict[str, tuple[float, float]]  # service -> (statements by its consumers, by other work)
    consumers: list[ConsumerFigures]

    def per_lead(self, service: str) -> float:
        consumers, other = self.per_service[service]
        return (consumers + other) / self.leads if self.leads else 0.0

    @property
    def worst_consumer(self) -> ConsumerFigures | None:
        busy = [c for c in self.consumers if c.batches]
        return max(busy, key=lambda c: c.per_batch) if busy else None


def figures(before: Mapping[str, Counts], after: Mapping[str, Counts], leads: int) -> SqlFigures:
    per_service: dict[str, tuple[float, float]] = {}
    consumers: list[ConsumerFigures] = []
    for service in after:
        statements = _delta(before[service], after[service], STATEMENTS)
        batches = _delta(before[service], after[service], BATCHES)
        records = _delta(before[service], after[service], CONSUMED)
        other = sum(v for work, v in statements.items() if work not in batches)
        per_service[service] = (sum(statements.values()) - other, other)
        consumers += [ConsumerFigures(service, group, count, records.get(group, 0.0), statements.get(group, 0.0))
                      for group, count in sorted(batches.items()) if count]
    return SqlFigures(leads, per_service, consumers)


def print_figures(sql: SqlFigures) -> None:
    print(f"  SQL statements per lead ({sql.leads} leads; consumers + other work such as HTTP and the outbox relay)")
    for service, (consumers, other) in sql.per_service.items():
        print(f"    {service:10} {sql.per_lead(service):7.2f} per lead   "
              f"(consumers {consumers / sql.leads:6.2f}, other {other / sql.leads:6.2f})")
    print("  SQL statements per batch, by consumer group")
    for c in sql.consumers:
        print(f"    {c.group:36} {c.per_batch:6.2f} per batch   "
              f"({c.batches:.0f} batches, {c.records_per_batch:6.1f} records per batch)")
