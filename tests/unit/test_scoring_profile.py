"""Scoring's profile of a submission: custom attributes never stand in for a validated field,
even in events written before intake refused such attributes."""

from __future__ import annotations

import uuid

from services.scoring.domain.profile import profile_of
from shared.events.payloads import LeadCaptured


def test_an_attribute_named_like_a_field_does_not_replace_it_or_fill_it_in():
    captured = LeadCaptured(submission_id=uuid.uuid4(), source="web-form", email="ada@acme.com",
                            job_title="Intern", utm={"utm_source": "linkedin"},
                            attributes={"job_title": "Chief Executive Officer", "company_size": 10_000_000,
                                        "utm_source": "ads", "source": "forged", "message": "hi"})
    profile = profile_of(captured)
    assert profile["job_title"] == "Intern"
    assert "company_size" not in profile
    assert (profile["utm_source"], profile["source"]) == ("linkedin", "web-form")
    assert profile["message"] == "hi"
