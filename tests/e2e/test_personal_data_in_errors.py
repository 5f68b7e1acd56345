"""No personal data where it does not belong: a lead goes through every service and a record
about the same person is poison, then the dead letters' errors, every service's log and its
metrics are searched for the person's email, names and phone."""

from __future__ import annotations

import asyncio
import uuid

import httpx
from aiokafka import AIOKafkaProducer

from shared.events.envelope import Envelope
from shared.events.topics import LEAD_CAPTURED
from shared.identity import lead_id_for
from tests.e2e.helpers import QUALIFIED, wait_for_event
from tests.e2e.test_dead_letters import dead_letters_for

SERVICES = ("intake", "scoring", "routing", "feedback")


async def test_dead_letter_errors_and_logs_carry_ids_never_the_persons_data(stack, intake, scoring, feedback,
                                                                            email):
    tag = uuid.uuid4().hex[:8]
    first, last, phone = f"Augusta{tag}", f"Byron{tag}", f"+44 20 7946 {int(tag[:6], 16) % 10000:04d}"
    response = intake.post("/leads", json={**QUALIFIED, "email": email, "first_name": first, "last_name": last,
                                           "phone": phone})
    assert response.status_code == 202, response.text
    lead_id = response.json()["lead_id"]
    await asyncio.to_thread(wait_for_event, feedback, lead_id, "lead.routed")
    refused = intake.post("/leads", json={"email": email, "first_name": first, "phone": phone, "company_size": phone})
    assert refused.status_code == 422  # refused input is told to its sender, not written to a log
    stored_phone = scoring.get(f"/leads/{lead_id}/profile").json()["profile"]["phone"]  # read by a viewer
    assert stored_phone == phone.replace(" ", "")  # E.164, as intake normalises it

    # poison about the same person: its payload fails validation, and pydantic's own text would echo it
    key = str(lead_id_for(email)).encode()
    poison = Envelope(type="lead.captured", lead_id=uuid.UUID(lead_id), correlation_id=f"pii-{tag}",
                      producer="test", payload={"submission_id": str(uuid.uuid4()), "source": "test",
                                                "email": f"{first} {last} <{email}>", "phone": {"n": phone},
                                                "company_size": f"{phone} {email}"})
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka_bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        await producer.send_and_wait(LEAD_CAPTURED.name, poison.to_bytes(), key=key)
    finally:
        await producer.stop()
    letters = [d for d in await dead_letters_for(stack.kafka_bootstrap, key, want=2)]
    assert {d.consumer_group for d in letters} == {"handoff.scoring.scorer", "handoff.feedback.timeline"}

    personal = (email, first, last, phone, stored_phone)
    for letter in letters:
        assert "company_size" in letter.error or "email" in letter.error, letter.error  # it still says why
        for value in personal:
            assert value not in letter.error, f"{letter.consumer_group}: {value!r} in {letter.error!r}"
    searched = 0
    for service in SERVICES:
        text = stack.log_path(service).read_text(encoding="utf-8", errors="replace")
        searched += len(text.splitlines())
        for value in personal:
            assert value not in text, f"{service}'s log holds {value!r}"
    series = 0
    for service in SERVICES:  # metric labels: sources, forms, routes, reasons; never a person
        exposition = httpx.get(f"{stack.urls[service]}/metrics", timeout=10).text
        series += sum(1 for line in exposition.splitlines() if line and not line.startswith("#"))
        for value in personal:
            assert value not in exposition, f"{service}'s metrics hold {value!r}"
    print(f"searched {len(letters)} dead letters, {searched} log lines and {series} metric series "
          f"of {len(SERVICES)} services")
