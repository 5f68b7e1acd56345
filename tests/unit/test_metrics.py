"""The pure parts of the metrics: route templates, lag arithmetic, lag series, stage
latencies, after-commit observation, and what the consumer and the HTTP middleware count."""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import httpx
import pytest
from fastapi import APIRouter, FastAPI, HTTPException
from prometheus_client import REGISTRY, CollectorRegistry, Gauge
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import MetaData, create_engine, text
from sqlalchemy.orm import Session

from services.feedback.domain.latency import stage_latencies
from services.routing.use_cases.sla_clock import SLA_ACTIONS, count_breaches
from shared.events.envelope import Envelope
from shared.events.topics import DEAD_LETTER
from shared.kafka.consumer import ConsumerSpec, EventConsumer
from shared.kafka.dead_letters import dead_letter_for
from shared.observability.metrics import LagSeries, after_commit, partition_lag
from shared.service.app import build_app
from shared.service.http_metrics import UNMATCHED, HttpMetricsMiddleware, route_template
from shared.settings import ServiceSettings


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


# ---- route templates -----------------------------------------------------------------

def _routes_app() -> FastAPI:
    app = FastAPI()
    router = APIRouter()

    @router.get("/leads/{lead_id}/timeline")
    async def timeline(lead_id: str) -> dict:
        return {"lead_id": lead_id}

    @router.post("/leads")
    async def post_lead() -> dict:
        return {}

    @router.get("/boom")
    async def boom() -> dict:
        raise RuntimeError("handler bug")

    @router.get("/teapot")
    async def teapot() -> dict:
        raise HTTPException(418, "short and stout")

    versioned = APIRouter()

    @versioned.get("/owners/{owner_id:int}")
    async def owner(owner_id: int) -> dict:
        return {}

    @app.get("/healthz")
    async def healthz() -> dict:
        return {}

    app.include_router(router)
    app.include_router(versioned, prefix="/v2")
    app.add_middleware(HttpMetricsMiddleware)
    return app


APP = _routes_app()


def client(app: FastAPI) -> httpx.AsyncClient:
    """In-process, no lifespan; an exception of the app becomes the 500 the server sends."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
                             base_url="http://unit")


@pytest.mark.parametrize(("method", "path", "status", "route"), [
    ("GET", "/leads/9b1c/timeline", 200, "/leads/{lead_id}/timeline"),
    ("POST", "/leads", 200, "/leads"),
    ("GET", "/leads", 405, "/leads"),                        # the path exists for POST only
    ("GET", "/healthz", 200, "/healthz"),                    # a route of the app itself
    ("GET", "/v2/owners/42", 200, "/v2/owners/{owner_id}"),  # included with a prefix; no converter
    ("GET", "/v2/owners/0042", 200, "/v2/owners/{owner_id}"),
    ("GET", "/v2/owners/not-a-number", 404, "unmatched"),    # the converter refuses it: no route
    ("GET", "/leads/9b1c/timeline/extra", 404, "unmatched"),
    ("GET", "/wp-login.php", 404, "unmatched"),
    ("GET", "/docs", 200, "/docs"),                          # plain Starlette routes FastAPI adds
    ("GET", "/openapi.json", 200, "/openapi.json"),
    ("GET", "/boom", 500, "/boom"),                          # the handler raised: the server says 500
    ("GET", "/teapot", 418, "/teapot"),
    ("BREW", "/leads", 405, "/leads"),                       # unknown methods share one label
])
async def test_requests_are_counted_by_route_template_never_the_raw_path(method, path, status, route):
    label = "other" if method == "BREW" else method
    count = {"method": label, "route": route, "status": str(status)}
    before = value("handoff_http_requests_total", **count)
    timed = value("handoff_http_request_duration_seconds_count", method=label, route=route)

    async with client(APP) as http:
        assert (await http.request(method, path)).status_code == status

    assert value("handoff_http_requests_total", **count) - before == 1
    assert value("handoff_http_request_duration_seconds_count", method=label, route=route) - timed == 1
    assert REGISTRY.get_sample_value("handoff_http_requests_total",
                                     {"method": label, "route": path, "status": str(status)}) is None \
        or path == route


def test_route_template_without_a_recorded_route_and_no_app_is_unmatched():
    assert route_template({"type": "http", "path": "/x", "method": "GET"}) == UNMATCHED


@pytest.fixture
def keep_logging():
    """build_app configures the root logger for a service; give the test run its own back."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


