"""What sources may post, validated field by field with the reason on failure, and what
they get back."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic.config import JsonDict
from pydantic_core import InitErrorDetails, PydanticCustomError

from shared.identity import normalise_email
from shared.validation import BoundedJson, CleanInput

MAX_ATTRIBUTES = 50
MAX_FUTURE = timedelta(minutes=5)
"""How far ahead of our clock an activity may be dated: clock skew, not a scheduled event."""

LEAD_EXAMPLE: JsonDict = {"email": "ada@acme.com", "first_name": "Ada", "last_name": "Lovelace", "company": "Acme",
                          "job_title": "VP Sales", "company_size": 300, "industry": "software", "country": "US",
                          "utm_source": "linkedin", "utm_campaign": "q4-launch"}
ACTIVITY_EXAMPLE: JsonDict = {"email": "ada@acme.com", "activity_type": "demo_request",
                              "occurred_at": "2026-11-30T09:15:00Z", "detail": {"page": "/demo"}}


def _field_name(key: str) -> str:
    """How a key reads as a field name: 'Job-Title ' and 'job title' both read 'job_title'."""
    return re.sub(r"[\s\-.]+", "_", key.strip().lower())


class _Submitted(CleanInput):
    model_config = ConfigDict(extra="forbid", str_max_length=500)

    FREE_FORM: ClassVar[str] = ""  # the free-form JSON field, whose keys may not shadow a validated field
    RESERVED: ClassVar[frozenset[str]] = frozenset()  # further names its keys may not take

    email: str = Field(max_length=320, description="the person's email; the lead's identity")

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        return normalise_email(value)

    @model_validator(mode="before")
    @classmethod
    def _free_form_keys(cls, data: Any) -> Any:
        """At most MAX_ATTRIBUTES keys, and none that reads as a validated field: a form's
        ``attributes.job_title`` would otherwise stand in for the job title we checked."""
        free_form = data.get(cls.FREE_FORM) if isinstance(data, dict) and cls.FREE_FORM else None
        if not isinstance(free_form, dict):
            return data
        problems: list[InitErrorDetails] = []
        if len(free_form) > MAX_ATTRIBUTES:
            problems.append(_problem((cls.FREE_FORM,), f"has {len(free_form)} keys; at most {MAX_ATTRIBUTES} "
                                                       "are accepted", len(free_form)))
        validated = set(cls.model_fields) | cls.RESERVED
        for key in free_form:
            if isinstance(key, str) and _field_name(key) in validated:
                problems.append(_problem((cls.FREE_FORM, key), f"'{key}' is a field of its own: send it as "
                                         f"{_field_name(key)}, not inside {cls.FREE_FORM}", key))
        if problems:
            raise ValidationError.from_exception_data(cls.__name__, problems)
        return data


def _problem(loc: tuple[str | int, ...], message: str, value: Any) -> InitErrorDetails:
    return InitErrorDetails(type=PydanticCustomError("free_form", "{problem}", {"problem": message}), loc=loc,
                            input=value)


class LeadIn(_Submitted):
    model_config = ConfigDict(json_schema_extra={"examples": [LEAD_EXAMPLE]})

    FREE_FORM: ClassVar[str] = "attributes"
    RESERVED: ClassVar[frozenset[str]] = frozenset({"email_domain", "source", "lead_id", "score", "stage", "grade",
                                                    "utm"})  # what the pipeline itself adds to a profile

    first_name: str | None = None
    last_name: str | None = None
    company: str | None = None
    company_domain: str | None = Field(None, description="domain or website; defaults to the email's domain")
    job_title: str | None = None
    phone: str | None = Field(None, max_length=50)
    country: str | None = Field(None, min_length=2, max_length=2, description="ISO 3166-1 alpha-2")
    region: str | None = Field(None, description="sales region or province, e.g. EMEA, Bavaria")
    state: str | None = Field(None, max_length=10, description="state or province code, e.g. CA")
    company_size: int | None = Field(None, ge=0, le=10_000_000, description="employees, a whole number")
    industry: str | None = None
    utm_source: str | None = Field(None, max_length=200)
    utm_medium: str | None = Field(None, max_length=200)
    utm_campaign: str | None = Field(None, max_length=200)
    utm_term: str | None = Field(None, max_length=200)
    utm_content: str | None = Field(None, max_length=200)
    attributes: BoundedJson = Field(default_factory=dict, description=(
        f"any further fields, kept as sent: at most {MAX_ATTRIBUTES} keys, none named like a field above"))

    @field_validator("company_size", mode="before")
    @classmethod
    def _not_a_flag(cls, value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError("must be a whole number of employees, not true or false")
        return value


class ActivityIn(_Submitted):
    model_config = ConfigDict(json_schema_extra={"examples": [ACTIVITY_EXAMPLE]})

    FREE_FORM: ClassVar[str] = "detail"

    activity_type: str = Field(min_length=1, max_length=100, pattern=r"^[a-z][a-z0-9_]*$",
                               description="snake_case, e.g. demo_request, pricing_page_view")
    occurred_at: AwareDatetime | None = Field(None, description=(
        "when it happened, with its time zone; defaults to now; at most 5 minutes ahead of intake's clock"))
    detail: BoundedJson = Field(default_factory=dict, description=f"at most {MAX_ATTRIBUTES} keys")

    @field_validator("occurred_at")
    @classmethod
    def _plausible(cls, value: datetime | None) -> datetime | None:
        """A future activity would keep full points and never decay: refused, not clamped."""
        if value is None:
            return value
        if value.year < 1970:
            raise ValueError("must be a date after 1970")
        ahead = value - datetime.now(UTC)
        if ahead > MAX_FUTURE:
            raise ValueError(f"is {_duration(ahead)} in the future; at most {MAX_FUTURE.seconds // 60} minutes "
                             "ahead of our clock is accepted")
        return value


def _duration(delta: timedelta) -> str:
    if delta >= timedelta(days=2):
        return f"{delta.days} days"
    if delta >= timedelta(hours=2):
        return f"{delta.seconds // 3600 + delta.days * 24} hours"
    return f"{int(delta.total_seconds() // 60)} minutes"


class Accepted(BaseModel):
    """The submission is committed: its event will reach scoring."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "submission_id": "0b6f6a52-8a2b-4c71-9d55-3f1ac3a3c0de", "lead_id": "7d5e7c1e-3b0f-5d7e-9d71-1d7b0f3e2a11",
        "correlation_id": "c0a8012e-5f4b-4d0c-8f6e-2a9b1c3d4e5f", "status": "accepted"}]})

    submission_id: uuid.UUID
    lead_id: uuid.UUID
    correlation_id: str
    status: Literal["accepted"] = "accepted"


