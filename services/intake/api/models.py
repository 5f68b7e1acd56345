"""What sources may post, validated field by field with the reason on failure, and what
they get back."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator
from pydantic.config import JsonDict

from shared.identity import normalise_email
from shared.validation import BoundedJson, CleanInput

LEAD_EXAMPLE: JsonDict = {"email": "ada@acme.com", "first_name": "Ada", "last_name": "Lovelace", "company": "Acme",
                          "job_title": "VP Sales", "company_size": 300, "industry": "software", "country": "US",
                          "utm_source": "linkedin", "utm_campaign": "q4-launch"}
ACTIVITY_EXAMPLE: JsonDict = {"email": "ada@acme.com", "activity_type": "demo_request",
                              "occurred_at": "2026-11-30T09:15:00Z", "detail": {"page": "/demo"}}


class _Submitted(CleanInput):
    model_config = ConfigDict(extra="forbid", str_max_length=500)

    email: str = Field(max_length=320, description="the person's email; the lead's identity")

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        return normalise_email(value)


class LeadIn(_Submitted):
    model_config = ConfigDict(json_schema_extra={"examples": [LEAD_EXAMPLE]})

    first_name: str | None = None
    last_name: str | None = None
    company: str | None = None
    company_domain: str | None = Field(None, description="domain or website; defaults to the email's domain")
    job_title: str | None = None
    phone: str | None = Field(None, max_length=50)
    country: str | None = Field(None, min_length=2, max_length=2, description="ISO 3166-1 alpha-2")
    region: str | None = Field(None, description="sales region or province, e.g. EMEA, Bavaria")
    state: str | None = Field(None, max_length=10, description="state or province code, e.g. CA")
    company_size: int | None = Field(None, ge=0, le=10_000_000, description="employees")
    industry: str | None = None
    utm_source: str | None = Field(None, max_length=200)
    utm_medium: str | None = Field(None, max_length=200)
    utm_campaign: str | None = Field(None, max_length=200)
    utm_term: str | None = Field(None, max_length=200)
    utm_content: str | None = Field(None, max_length=200)
    attributes: BoundedJson = Field(default_factory=dict, description="any further fields, kept as sent")


class ActivityIn(_Submitted):
    model_config = ConfigDict(json_schema_extra={"examples": [ACTIVITY_EXAMPLE]})

    activity_type: str = Field(min_length=1, max_length=100, pattern=r"^[a-z][a-z0-9_]*$",
                               description="snake_case, e.g. demo_request, pricing_page_view")
    occurred_at: AwareDatetime | None = Field(None, description="when it happened, with its time zone; "
                                                                "defaults to now")
    detail: BoundedJson = Field(default_factory=dict)

    @field_validator("occurred_at")
    @classmethod
    def _plausible(cls, value: datetime | None) -> datetime | None:
        if value is not None and not 1970 <= value.year <= 9000:
            raise ValueError("must be a date between 1970 and 9000")
        return value


class Accepted(BaseModel):
    """The submission is committed: its event will reach scoring."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "submission_id": "0b6f6a52-8a2b-4c71-9d55-3f1ac3a3c0de", "lead_id": "7d5e7c1e-3b0f-5d7e-9d71-1d7b0f3e2a11",
        "correlation_id": "c0a8012e-5f4b-4d0c-8f6e-2a9b1c3d4e5f", "status": "accepted"}]})

    submission_id: uuid.UUID
    lead_id: uuid.UUID
    correlation_id: str
    status: Literal["accepted"] = "accepted"
