"""Intake's normalisation of what forms send, and the event it makes of a submission."""

import uuid
from datetime import UTC, datetime

import pytest

from services.intake.domain.normalise import clean_text, code, normalise_phone, normalise_utm
from services.intake.domain.submission import activity_recorded, lead_captured, request_hash


@pytest.mark.parametrize("raw, expected", [
    ("+44 (20) 7946-0958", "+442079460958"),
    ("020.7946.0958", "02079460958"),
    ("٠١٢٣", None),  # only ASCII digits are a phone number's digits
    ("call me", None),
    (None, None),
])
def test_phone(raw, expected):
    assert normalise_phone(raw) == expected


def test_utm_keeps_the_five_fields_lower_cased_and_drops_empties():
    raw = {"utm_source": " LinkedIn ", "utm_medium": "", "utm_campaign": "Q4-Launch", "other": "x",
           "utm_term": None}
    assert normalise_utm(raw) == {"utm_source": "linkedin", "utm_campaign": "q4-launch"}


def test_text_and_codes():
    assert clean_text("  Ada \n Lovelace ") == "Ada Lovelace" and clean_text("   ") is None
    assert code(" ca ") == "CA" and code("") is None and code(None) is None


def test_a_lead_form_becomes_the_captured_event():
    sid = uuid.uuid4()
    event = lead_captured({"email": "ada@acme.com", "first_name": " Ada ", "country": "de", "state": " by ",
                           "utm_source": "LinkedIn", "company_size": 300, "attributes": {"consent": True}},
                          submission_id=sid, source="web-form")
    assert (event.submission_id, event.source, event.email) == (sid, "web-form", "ada@acme.com")
    assert (event.first_name, event.country, event.state, event.company_size) == ("Ada", "DE", "BY", 300)
    assert event.company_domain == "acme.com"  # from the email when the form gives none
    assert event.utm == {"utm_source": "linkedin"} and event.attributes == {"consent": True}


def test_an_activity_without_a_time_happened_now():
    now = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
    event = activity_recorded({"email": "ada@acme.com", "activity_type": "demo_request"},
                              submission_id=uuid.uuid4(), source="web-form", now=now)
    assert event.occurred_at == now and event.detail == {}


def test_the_request_hash_ignores_key_order_and_sees_any_change():
    assert request_hash({"a": 1, "b": [1, 2]}) == request_hash({"b": [1, 2], "a": 1})
    assert request_hash({"a": 1}) != request_hash({"a": 2})
