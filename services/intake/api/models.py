"""What sources may post, validated field by field with the reason on failure."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from services.intake.domain.normalise import normalise_email


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_max_length=500)

    email: str = Field(description="the person's email; the lead's identity")

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        return normalise_email(value)


class LeadIn(_In):
    first_name: str | None = None
    last_name: str | None = None
    company: str | None = None
    company_domain: str | None = Field(None, description="domain or website; defaults to the email's domain")
    job_title: str | None = None
    phone: str | None = None
    country: str | None = Field(None, min_length=2, max_length=2, description="ISO 3166-1 alpha-2")
    region: str | None = Field(None, description="sales region or province, e.g. EMEA, Bavaria")
    state: str | None = Field(None, description="state or province code, e.g. CA")
    company_size: int | None = Field(None, ge=0, le=10_000_000, description="employees")
    industry: str | None = None
    utm_source: str | None = None
    utm_medium: str | None = None
    utm_campaign: str | None = None
    utm_term: str | None = None
    utm_content: str | None = None
    attributes: dict[str, Any] = Field(default_factory=dict, description="any further fields, kept as sent")


class ActivityIn(_In):
    activity_type: str = Field(min_length=1, max_length=100, pattern=r"^[a-z][a-z0-9_]*$",
                               description="snake_case, e.g. demo_request, pricing_page_view")
    occurred_at: datetime | None = Field(None, description="when it happened; defaults to now")
    detail: dict[str, Any] = Field(default_factory=dict)


class Accepted(BaseModel):
    submission_id: str
    lead_id: str
    correlation_id: str
    status: str = "accepted"
