"""Intake's bounds as pure rules: fixed rate-limit windows shared by every replica, and the
lead and activity models refusing what would stand in for a checked field or never decay."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from services.intake.api.models import MAX_ATTRIBUTES, ActivityIn, BatchLeadIn, LeadIn
from services.intake.domain.rate_limits import RateLimit, counted, first_exceeded

LIMIT = RateLimit(requests=3, per_seconds=10)


def at(seconds: float) -> datetime:
    return datetime(2026, 12, 2, 12, 0, tzinfo=UTC) + timedelta(seconds=seconds)


@given(st.floats(min_value=0, max_value=10_000))
def test_a_window_starts_on_a_multiple_of_its_length_and_retry_after_reaches_its_end(offset):
    now = at(offset)
    start = LIMIT.window(now)
    assert start.timestamp() % LIMIT.per_seconds == 0
    assert start <= now < start + timedelta(seconds=LIMIT.per_seconds)
    wait = LIMIT.retry_after_s(now)
    assert 1 <= wait <= LIMIT.per_seconds
    assert now + timedelta(seconds=wait) >= start + timedelta(seconds=LIMIT.per_seconds)


def test_two_replicas_counting_the_same_moment_agree_on_the_window():
    assert LIMIT.window(at(3.2)) == LIMIT.window(at(9.9)) != LIMIT.window(at(10.0))


def test_the_first_subject_over_its_limit_is_the_one_named():
    source = counted("source:web", "source web", LIMIT, at(1))
    address = counted("address:1.2.3.4", "client address 1.2.3.4", RateLimit(requests=1, per_seconds=60), at(1))
    counts = {(source.subject, source.window): 3, (address.subject, address.window): 1}
    assert first_exceeded([address, source], counts) is None
    counts[(source.subject, source.window)] = 4
    assert first_exceeded([address, source], counts) == source


@pytest.mark.parametrize("key", ["job_title", "Job Title", "job-title", " JOB_TITLE ", "email", "utm_source",
                                 "company.size", "source", "email_domain"])
def test_an_attribute_named_like_a_field_is_refused_at_its_path(key):
    with pytest.raises(ValidationError) as refused:
        LeadIn.model_validate({"email": "ada@acme.com", "attributes": {key: "Chief Executive Officer"}})
    [error] = refused.value.errors()
    assert error["loc"] == ("attributes", key)
    assert "is a field of its own" in error["msg"]


def test_other_attributes_are_kept_up_to_the_limit():
    kept = {f"answer_{i}": i for i in range(MAX_ATTRIBUTES)}
    assert LeadIn.model_validate({"email": "ada@acme.com", "attributes": kept}).attributes == kept
    with pytest.raises(ValidationError, match=f"at most {MAX_ATTRIBUTES}"):
        LeadIn.model_validate({"email": "ada@acme.com", "attributes": {**kept, "one_more": 1}})


def test_an_activity_detail_may_use_names_the_lead_reserves():
    activity = ActivityIn.model_validate({"email": "ada@acme.com", "activity_type": "webinar",
                                          "detail": {"source": "webinar-tool"}})
    assert activity.detail == {"source": "webinar-tool"}
    with pytest.raises(ValidationError, match="is a field of its own"):
        ActivityIn.model_validate({"email": "ada@acme.com", "activity_type": "webinar",
                                   "detail": {"occurred_at": "2020-01-01"}})


@pytest.mark.parametrize(("ahead", "accepted"), [(timedelta(minutes=4), True), (timedelta(minutes=6), False),
                                                 (timedelta(days=1000), False), (-timedelta(days=400), True)])
def test_an_activity_more_than_five_minutes_ahead_is_refused(ahead, accepted):
    body = {"email": "ada@acme.com", "activity_type": "demo_request",
            "occurred_at": (datetime.now(UTC) + ahead).isoformat()}
    if accepted:
        ActivityIn.model_validate(body)
    else:
        with pytest.raises(ValidationError, match="in the future"):
            ActivityIn.model_validate(body)


def test_company_size_is_a_whole_number_not_a_flag():
    for wrong in (True, "ten million", 3.5, -1):
        with pytest.raises(ValidationError):
            LeadIn.model_validate({"email": "ada@acme.com", "company_size": wrong})
    assert LeadIn.model_validate({"email": "ada@acme.com", "company_size": "300"}).company_size == 300


def test_a_batch_item_takes_its_own_idempotency_key():
    item = BatchLeadIn.model_validate({"email": "ada@acme.com", "idempotency_key": "sync-1"})
    assert item.idempotency_key == "sync-1"
    with pytest.raises(ValidationError):
        BatchLeadIn.model_validate({"email": "ada@acme.com", "idempotency_key": "has space"})