async def test_every_service_app_serves_metrics_in_prometheus_text_format_and_does_not_count_them(keep_logging):
    def no_runtime(app):
        raise AssertionError("the lifespan does not run in this test")

    app = build_app("unit", ServiceSettings(), MetaData(), no_runtime, title="unit", description="unit", routers=[])
    async with client(app) as http:
        await http.get("/healthz")
        first = await http.get("/metrics")
        second = await http.get("/metrics")
        openmetrics = await http.get("/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})

    assert first.status_code == 200
    assert first.headers["content-type"].startswith("text/plain; version=0.0.4")  # what every Prometheus reads
    assert openmetrics.headers["content-type"].startswith("application/openmetrics-text")
    assert openmetrics.text.endswith("# EOF\n")
    families = {f.name: f for f in text_string_to_metric_families(second.text)}
    for name in ("handoff_events_consumed", "handoff_events_produced", "handoff_batch_processing_seconds",
                 "handoff_event_processing_seconds", "handoff_stage_latency_seconds", "handoff_consumer_lag",
                 "handoff_dead_letters", "handoff_outbox_backlog", "handoff_http_requests",
                 "handoff_http_request_duration_seconds", "handoff_sla_breaches", "handoff_leads_captured"):
        assert name in families, name
    requests = families["handoff_http_requests"].samples
    assert any(s.labels["route"] == "/healthz" and s.labels["status"] == "200" for s in requests)
    assert not any(s.labels["route"] == "/metrics" for s in requests)


# ---- consumer lag ----------------------------------------------------------------------

@pytest.mark.parametrize(("end", "committed", "beginning", "lag"), [
    (120, 100, 0, 20),
    (120, 120, 0, 0),
    (120, None, 0, 120),     # never committed: everything from the beginning is still to read
    (120, None, 90, 30),     # ... and retention already removed the first 90
    (0, None, 0, 0),         # an empty partition is no debt
    (100, 105, 0, 0),        # a commit read after an older end offset is not negative lag
])
def test_partition_lag(end, committed, beginning, lag):
    assert partition_lag(end, committed, beginning) == lag


def test_lag_series_drop_partitions_no_longer_assigned():
    registry = CollectorRegistry()
    gauge = Gauge("lag", "test", ["consumer_group", "topic", "partition"], registry=registry)
    series = LagSeries("g", gauge)

    series.update({("t", 0): 5, ("t", 1): 0, ("u", 3): 7})
    assert registry.get_sample_value("lag", {"consumer_group": "g", "topic": "t", "partition": "0"}) == 5
    assert registry.get_sample_value("lag", {"consumer_group": "g", "topic": "u", "partition": "3"}) == 7

    series.update({("t", 0): 2})  # a rebalance took t/1 and u/3 away
    assert registry.get_sample_value("lag", {"consumer_group": "g", "topic": "t", "partition": "0"}) == 2
    assert registry.get_sample_value("lag", {"consumer_group": "g", "topic": "t", "partition": "1"}) is None
    assert registry.get_sample_value("lag", {"consumer_group": "g", "topic": "u", "partition": "3"}) is None

    series.clear()
    assert registry.get_sample_value("lag", {"consumer_group": "g", "topic": "t", "partition": "0"}) is None


class _FakeConsumer:
    """What EventConsumer.lag asks of aiokafka, with aiokafka's answers: ``committed`` is
    None for a partition the group never committed on."""

    def __init__(self, end: dict, committed: dict, beginning: dict) -> None:
        self._end, self._committed, self._beginning = end, committed, beginning
        self.beginning_asked: list = []

    def assignment(self):
        return set(self._end)

    async def end_offsets(self, partitions):
        return {tp: self._end[tp] for tp in partitions}

    async def committed(self, tp):
        return self._committed.get(tp)

    async def beginning_offsets(self, partitions):
        self.beginning_asked = list(partitions)
        return {tp: self._beginning[tp] for tp in partitions}


def _consumer(name: str = "unit") -> EventConsumer:
    async def handler(session, events):  # pragma: no cover - never called here
        raise AssertionError

    return EventConsumer(ConsumerSpec(name, ("lead.captured.v1",), handler), service="unit",
                         bootstrap_servers="unused:9092", sessions=None, processed=None,
                         producer=_FakeProducer())


async def test_consumer_lag_reads_end_and_committed_offsets_and_publishes_the_series():
    from aiokafka import TopicPartition
    a, b, c = (TopicPartition("lead.captured.v1", p) for p in (0, 1, 2))
    consumer = _consumer(f"lag-{uuid.uuid4().hex[:6]}")
    fake = _FakeConsumer(end={a: 50, b: 10, c: 8}, committed={a: 45, b: 10}, beginning={c: 3})
    consumer._consumer = fake

    assert await consumer.lag() == {a: 5, b: 0, c: 5}
    assert fake.beginning_asked == [c]  # only where nothing was committed

    await consumer.refresh_lag_metric()
    group = consumer.group_id
    assert value("handoff_consumer_lag", consumer_group=group, topic="lead.captured.v1", partition="0") == 5
    fake._end = {a: 50}  # b and c were revoked
    await consumer.refresh_lag_metric()
    assert REGISTRY.get_sample_value("handoff_consumer_lag", {"consumer_group": group, "topic": "lead.captured.v1",
                                                              "partition": "1"}) is None
    consumer._consumer = None
    await consumer.stop()
    assert REGISTRY.get_sample_value("handoff_consumer_lag", {"consumer_group": group, "topic": "lead.captured.v1",
                                                              "partition": "0"}) is None


# ---- what the consumer counts ------------------------------------------------------------

class _FakeProducer:
    def __init__(self) -> None:
        self.sent: list[str] = []

    async def send(self, topic, value, key=None, headers=None):
        self.sent.append(topic)
        future = asyncio.get_running_loop().create_future()
        future.set_result(None)
        return future


def _record(topic: str, offset: int, value: bytes = b"not json"):
    return SimpleNamespace(topic=topic, partition=0, offset=offset, key=b"k", value=value)


async def test_dead_letters_are_counted_by_original_topic_and_as_produced():
    consumer = _consumer(f"dlq-{uuid.uuid4().hex[:6]}")
    group = consumer.group_id
    letters = [dead_letter_for(_record("lead.captured.v1", 1), error="bad", group=group, attempts=1),
               dead_letter_for(_record("lead.captured.v1", 2), error="bad", group=group, attempts=1),
               dead_letter_for(_record("lead.activity.v1", 7), error="bad", group=group, attempts=3)]
    produced_before = value("handoff_events_produced_total", topic=DEAD_LETTER.name)

    await consumer._apply_batch([], letters)

    assert consumer._producer.sent == [DEAD_LETTER.name] * 3
    assert value("handoff_dead_letters_total", topic="lead.captured.v1", consumer_group=group) == 2
    assert value("handoff_dead_letters_total", topic="lead.activity.v1", consumer_group=group) == 1
    assert value("handoff_dead_letters_total", topic=DEAD_LETTER.name, consumer_group=group) == 0
    assert value("handoff_events_produced_total", topic=DEAD_LETTER.name) - produced_before == 3


def test_a_finished_batch_counts_every_record_and_spreads_its_time_over_them():
    consumer = _consumer(f"batch-{uuid.uuid4().hex[:6]}")
    group = consumer.group_id
    records = [_record("lead.captured.v1", i) for i in range(3)] + [_record("lead.outcome.v1", 0)]

    consumer._observe_batch(records, 2.0)

    assert value("handoff_events_consumed_total", topic="lead.captured.v1", consumer_group=group) == 3
    assert value("handoff_events_consumed_total", topic="lead.outcome.v1", consumer_group=group) == 1
    assert value("handoff_batch_processing_seconds_count", consumer_group=group) == 1
    assert value("handoff_batch_processing_seconds_sum", consumer_group=group) == 2.0
    assert value("handoff_event_processing_seconds_count", consumer_group=group) == 4
    assert value("handoff_event_processing_seconds_sum", consumer_group=group) == pytest.approx(2.0)
    assert value("handoff_event_processing_seconds_bucket", consumer_group=group, le="0.25") == 0
    assert value("handoff_event_processing_seconds_bucket", consumer_group=group, le="0.5") == 4


# ---- stage latencies ------------------------------------------------------------------------

@dataclass(frozen=True)
class Entry:
    event_id: uuid.UUID
    type: str
    occurred_at: datetime
    causation_id: uuid.UUID | None = None


T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def chain(scored_after: float = 0.4, routed_after: float = 0.5):
    captured = Entry(uuid.uuid4(), "lead.captured", T0)
    scored = Entry(uuid.uuid4(), "lead.scored", T0 + timedelta(seconds=scored_after), captured.event_id)
    routed = Entry(uuid.uuid4(), "lead.routed", T0 + timedelta(seconds=routed_after), scored.event_id)
    return captured, scored, routed


def test_one_batch_with_the_whole_chain_measures_every_stage():
    captured, scored, routed = chain()
    found = stage_latencies([captured, scored, routed], {captured.event_id, scored.event_id, routed.event_id})
    assert sorted(found) == sorted([("captured_to_scored", 0.4), ("scored_to_routed", pytest.approx(0.1)),
                                    ("captured_to_routed", 0.5)])


@pytest.mark.parametrize("order", [(0, 1, 2), (2, 1, 0), (1, 2, 0), (2, 0, 1), (0, 2, 1), (1, 0, 2)])
def test_each_stage_is_measured_exactly_once_whatever_order_the_topics_are_read_in(order):
    events = chain()
    timeline: list[Entry] = []
    found = []
    for i in order:  # one batch per event, in this order
        timeline.append(events[i])
        found += stage_latencies(timeline, {events[i].event_id})
    assert sorted(stage for stage, _ in found) == ["captured_to_routed", "captured_to_scored", "scored_to_routed"]


def test_only_what_the_new_events_complete_is_measured():
    captured, scored, routed = chain()
    assert stage_latencies([captured, scored], {scored.event_id}) == [("captured_to_scored", 0.4)]
    # the routed event comes later: the captured->scored pair was measured already
    assert sorted(stage_latencies([captured, scored, routed], {routed.event_id})) == [
        ("captured_to_routed", 0.5), ("scored_to_routed", pytest.approx(0.1))]
    assert stage_latencies([captured, scored, routed], {uuid.uuid4()}) == []


def test_rescores_and_clock_routings_are_not_pipeline_latency():
    captured, scored, routed = chain()
    activity = Entry(uuid.uuid4(), "lead.activity", T0 + timedelta(days=3))
    rescored = Entry(uuid.uuid4(), "lead.scored", T0 + timedelta(days=3, seconds=1), activity.event_id)
    swept = Entry(uuid.uuid4(), "lead.scored", T0 + timedelta(days=4), None)
    reassigned = Entry(uuid.uuid4(), "lead.routed", T0 + timedelta(days=5), None)  # the SLA clock
    entries = [captured, scored, routed, rescored, swept, reassigned]  # activity is not queried
    assert stage_latencies(entries, {rescored.event_id, swept.event_id, reassigned.event_id}) == []


def test_routed_after_a_rescore_caused_by_activity_counts_scored_to_routed_only():
    captured = Entry(uuid.uuid4(), "lead.captured", T0)
    rescored = Entry(uuid.uuid4(), "lead.scored", T0 + timedelta(days=2), uuid.uuid4())  # caused by an activity
    routed = Entry(uuid.uuid4(), "lead.routed", T0 + timedelta(days=2, seconds=0.25), rescored.event_id)
    assert stage_latencies([captured, rescored, routed], {routed.event_id}) == [("scored_to_routed", 0.25)]


def test_clock_skew_never_gives_a_negative_latency():
    captured, scored, _ = chain(scored_after=-0.2, routed_after=0.3)
    found = dict(stage_latencies([captured, scored], {scored.event_id}))
    assert found == {"captured_to_scored": 0.0}


# ---- after commit ---------------------------------------------------------------------------

def test_after_commit_runs_once_the_outermost_transaction_committed_and_never_on_rollback():
    engine = create_engine("sqlite://")
    ran: list[str] = []

    committed = Session(engine)
    with committed.begin():
        after_commit(SimpleNamespace(sync_session=committed), lambda: ran.append("committed"))
        with committed.begin_nested():
            committed.execute(text("SELECT 1"))
        assert ran == []  # a released savepoint is not the commit
    assert ran == ["committed"]
    with committed.begin():
        committed.execute(text("SELECT 1"))
    assert ran == ["committed"]  # once

    rolled_back = Session(engine)
    with pytest.raises(RuntimeError), rolled_back.begin():
        after_commit(SimpleNamespace(sync_session=rolled_back), lambda: ran.append("rolled back"))
        raise RuntimeError
    assert ran == ["committed"]


def test_after_commit_swallows_an_error_of_the_observation():
    session = Session(create_engine("sqlite://"))

    def broken() -> None:
        raise ValueError("metrics bug")

    with session.begin():
        after_commit(SimpleNamespace(sync_session=session), broken)
        session.execute(text("SELECT 1"))
    # reaching here: the commit went through


# ---- SLA breaches ---------------------------------------------------------------------------

def test_sla_breaches_are_counted_by_action_and_every_action_shows_from_the_start():
    for action in SLA_ACTIONS:
        assert REGISTRY.get_sample_value("handoff_sla_breaches_total", {"action": action}) is not None
    before = {a: value("handoff_sla_breaches_total", action=a) for a in SLA_ACTIONS}

    def breached(action: str) -> Envelope:
        return Envelope(type="lead.sla_breached", lead_id=uuid.uuid4(), producer="routing", correlation_id="c",
                        payload={"action": action})

    routed = Envelope(type="lead.routed", lead_id=uuid.uuid4(), producer="routing", correlation_id="c",
                      payload={"action": "escalate"})
    count_breaches([breached("escalate"), breached("reassign"), routed, breached("escalate"),
                    breached("give_up")])

    after = {a: value("handoff_sla_breaches_total", action=a) for a in SLA_ACTIONS}
    assert {a: after[a] - before[a] for a in SLA_ACTIONS} == {
        "escalate": 2, "reassign": 1, "give_up": 1, "no_one_to_reassign": 0}
