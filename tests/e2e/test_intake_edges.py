"""Intake at its edges, on the real stack: batches of a marketing tool's size with bad items
among them, bodies too large, attributes that would stand in for a checked field, control
characters, activities from the future, a burst past the rate limit and the database away.
Whatever intake accepts reaches a decision; whatever it refuses says which field and why."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from sqlalchemy import text
from typer.testing import CliRunner

from ops.cli import app as ops_app
from shared.db.engine import make_engine
from shared.events.envelope import Envelope
from shared.events.topics import LEAD_NURTURE, LEAD_ROUTED
from shared.kafka.producer import MAX_RECORD_BYTES
from tests.conftest import RATE_LIMITED_SOURCE, RATE_LIMITED_SOURCE_LIMIT, staff
from tests.e2e.helpers import QUALIFIED, UNQUALIFIED, wait_for, wait_for_event
from tests.e2e.support import wait_until

pytestmark = pytest.mark.stack


class Decisions:
    """Every lead.routed and lead.nurture from the moment it starts, by lead id."""

    def __init__(self, bootstrap: str) -> None:
        self._consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
        self.seen: dict[str, str] = {}

    async def __aenter__(self) -> Decisions:
        await self._consumer.start()
        partitions = [TopicPartition(t.name, p) for t in (LEAD_ROUTED, LEAD_NURTURE) for p in range(t.partitions)]
        self._consumer.assign(partitions)
        for tp, offset in (await self._consumer.end_offsets(partitions)).items():
            self._consumer.seek(tp, offset)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._consumer.stop()

    async def at_least(self, count: int, timeout_s: float) -> None:
        """Read decisions until ``count`` have been seen (any leads)."""
        async with asyncio.timeout(timeout_s):
            while len(self.seen) < count:
                await self._read(1.0)

    async def _read(self, wait_s: float) -> None:
        batches = await self._consumer.getmany(timeout_ms=int(wait_s * 1000))
        for records in batches.values():
            for record in records:
                envelope = Envelope.from_bytes(record.value)
                self.seen[str(envelope.lead_id)] = envelope.type

    async def until(self, lead_ids: set[str], timeout_s: float) -> dict[str, str]:
        """Read decisions until every one of ``lead_ids`` has one; fails naming how many are missing."""
        deadline = asyncio.get_running_loop().time() + timeout_s
        while not lead_ids <= self.seen.keys():
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                missing = lead_ids - self.seen.keys()
                raise AssertionError(f"{len(missing)} of {len(lead_ids)} leads got no decision in {timeout_s:.0f} s")
            await self._read(min(left, 1.0))
        return {lead_id: self.seen[lead_id] for lead_id in lead_ids}


def run_id() -> str:
    return uuid.uuid4().hex[:8]


async def test_a_batch_of_1000_with_bad_items_accepts_the_rest_and_every_accepted_lead_is_decided(stack):
    run = run_id()
    items: list[object] = [{"email": f"batch{i}.{run}@company{i % 50}-{run}.com", "idempotency_key": f"{run}-{i}",
                            **(QUALIFIED if i % 2 else UNQUALIFIED)} for i in range(1000)]
    bad = {17: ({"email": "not-an-address"}, "email"),
           230: ({"email": f"nul.{run}@acme.com", "first_name": "Ada\x00"}, "first_name"),
           404: ({"email": f"size.{run}@acme.com", "company_size": "ten million"}, "company_size"),
           777: ({"email": f"shadow.{run}@acme.com", "job_title": "Intern",
                  "attributes": {"job_title": "Chief Executive Officer"}}, "attributes.job_title"),
           999: ("a string, not a lead", "")}
    for index, (item, _) in bad.items():
        items[index] = item
    key = stack.secrets.intake_api_keys["marketing-automation"]
    async with (Decisions(stack.kafka_bootstrap) as decisions,
                httpx.AsyncClient(base_url=stack.urls["intake"], timeout=60,
                                  headers={"Authorization": f"Bearer {key}"}) as intake):
        response = await intake.post("/leads/batch", json={"leads": items})
        assert response.status_code == 200, response.text
        answer = response.json()
        assert (answer["accepted"], answer["refused"]) == (995, 5)
        refused = {item["index"]: item for item in answer["items"] if item["status"] == "refused"}
        assert set(refused) == set(bad)
        for index, (_, field) in bad.items():
            assert [e["field"] for e in refused[index]["errors"]] == [field], refused[index]
            assert refused[index]["lead_id"] is None
        accepted = {item["lead_id"] for item in answer["items"] if item["status"] == "accepted"}
        assert len(accepted) == 995

        decided = await decisions.until(accepted, timeout_s=120)
        kinds = set(decided.values())
        assert kinds == {"lead.routed", "lead.nurture"}, kinds

        again = await intake.post("/leads/batch", json={"leads": items})  # the sync retried: nothing new
        assert again.status_code == 200
        replayed = [item for item in again.json()["items"] if item["status"] == "accepted"]
        assert len(replayed) == 995 and all(item["replayed"] for item in replayed)


def test_a_batch_larger_than_1000_items_is_refused_whole(intake, email):
    response = intake.post("/leads/batch", json={"leads": [{"email": email}] * 1001})
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["detail"]] == ["leads"]


def test_an_oversized_body_is_413_and_oversized_attributes_422_and_the_next_lead_is_routed(intake, feedback,
                                                                                         email):
    huge = intake.post("/leads", content=b'{"email": "' + b"a" * 1_100_000 + b'"}',
                       headers={"Content-Type": "application/json"})
    assert huge.status_code == 413
    assert "1048576 bytes" in huge.json()["detail"]

    heavy = intake.post("/leads", json={"email": email, "attributes": {"notes": "x" * 20_000}})
    assert heavy.status_code == 422
    [problem] = heavy.json()["detail"]
    assert problem["field"] == "attributes" and "at most 16384" in problem["reason"]

    deep: dict = {}
    for _ in range(20):
        deep = {"d": deep}
    nested = intake.post("/leads", json={"email": email, "attributes": deep})
    assert nested.status_code == 422 and "levels deep" in nested.json()["detail"][0]["reason"]

    many = intake.post("/leads", json={"email": email, "attributes": {f"k{i}": i for i in range(51)}})
    assert many.status_code == 422 and "at most 50" in many.json()["detail"][0]["reason"]

    fine = intake.post("/leads", json={"email": email, **QUALIFIED})
    assert fine.status_code == 202
    wait_for_event(feedback, fine.json()["lead_id"], "lead.routed", timeout_s=20)


@pytest.mark.parametrize(("field", "value"), [("first_name", "Ada\x00"), ("company", "Acme\x1b[31m"),
                                              ("email", "ada\x00@acme.com"), ("job_title", "VP\x7f")])
def test_control_characters_are_refused_naming_the_field(intake, email, field, value):
    body = {"email": email, field: value}
    response = intake.post("/leads", json=body)
    assert response.status_code == 422
    fields = [e["field"] for e in response.json()["detail"]]
    assert fields == [field]
    assert "control character" in response.json()["detail"][0]["reason"]


def test_attributes_cannot_stand_in_for_a_checked_field(intake, email):
    response = intake.post("/leads", json={"email": email, "job_title": "Intern",
                                           "attributes": {"Job Title": "Chief Executive Officer",
                                                          "company_size": "ten million", "message": "hi"}})
    assert response.status_code == 422
    fields = {e["field"]: e["reason"] for e in response.json()["detail"]}
    assert set(fields) == {"attributes.Job Title", "attributes.company_size"}
    assert "send it as job_title" in fields["attributes.Job Title"]


def test_an_activity_from_the_future_is_refused_and_one_from_a_minute_ahead_is_not(intake, email):
    years = (datetime.now(UTC) + timedelta(days=3 * 365)).isoformat()
    response = intake.post("/activities", json={"email": email, "activity_type": "demo_request",
                                                "occurred_at": years})
    assert response.status_code == 422
    [problem] = response.json()["detail"]
    assert problem["field"] == "occurred_at" and "in the future" in problem["reason"]

    skewed = (datetime.now(UTC) + timedelta(minutes=1)).isoformat()
    assert intake.post("/activities", json={"email": email, "activity_type": "demo_request",
                                            "occurred_at": skewed}).status_code == 202


def test_a_burst_past_the_rate_limit_is_429_with_retry_after_and_what_was_accepted_is_decided(stack, feedback):
    key = stack.secrets.intake_api_keys[RATE_LIMITED_SOURCE]
    run = run_id()
    limit = RATE_LIMITED_SOURCE_LIMIT["requests"]
    answers = []
    with httpx.Client(base_url=stack.urls["intake"], timeout=10,
                      headers={"Authorization": f"Bearer {key}"}) as client:
        for i in range(limit * 2 + 10):  # more than two windows' worth, sent within one or two windows
            answers.append(client.post("/leads", json={"email": f"burst{i}.{run}@acme-{run}.com", **QUALIFIED}))
    accepted = [a for a in answers if a.status_code == 202]
    limited = [a for a in answers if a.status_code == 429]
    assert len(accepted) + len(limited) == len(answers), {a.status_code for a in answers}
    assert limited and len(accepted) <= 2 * limit
    for answer in limited:
        assert 1 <= int(answer.headers["Retry-After"]) <= RATE_LIMITED_SOURCE_LIMIT["per_seconds"]
        assert RATE_LIMITED_SOURCE in answer.json()["detail"]
    for answer in accepted:
        wait_for_event(feedback, answer.json()["lead_id"], "lead.routed", timeout_s=30)


def test_with_the_database_stopped_intake_answers_503_then_accepts_once_it_is_back(stack, intake, feedback,
                                                                                email):
    stack.stop_postgres()
    try:
        down = wait_for(lambda: (r := intake.post("/leads", json={"email": email, **QUALIFIED})).status_code != 202
                        and r, 30, "a refusal while the database is away")
        assert down.status_code == 503, down.text
        assert int(down.headers["Retry-After"]) >= 1
        assert "database" in down.json()["detail"]
    finally:
        stack.start_postgres()
    back = wait_for(lambda: (r := intake.post("/leads", json={"email": email, **QUALIFIED})).status_code == 202
                    and r, 30, "intake accepting again")
    wait_for_event(feedback, back.json()["lead_id"], "lead.routed", timeout_s=30)


async def test_a_row_the_broker_refuses_in_intakes_outbox_is_set_aside_and_the_next_lead_is_routed(stack, email):
    """A row too large for Kafka, put at the head of intake's outbox by the test, goes to
    outbox_refused; the lead posted after it is routed; the operator tool lists it."""
    engine = make_engine(stack.database_url)
    try:
        async with engine.begin() as conn:
            stuck = (await conn.execute(text(
                "INSERT INTO intake.outbox (topic, key, value, headers) VALUES (:t, :k, :v, :h) RETURNING id"),
                {"t": "lead.captured.v1", "k": b"too-large", "v": b"x" * (MAX_RECORD_BYTES + 1),
                 "h": json.dumps({"type": "lead.captured"})})).scalar_one()
        async with httpx.AsyncClient(base_url=stack.urls["intake"], timeout=10, headers={
                "Authorization": f"Bearer {stack.secrets.intake_api_keys['web-form']}"}) as intake, \
                httpx.AsyncClient(base_url=stack.urls["feedback"], timeout=10, headers=staff(stack)) as feedback:
            posted = await intake.post("/leads", json={"email": email, **QUALIFIED})
            assert posted.status_code == 202
            lead_id = posted.json()["lead_id"]

            async def routed() -> bool:
                found = await feedback.get(f"/leads/{lead_id}/timeline")
                return found.status_code == 200 and "lead.routed" in {e["type"] for e in found.json()["events"]}
            await wait_until(routed, timeout_s=20)

        listed = await asyncio.to_thread(CliRunner().invoke, ops_app, [
            "refused", "list", "--service", "intake", "--json", "--database-url", stack.database_url])
        assert listed.exit_code == 0, listed.stderr
        [mine] = [item for item in json.loads(listed.stdout) if item["outbox_id"] == stuck]
        assert mine["too_large"] and mine["reason"].startswith("MessageSizeTooLargeError")
    finally:
        await engine.dispose()