MAX_BATCH_ITEMS = 1000

IdempotencyKeyField = Field(None, min_length=1, max_length=200, pattern=r"^[\x21-\x7e]+$",
                            description="this item's Idempotency-Key: a retried batch makes no second submission")


class BatchLeadIn(LeadIn):
    """One lead of a batch: a lead as POST /leads takes it, with its own idempotency key."""

    idempotency_key: str | None = IdempotencyKeyField


class BatchActivityIn(ActivityIn):
    """One activity of a batch, with its own idempotency key."""

    idempotency_key: str | None = IdempotencyKeyField


def _items_of(model: type[BaseModel]) -> Any:
    """Items are read one by one (a bad item refuses only itself), yet documented as ``model``."""
    return Annotated[list[Any], Field(min_length=1, max_length=MAX_BATCH_ITEMS),
                     WithJsonSchema({"type": "array", "minItems": 1, "maxItems": MAX_BATCH_ITEMS,
                                     "items": model.model_json_schema()})]


class LeadBatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"leads": [
        {**LEAD_EXAMPLE, "idempotency_key": "crm-sync-2026-12-02-0001"},
        {"email": "grace@hopper.io", "first_name": "Grace", "idempotency_key": "crm-sync-2026-12-02-0002"},
    ]}]})

    leads: _items_of(BatchLeadIn) = Field(description=f"1 to {MAX_BATCH_ITEMS} leads")  # type: ignore[valid-type]


class ActivityBatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"activities": [
        {**ACTIVITY_EXAMPLE, "idempotency_key": "mkto-activity-88121"}]}]})

    activities: _items_of(BatchActivityIn) = Field(  # type: ignore[valid-type]
        description=f"1 to {MAX_BATCH_ITEMS} activities")


class ItemProblem(BaseModel):
    field: str = Field(description="the field's path within the item: 'email', 'attributes.job_title'")
    reason: str


class BatchItemAnswer(BaseModel):
    index: int = Field(description="the item's position in the request, from 0")
    status: Literal["accepted", "refused"]
    lead_id: uuid.UUID | None = None
    submission_id: uuid.UUID | None = None
    replayed: bool = Field(False, description="true when this answers an earlier submission with the same key")
    errors: list[ItemProblem] = Field(default_factory=list, description="why the item was refused")


class BatchAccepted(BaseModel):
    """Every accepted item is committed (its event will reach scoring); refused items were
    not stored, and say why."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "accepted": 1, "refused": 1, "correlation_id": "c0a8012e-5f4b-4d0c-8f6e-2a9b1c3d4e5f",
        "items": [{"index": 0, "status": "accepted", "lead_id": "7d5e7c1e-3b0f-5d7e-9d71-1d7b0f3e2a11",
                   "submission_id": "0b6f6a52-8a2b-4c71-9d55-3f1ac3a3c0de", "replayed": False, "errors": []},
                  {"index": 1, "status": "refused", "lead_id": None, "submission_id": None, "replayed": False,
                   "errors": [{"field": "email", "reason": "not an email address: there must be something after "
                                                           "the @-sign"}]}]}]})

    accepted: int
    refused: int
    correlation_id: str
    items: list[BatchItemAnswer]
