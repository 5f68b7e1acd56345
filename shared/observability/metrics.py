"""Every Prometheus metric Handoff exposes, in one place, so names and labels stay fixed.

The names are a contract: the Grafana dashboard and the Prometheus rules are written
against them. Each service is its own process and uses the default registry, which
``GET /metrics`` renders (``shared/service/app.py``). Units are seconds; counters end
in ``_total``. Labels are bounded: topics, consumer groups, partitions, stages, SLA
actions, intake sources, web forms (declared ones only), HTTP method/route template/status;
never lead ids or raw paths.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar

from prometheus_client import Counter, Gauge, Histogram
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

# ---- Kafka consumers (shared/kafka/consumer.py) -------------------------------------

EVENTS_CONSUMED = Counter(
    "handoff_events_consumed_total",
    "Records a consumer took from Kafka and finished with (applied, skipped as duplicates "
    "or dead-lettered): the consumer's throughput.",
    ["topic", "consumer_group"],
)

BATCH_PROCESSING = Histogram(
    "handoff_batch_processing_seconds",
    "Wall time to handle one polled batch: decode, database transaction (with any replay "
    "and retries), dead letters and the offset commit.",
    ["consumer_group"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)

EVENT_PROCESSING = Histogram(
    "handoff_event_processing_seconds",
    "Processing time per event, estimated as the batch's wall time divided by its record "
    "count and observed once per record (handlers work on whole batches).",
    ["consumer_group"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)

CONSUMER_LAG = Gauge(
    "handoff_consumer_lag",
    "Records not yet committed by the group on a partition assigned to this process: end "
    "offset minus committed offset (minus the beginning offset while nothing was committed).",
    ["consumer_group", "topic", "partition"],
)

DEAD_LETTERS = Counter(
    "handoff_dead_letters_total",
    "Records sent to the dead-letter topic, by the topic they came from.",
    ["topic", "consumer_group"],
)

LOOP_RESTARTS = Counter(
    "handoff_loop_restarts_total",
    "Background loops (consumers, the outbox relay, clocks) that failed and were started again "
    "(shared/service/supervision.py); a rising count means a dependency keeps breaking them.",
    ["loop"],
)

# ---- Producing (shared/outbox/relay.py, and dead letters) ---------------------------

EVENTS_PRODUCED = Counter(
    "handoff_events_produced_total",
    "Records Kafka acknowledged (acks=all): outbox rows relayed, and dead letters. A relay "
    "that fails after the acks sends its rows again, and they are counted again.",
    ["topic"],
)

RESCORE_SWEEP_REMAINING = Gauge(
    "handoff_rescore_sweep_remaining",
    "Leads not yet re-scored under the lead definition in force (scoring's sweep after a "
    "publication or a rollback); 0 when the sweep has finished.",
)

OUTBOX_BACKLOG = Gauge(
    "handoff_outbox_backlog",
    "Rows waiting in this service's outbox, refreshed by the metrics loop.",
)

OUTBOX_REFUSED = Counter(
    "handoff_outbox_refused_total",
    "Outbox rows Kafka refused for good (too large, invalid or forbidden topic), moved to "
    "outbox_refused by the relay so the rows behind them flow on; counted once committed.",
    ["topic"],
)

OUTBOX_REFUSED_ROWS = Gauge(
    "handoff_outbox_refused_rows",
    "Rows in this service's outbox_refused, waiting for an operator to replay or discard them; "
    "refreshed with the outbox backlog.",
)

# ---- SQL (shared/db/engine.py) -------------------------------------------------------

SQL_STATEMENTS = Counter(
    "handoff_sql_statements_total",
    "SQL statements this process sent to PostgreSQL (an executemany counts once per parameter "
    "set; BEGIN and COMMIT are not counted), by the work that sent them: a consumer group, or "
    "\"other\" (HTTP requests, loops). Divided by handoff_batch_processing_seconds_count it is "
    "the statements per batch of each consumer.",
    ["consumer_group"],
)
OTHER_WORK = "other"
_sql_work: ContextVar[str] = ContextVar("handoff_sql_work", default=OTHER_WORK)


@contextmanager
def sql_work(name: str) -> Iterator[None]:
    """Statements sent inside this block count under ``name`` (a consumer group)."""
    token = _sql_work.set(name)
    try:
        yield
    finally:
        _sql_work.reset(token)


def count_sql_statement(conn: object, cursor: object, statement: str, parameters: object, context: object,
                        executemany: bool) -> None:
    """An SQLAlchemy ``before_cursor_execute`` listener (``shared.db.engine.make_engine``)."""
    n = len(parameters) if executemany and isinstance(parameters, list | tuple) else 1
    SQL_STATEMENTS.labels(_sql_work.get()).inc(n)


# ---- Pipeline latency (services/feedback/handlers.py) -------------------------------

STAGE_LATENCY = Histogram(
    "handoff_stage_latency_seconds",
    "Time between a lead's pipeline events, from their occurred_at stamps, following the "
    "causation chain (captured -> the scored it caused -> the routed that caused). Measured "
    "by feedback after the transaction recording the later event committed.",
    ["stage"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60),
)
STAGES = ("captured_to_scored", "scored_to_routed", "captured_to_routed")

# ---- HTTP (shared/service/http_metrics.py) ------------------------------------------

HTTP_REQUESTS = Counter(
    "handoff_http_requests_total",
    "HTTP requests answered, by route template (not the raw path); 'unmatched' when no "
    "route matched. /metrics itself is not counted.",
    ["method", "route", "status"],
)

HTTP_REQUEST_DURATION = Histogram(
    "handoff_http_request_duration_seconds",
    "Time from receiving an HTTP request to the end of its response.",
    ["method", "route"],
)

# ---- Business events ----------------------------------------------------------------

SLA_BREACHES = Counter(
    "handoff_sla_breaches_total",
    "SLA deadlines that passed, by what the routing clock did about it.",
    ["action"],
)

LEADS_CAPTURED = Counter(
    "handoff_leads_captured_total",
    "New leads accepted by intake (committed), by source; idempotent replays are not counted.",
    ["source"],
)

RATE_LIMITED = Counter(
    "handoff_rate_limited_total",
    "Requests intake refused with 429, by source and by the limit they passed (source or address).",
    ["source", "limit"],
)

FORM_SPAM = Counter(
    "handoff_form_spam_total",
    "Web form posts taken for a bot (thanked, not stored), by form and by the check that caught "
    "them: honeypot, no_render_time, too_fast.",
    ["form", "reason"],
)

FORM_IGNORED_FIELDS = Counter(
    "handoff_form_ignored_fields_total",
    "Fields web form posts sent that forms.yaml does not declare (ignored; the post is taken), by form.",
    ["form"],
)


# ---- helpers ------------------------------------------------------------------------

def partition_lag(end: int, committed: int | None, beginning: int = 0) -> int:
    """Records the group still has to read on one partition.

    ``committed`` is None while the group never committed there (aiokafka's ``committed()``);
    the group then starts at the beginning offset (``auto_offset_reset="earliest"``).
    Never negative: a committed offset read after a newer end offset is not a debt.
    """
    start = beginning if committed is None else committed
    return max(0, end - start)


class LagSeries:
    """The lag series of one consumer group in this process: set the assigned partitions,
    drop the series of partitions that are no longer assigned."""

    def __init__(self, group: str, gauge: Gauge = CONSUMER_LAG) -> None:
        self._group = group
        self._gauge = gauge
        self._shown: set[tuple[str, str]] = set()

    def update(self, lags: Mapping[tuple[str, int], int]) -> None:
        now = {(topic, str(partition)): lag for (topic, partition), lag in lags.items()}
        for topic, partition in self._shown - now.keys():
            self._gauge.remove(self._group, topic, partition)
        for (topic, partition), lag in now.items():
            self._gauge.labels(self._group, topic, partition).set(lag)
        self._shown = set(now)

    def clear(self) -> None:
        self.update({})


def count_by_topic(counter: Counter, topics: Iterable[str], *labels: str) -> None:
    """One ``inc`` per distinct topic rather than per record. Never raises: it is called
    inside the relay's transaction and the consumer loop, which metrics must not break."""
    try:
        counts: dict[str, int] = {}
        for topic in topics:
            counts[topic] = counts.get(topic, 0) + 1
        for topic, n in counts.items():
            counter.labels(topic, *labels).inc(n)
    except Exception:
        log.warning("could not count %s", counter, exc_info=True)


def after_commit(session: AsyncSession, action: Callable[[], None]) -> None:
    """Run ``action`` once the session's outermost transaction committed; never if it rolls back.

    Metrics observed this way count committed work only: a batch that fails and is replayed
    record by record is not counted twice. ``action`` must not raise into the commit, so its
    errors are logged and swallowed.
    """
    sync = session.sync_session
    done = False

    def fire(committed_session: Session) -> None:
        nonlocal done
        if done or committed_session.in_nested_transaction():
            return  # a savepoint was released; the real commit is still to come
        done = True
        try:
            action()
        except Exception:  # metrics never break processing
            log.warning("observing metrics after commit failed", exc_info=True)

    event.listen(sync, "after_commit", fire)
