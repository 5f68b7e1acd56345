"""Intake's use case on the real database: accepting a lead stores one submission and puts
exactly one lead.captured envelope, normalised, in intake.outbox in the same transaction; an
Idempotency-Key retry answers as the first time and adds nothing; the same key with another
body is refused; an activity without a time is stamped with the ``now`` it was given."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.intake.api.models import ActivityIn, LeadIn
from services.intake.domain.rate_limits import RateLimit, counted, first_exceeded
from services.intake.repository import RateWindowRepository, SubmissionRepository
from services.intake.tables import metadata, submissions
from services.intake.use_cases.accept_submission import (
    MAX_EVENT_BYTES,
    Accepted,
    Submission,
    accept_batch,
    accept_submission,
)
from shared.db.metadata import outbox_table
from shared.errors import InvalidInput
from shared.events.envelope import Envelope
from shared.events.payloads import ActivityRecorded, LeadCaptured
from shared.identity import lead_id_for
from shared.kafka.producer import MAX_RECORD_BYTES

NOW = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
SOURCE = "website"
outbox = outbox_table(metadata)


def lead(key: str | None = None, **fields: Any) -> Submission:
    """A lead form as the API validates it (LeadIn normalises the email)."""
    body = LeadIn.model_validate({"email": "  Ada.Lovelace@ACME.com ", **fields})
    return Submission.of("lead", SOURCE, key, body.model_dump(), body.model_dump(mode="json"))


def activity(**fields: Any) -> Submission:
    body = ActivityIn.model_validate({"email": "ada.lovelace@acme.com", "activity_type": "demo_request", **fields})
    return Submission.of("activity", SOURCE, None, body.model_dump(), body.model_dump(mode="json"))


async def accept(session: AsyncSession, submission: Submission, correlation_id: str = "corr-1") -> Accepted:
    return await accept_submission(submission, repository=SubmissionRepository(session),
                                   correlation_id=correlation_id, now=NOW)


async def stored(session: AsyncSession) -> list[Any]:
    return list((await session.execute(select(submissions))).all())


async def emitted(session: AsyncSession) -> list[Envelope]:
    rows = (await session.execute(select(outbox.c.topic, outbox.c.key, outbox.c.value, outbox.c.headers)
                                  .order_by(outbox.c.id))).all()
    for row in rows:  # the row's routing fields agree with the envelope they carry
        envelope = Envelope.from_bytes(row.value)
        assert (row.topic, bytes(row.key)) == (envelope.topic, envelope.key)
        assert row.headers == {"correlation_id": envelope.correlation_id, "type": envelope.type}
    return [Envelope.from_bytes(row.value) for row in rows]


async def test_a_lead_is_stored_and_one_normalised_lead_captured_is_in_the_outbox(session: AsyncSession) -> None:
    accepted = await accept(session, lead(
        first_name="  Ada  ", last_name="Lovelace", company=" Acme   Corp ", company_domain="https://www.Acme.com/about",
        phone="+44 (20) 7946-0000", country="gb", state="ca", utm_source=" LinkedIn ", utm_medium="  ",
        company_size=300, attributes={"plan": "enterprise"}))

    expected_lead = lead_id_for("ada.lovelace@acme.com")
    assert accepted.lead_id == expected_lead and not accepted.replayed
    [row] = await stored(session)
    assert (row.submission_id, row.kind, row.source, row.lead_id, row.correlation_id) == (
        accepted.submission_id, "lead", SOURCE, expected_lead, "corr-1")
    [envelope] = await emitted(session)
    assert (envelope.type, envelope.topic, envelope.lead_id, envelope.correlation_id, envelope.producer) == (
        "lead.captured", "lead.captured.v1", expected_lead, "corr-1", "intake")
    assert envelope.causation_id is None
    assert LeadCaptured.model_validate(envelope.payload) == LeadCaptured(
        submission_id=accepted.submission_id, source=SOURCE, email="ada.lovelace@acme.com", first_name="Ada",
        last_name="Lovelace", company="Acme Corp", company_domain="acme.com", phone="+442079460000",
        country="GB", state="CA", company_size=300, utm={"utm_source": "linkedin"},
        attributes={"plan": "enterprise"})


async def test_without_a_company_domain_the_email_domain_is_used(session: AsyncSession) -> None:
    await accept(session, lead())
    [envelope] = await emitted(session)
    assert envelope.payload["company_domain"] == "acme.com"


async def test_a_retry_with_the_same_key_and_body_replays_the_first_answer(session: AsyncSession) -> None:
    first = await accept(session, lead("key-1", company="Acme"))
    again = await accept(session, lead("key-1", company="Acme"), correlation_id="corr-2")

    assert again.replayed
    assert (again.submission_id, again.lead_id, again.correlation_id) == (
        first.submission_id, first.lead_id, "corr-1")
    assert len(await stored(session)) == 1
    assert len(await emitted(session)) == 1


async def test_the_same_key_with_another_body_is_refused_naming_the_header(session: AsyncSession) -> None:
    await accept(session, lead("key-1", company="Acme"))

    with pytest.raises(InvalidInput) as refused:
        await accept(session, lead("key-1", company="Other"))
    assert [field for field, _ in refused.value.problems] == ["header.Idempotency-Key"]
    assert len(await stored(session)) == 1
    assert len(await emitted(session)) == 1


async def test_the_same_key_from_another_source_is_another_submission(session: AsyncSession) -> None:
    await accept(session, lead("key-1"))
    body = LeadIn.model_validate({"email": "ada.lovelace@acme.com"})
    other = Submission.of("lead", "webinar-tool", "key-1", body.model_dump(), body.model_dump(mode="json"))
    accepted = await accept(session, other)

    assert not accepted.replayed
    assert len(await stored(session)) == 2
    assert len(await emitted(session)) == 2


async def test_an_activity_without_a_time_happens_now(session: AsyncSession) -> None:
    accepted = await accept(session, activity(detail={"page": "/demo"}))

    [row] = await stored(session)
    assert row.kind == "activity"
    [envelope] = await emitted(session)
    assert (envelope.type, envelope.topic, envelope.lead_id) == (
        "lead.activity", "lead.activity.v1", lead_id_for("ada.lovelace@acme.com"))
    assert ActivityRecorded.model_validate(envelope.payload) == ActivityRecorded(
        submission_id=accepted.submission_id, source=SOURCE, email="ada.lovelace@acme.com",
        activity_type="demo_request", occurred_at=NOW, detail={"page": "/demo"})


async def test_an_activity_keeps_the_time_it_was_sent_with(session: AsyncSession) -> None:
    await accept(session, activity(occurred_at="2026-11-30T08:00:00+01:00"))
    [envelope] = await emitted(session)
    assert ActivityRecorded.model_validate(envelope.payload).occurred_at == datetime(2026, 11, 30, 7, tzinfo=UTC)



# --- batches -----------------------------------------------------------------------------------

def batch_lead(i: int, key: str | None = None, **fields: Any) -> Submission:
    body = LeadIn.model_validate({"email": f"person{i}@acme.com", **fields})
    return Submission.of("lead", SOURCE, key, body.model_dump(), body.model_dump(mode="json"))


async def accept_many(session: AsyncSession, batch: list[Submission], correlation_id: str = "corr-b") -> list:
    return await accept_batch(batch, repository=SubmissionRepository(session), correlation_id=correlation_id,
                              now=NOW)


async def test_a_batch_stores_every_item_and_emits_one_event_each_in_order(session: AsyncSession) -> None:
    answers = await accept_many(session, [batch_lead(i, f"k{i}") for i in range(5)])

    assert [type(a) for a in answers] == [Accepted] * 5
    assert [a.lead_id for a in answers] == [lead_id_for(f"person{i}@acme.com") for i in range(5)]
    assert len(await stored(session)) == 5
    envelopes = await emitted(session)
    assert [e.payload["email"] for e in envelopes] == [f"person{i}@acme.com" for i in range(5)]
    assert [e.payload["submission_id"] for e in envelopes] == [str(a.submission_id) for a in answers]


async def test_a_retried_batch_replays_every_item_and_adds_nothing(session: AsyncSession) -> None:
    first = await accept_many(session, [batch_lead(i, f"k{i}") for i in range(3)])
    again = await accept_many(session, [batch_lead(i, f"k{i}") for i in range(3)] + [batch_lead(9, "k9")])

    assert [a.replayed for a in again] == [True, True, True, False]
    assert [a.submission_id for a in again[:3]] == [a.submission_id for a in first]
    assert len(await stored(session)) == 4
    assert len(await emitted(session)) == 4


async def test_a_key_repeated_within_a_batch_is_one_submission_or_refused(session: AsyncSession) -> None:
    answers = await accept_many(session, [batch_lead(1, "dup"), batch_lead(1, "dup"),
                                          batch_lead(2, "dup"), batch_lead(3)])

    first, same, other, unkeyed = answers
    assert isinstance(first, Accepted) and not first.replayed
    assert isinstance(same, Accepted) and same.replayed and same.submission_id == first.submission_id
    assert isinstance(other, InvalidInput)
    assert [f for f, _ in other.problems] == ["header.Idempotency-Key"]
    assert isinstance(unkeyed, Accepted)
    assert len(await stored(session)) == 2
    assert len(await emitted(session)) == 2


async def test_a_batch_item_reusing_an_earlier_key_with_another_body_is_refused_alone(
        session: AsyncSession) -> None:
    await accept(session, lead("used", company="Acme"))
    answers = await accept_many(session, [batch_lead(1, "fresh"), lead("used", company="Other")])

    assert isinstance(answers[0], Accepted)
    assert isinstance(answers[1], InvalidInput)
    assert len(await stored(session)) == 2


async def test_an_event_larger_than_the_broker_takes_is_refused_before_anything_is_stored(
        session: AsyncSession) -> None:
    body = LeadIn.model_validate({"email": "big@acme.com"})
    fields = {**body.model_dump(), "attributes": {"blob": "x" * MAX_RECORD_BYTES}}  # past the API's bounds
    too_big = Submission("lead", SOURCE, None, fields, "hash")
    answers = await accept_many(session, [batch_lead(1), too_big, batch_lead(2)])

    assert isinstance(answers[1], InvalidInput)
    [(field, reason)] = answers[1].problems
    assert field == "body" and f"at most {MAX_EVENT_BYTES}" in reason
    assert [type(answers[0]), type(answers[2])] == [Accepted, Accepted]
    assert [e.payload["email"] for e in await emitted(session)] == ["person1@acme.com", "person2@acme.com"]


# --- rate windows ------------------------------------------------------------------------------

async def test_request_counts_add_up_per_subject_and_window_and_old_windows_are_forgotten(
        session: AsyncSession) -> None:
    limit = RateLimit(requests=2, per_seconds=10)
    windows = RateWindowRepository(session)
    subjects = [counted("address:203.0.113.9", "client address 203.0.113.9", limit, NOW),
                counted("source:website", "source website", limit, NOW)]
    counts = [await windows.count(subjects) for _ in range(3)]

    assert [c[("source:website", limit.window(NOW))] for c in counts] == [1, 2, 3]
    assert first_exceeded(subjects, counts[1]) is None
    assert first_exceeded(subjects, counts[2]) == subjects[0]
    later = NOW + timedelta(seconds=10)
    assert (await windows.count([counted("source:website", "", limit, later)]))[
        ("source:website", limit.window(later))] == 1
    assert await windows.forget_before(later) == 2
