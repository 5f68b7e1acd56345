"""Every service's /metrics on the real stack: what a batch of leads and a poison record
move. Tests run one after another, so a delta over a test's own window is its own."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping

import httpx
from aiokafka import AIOKafkaProducer
from prometheus_client.parser import text_string_to_metric_families

from shared.events.topics import DEAD_LETTER, LEAD_CAPTURED, LEAD_ROUTED, LEAD_SCORED
from tests.e2e.helpers import QUALIFIED, wait_for, wait_for_event

SERVICES = ("intake", "scoring", "routing", "feedback")
SCORER = "handoff.scoring.scorer"
N = 20

Samples = dict[tuple[str, frozenset], float]


def scrape(url: str) -> Samples:
    response = httpx.get(f"{url}/metrics", timeout=5)
    assert response.status_code == 200, response.text
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(response.text) for s in family.samples}


def total(samples: Samples, name: str, **labels: str) -> float:
    """Sum of the samples of ``name`` whose labels include ``labels``."""
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= ls)


def series(samples: Samples, name: str, **labels: str) -> dict[frozenset, float]:
    want = set(labels.items())
    return {ls: v for (n, ls), v in samples.items() if n == name and want <= ls}


def scrape_all(urls: Mapping[str, str]) -> dict[str, Samples]:
    return {name: scrape(urls[name]) for name in SERVICES}


def test_a_batch_of_leads_moves_every_metric_of_the_pipeline(stack, intake, feedback):
    urls = stack.urls
    before = scrape_all(urls)
    source = "web-form"  # the intake fixture's key

    lead_ids, first = [], None
    for i in range(N):
        email = f"metrics.{uuid.uuid4().hex[:12]}@acme-{uuid.uuid4().hex[:6]}.com"
        body = {"email": email, **QUALIFIED}
        key = {"Idempotency-Key": f"metrics-{uuid.uuid4()}"} if i == 0 else {}
        response = intake.post("/leads", json=body, headers=key)
        assert response.status_code == 202, response.text
        lead_ids.append(response.json()["lead_id"])
        first = first or (body, key)
    replay = intake.post("/leads", json=first[0], headers=first[1])  # a retry: answered, not a new lead
    assert replay.status_code == 202 and replay.headers["Idempotent-Replayed"] == "true"
    bad = intake.post("/leads", json={"email": "not an email", **QUALIFIED})
    assert bad.status_code == 422, bad.text
    for lead_id in lead_ids:
        wait_for_event(feedback, lead_id, "lead.routed", timeout_s=60)

    def delta(service: str, name: str, **labels: str) -> float:
        return total(scrape(urls[service]), name, **labels) - total(before[service], name, **labels)

    # intake: exactly the new leads we posted (not the replay), and every HTTP answer by route template
    assert delta("intake", "handoff_leads_captured_total", source=source) == N
    assert delta("intake", "handoff_http_requests_total", method="POST", route="/leads", status="202") == N + 1
    assert delta("intake", "handoff_http_requests_total", method="POST", route="/leads", status="422") == 1
    assert delta("intake", "handoff_http_request_duration_seconds_count", method="POST", route="/leads") == N + 2
    assert not series(scrape(urls["intake"]), "handoff_http_requests_total", route="/metrics")
    feedback_routes = {dict(ls)["route"] for ls in series(scrape(urls["feedback"]), "handoff_http_requests_total")}
    assert not any(lead_id in route for lead_id in lead_ids for route in feedback_routes)  # templates only
    assert delta("feedback", "handoff_http_requests_total", method="GET", route="/leads/{lead_id}/timeline",
                 status="200") >= N

    # every hop produced and consumed them (>=: re-scores and other flows share the topics)
    assert delta("intake", "handoff_events_produced_total", topic=LEAD_CAPTURED.name) >= N
    assert delta("scoring", "handoff_events_consumed_total", topic=LEAD_CAPTURED.name,
                 consumer_group=SCORER) >= N
    assert delta("scoring", "handoff_events_produced_total", topic=LEAD_SCORED.name) >= N
    assert delta("routing", "handoff_events_consumed_total", topic=LEAD_SCORED.name) >= N
    assert delta("routing", "handoff_events_produced_total", topic=LEAD_ROUTED.name) >= N
    assert delta("feedback", "handoff_events_consumed_total", topic=LEAD_ROUTED.name) >= N
    assert delta("scoring", "handoff_batch_processing_seconds_count", consumer_group=SCORER) >= 1
    assert delta("scoring", "handoff_event_processing_seconds_count", consumer_group=SCORER) >= N

    # feedback measured the pipeline's latency for each of them, once its batch committed
    def latencies_recorded() -> bool:
        return all(delta("feedback", "handoff_stage_latency_seconds_count", stage=stage) >= N
                   for stage in ("captured_to_scored", "scored_to_routed", "captured_to_routed"))
    wait_for(latencies_recorded, 10, "stage latencies of every lead")
    assert delta("feedback", "handoff_stage_latency_seconds_sum", stage="captured_to_routed") > 0
    assert delta("feedback", "handoff_stage_latency_seconds_bucket", stage="captured_to_routed", le="+Inf") >= N

    # the lag loop sees scoring's partitions and every one of them drains to 0
    def scoring_caught_up() -> bool:
        lags = series(scrape(urls["scoring"]), "handoff_consumer_lag", consumer_group=SCORER)
        topics = {dict(ls)["topic"] for ls in lags}
        return bool(lags) and LEAD_CAPTURED.name in topics and all(v == 0 for v in lags.values())
    wait_for(scoring_caught_up, 20, "scoring's consumer lag back to 0")
    lags = series(scrape(urls["scoring"]), "handoff_consumer_lag", consumer_group=SCORER)
    assert {(dict(ls)["topic"], dict(ls)["partition"]) for ls in lags} >= {
        (LEAD_CAPTURED.name, str(p)) for p in range(LEAD_CAPTURED.partitions)}

    # and every outbox drains too
    def outboxes_empty() -> bool:
        return all(total(scrape(urls[name]), "handoff_outbox_backlog") == 0 for name in SERVICES)
    wait_for(outboxes_empty, 20, "every outbox backlog at 0")
    for name in SERVICES:
        assert series(scrape(urls[name]), "handoff_outbox_backlog"), name


async def test_a_poison_record_counts_as_a_dead_letter_of_its_original_topic(stack):
    urls = stack.urls
    before = await asyncio.to_thread(scrape_all, urls)
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka_bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        await producer.send_and_wait(LEAD_CAPTURED.name, b"{ not an event", key=uuid.uuid4().bytes)
    finally:
        await producer.stop()

    def delta(service: str, name: str, **labels: str) -> float:
        return total(scrape(urls[service]), name, **labels) - total(before[service], name, **labels)

    def both_dead_lettered() -> bool:
        return (delta("scoring", "handoff_dead_letters_total", topic=LEAD_CAPTURED.name, consumer_group=SCORER) >= 1
                and delta("feedback", "handoff_dead_letters_total", topic=LEAD_CAPTURED.name,
                          consumer_group="handoff.feedback.timeline") >= 1)
    await asyncio.to_thread(wait_for, both_dead_lettered, 20, "the poison record dead-lettered by both consumers")

    assert delta("scoring", "handoff_dead_letters_total", topic=LEAD_CAPTURED.name, consumer_group=SCORER) == 1
    assert delta("scoring", "handoff_dead_letters_total", topic=DEAD_LETTER.name) == 0  # by original topic
    assert delta("scoring", "handoff_events_produced_total", topic=DEAD_LETTER.name) == 1
    assert delta("feedback", "handoff_events_produced_total", topic=DEAD_LETTER.name) == 1
    # a dead-lettered record is still one the consumer took and finished with
    assert delta("scoring", "handoff_events_consumed_total", topic=LEAD_CAPTURED.name, consumer_group=SCORER) >= 1
