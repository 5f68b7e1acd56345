"""What feedback's API takes and answers, field by field."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from services.feedback.domain.stages import MAX_AMOUNT
from shared.events.payloads import Outcome
from shared.identity import normalise_email
from shared.validation import CleanInput

# -- the closed loop ---------------------------------------------------------------------------

class CrmOutcome(CleanInput):
    """What became of a lead, as the CRM says; lead_id or email names the lead."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "delivery_id": "crm-7781", "email": "ada@acme.com", "outcome": "won", "amount": "48000.00",
        "currency": "EUR"}]})

    delivery_id: str = Field(min_length=1, max_length=200, description="unique per delivery; replays are refused")
    lead_id: uuid.UUID | None = None
    email: str | None = Field(None, max_length=320, description="instead of lead_id")
    outcome: Outcome
    reason: str | None = Field(None, max_length=200, description=(
        "rejected, recycled, lost: one of the agreed reasons (HANDOFF_FEEDBACK_REJECTION_REASONS, "
        "_RECYCLE_REASONS, _LOSS_REASONS); another is a 422 that lists them"))
    amount: Decimal | None = Field(None, ge=0, le=MAX_AMOUNT, decimal_places=2)
    currency: str | None = Field(None, pattern=r"^[A-Za-z]{3}$", description="ISO 4217, e.g. EUR")
    nurture_track: str | None = Field(None, max_length=100, description="recycled: the nurture programme")
    retry_after: date | None = Field(None, description=(
        "recycled: the lead stays in nurture until this day (after today, at most 730 days ahead); its "
        "activity meanwhile counts, it qualifies no earlier"))

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        return None if value is None else normalise_email(value)

    @model_validator(mode="after")
    def _identified(self) -> CrmOutcome:
        if self.lead_id is None and not self.email:
            raise ValueError("give lead_id or email")
        return self


class OutcomeApplied(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "status": "applied", "lead_id": "7d5e7c1e-3b0f-5d7e-9d71-1d7b0f3e2a11", "stage": "won", "cycle": 1}]})

    status: Literal["applied"] = "applied"
    lead_id: uuid.UUID
    stage: str
    cycle: int


class EventResultView(BaseModel):
    delivery_id: str
    result: Literal["linked", "applied", "parked", "duplicate", "ignored"]
    detail: str | None


class HubSpotReceipt(BaseModel):
    """What became of each event of the delivery."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "received": 1, "applied": 1, "linked": 0, "parked": 0, "duplicate": 0, "ignored": 0,
        "events": [{"delivery_id": "hubspot:33:25:1:123:1764666000000", "result": "applied",
                    "detail": "lead 7d5e7c1e-3b0f-5d7e-9d71-1d7b0f3e2a11 is now accepted"}]}]})

    received: int
    applied: int
    linked: int
    parked: int
    duplicate: int
    ignored: int
    events: list[EventResultView]


# -- a lead's story -----------------------------------------------------------------------------

class TimelineEntry(BaseModel):
    event_id: uuid.UUID
    type: str
    occurred_at: datetime
    producer: str
    correlation_id: str
    causation_id: uuid.UUID | None
    payload: dict[str, Any]


class Timeline(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "lead_id": "7d5e7c1e-3b0f-5d7e-9d71-1d7b0f3e2a11", "stage": "routed", "cycle": 1, "owner_id": "ana.silva",
        "events": [{"event_id": "3f0c5e0a-1b2c-4d3e-8f4a-5b6c7d8e9f00", "type": "lead.captured",
                    "occurred_at": "2026-12-02T09:00:00Z", "producer": "intake", "correlation_id": "c-1",
                    "causation_id": None, "payload": {"email": "ada@acme.com", "source": "web-form"}}]}]})

    lead_id: uuid.UUID
    stage: str | None
    cycle: int | None
    owner_id: str | None
    events: list[TimelineEntry]


# -- reports -----------------------------------------------------------------------------------

class Durations(BaseModel):
    count: int
    median_s: float | None
    p90_s: float | None


class SalesSla(BaseModel):
    counted: int
    met: int
    missed: int
    pending: int
    compliance: str | None = Field(description="met / counted, 4 decimals")


class MarketingSla(BaseModel):
    promised: int
    delivered: int
    ratio: str | None
    met: bool


class Figures(BaseModel):
    leads: int
    mqls: int
    accepted: int
    rejected: int
    rejected_by_reason: dict[str, int]
    recycled: int
    recycled_by_reason: dict[str, int] = Field(description="recycles per reason of the agreed vocabulary")
    opportunities: int
    won: int
    lost: int
    lost_by_reason: dict[str, int] = Field(description="lost deals per reason of the agreed vocabulary")
    won_in_currency: int
    revenue: str = Field(description="in the report's currency, a decimal number as text")
    revenue_other_currencies: dict[str, str]
    conversion: dict[str, str | None] = Field(description="stage-to-stage rates, 4 decimals; None: nothing to "
                                                          "divide by")
    time_to_assigned: Durations
    time_to_accepted: Durations
    sales_sla: SalesSla


class GroupFigures(Figures):
    key: str | None


class FunnelReport(BaseModel):
    """The funnel of the leads captured in the period; conventions at the top of domain/reports.py."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "period_start": "2026-11-01T00:00:00Z", "period_end": "2026-12-01T00:00:00Z", "now": "2026-12-02T09:00:00Z",
        "group_by": None, "currency": "EUR", "groups": [], "marketing_sla": None,
        "total": {"leads": 0, "mqls": 0, "accepted": 0, "rejected": 0, "rejected_by_reason": {}, "recycled": 0,
                  "recycled_by_reason": {}, "opportunities": 0, "won": 0, "lost": 0, "lost_by_reason": {},
                  "won_in_currency": 0, "revenue": "0",
                  "revenue_other_currencies": {}, "conversion": {"lead_to_mql": None},
                  "time_to_assigned": {"count": 0, "median_s": None, "p90_s": None},
                  "time_to_accepted": {"count": 0, "median_s": None, "p90_s": None},
                  "sales_sla": {"counted": 0, "met": 0, "missed": 0, "pending": 0, "compliance": None}}}]})

    period_start: datetime
    period_end: datetime
    now: datetime
    group_by: Literal["source", "campaign", "intake", "owner", "week", "month"] | None
    currency: str
    groups: list[GroupFigures]
    total: Figures
    marketing_sla: MarketingSla | None


class Credit(BaseModel):
    leads: str = Field(description="credited leads, a decimal with 2 places (linear shares are fractions)")
    mqls: str
    accepted: str
    opportunities: str
    won: str
    revenue: str = Field(description="credited revenue won in the report's currency")


class CreditRowView(Credit):
    key: str | None = Field(description="the source (channel) or campaign; null: none")


class AttributionView(BaseModel):
    """Credit by source or campaign under one attribution model."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "period_start": "2026-11-01T00:00:00Z", "period_end": "2026-12-01T00:00:00Z", "model": "linear",
        "by": "source", "currency": "EUR",
        "rows": [{"key": "linkedin", "leads": "1.50", "mqls": "1.00", "accepted": "0.50", "opportunities": "0.50",
                  "won": "0.50", "revenue": "24000.00"}],
        "total": {"leads": "2.00", "mqls": "1.00", "accepted": "1.00", "opportunities": "1.00", "won": "1.00",
                  "revenue": "48000.00"}}]})

    period_start: datetime
    period_end: datetime
    model: Literal["first_touch", "last_touch", "linear"]
    by: Literal["source", "campaign"]
    currency: str
    rows: list[CreditRowView]
    total: Credit


class PlanRequest(CleanInput):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"revenue_goal": 500000, "period_days": 90}]})

    revenue_goal: Decimal = Field(gt=0, le=Decimal("1e15"), decimal_places=2)
    period_days: int = Field(90, gt=0, le=366, description="the period the goal is for")
    window_days: int = Field(90, gt=0, le=730, description="the trailing window the rates are measured over")
    currency: str = Field("EUR", pattern=r"^[A-Za-z]{3}$")


class RevenuePlan(BaseModel):
    """What the goal needs at each stage, against the run rate; conventions in domain/planner.py."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "revenue_goal": "500000", "currency": "EUR", "period_days": 90, "window_days": 90,
        "average_deal_size": None, "needed": {"leads": None, "mqls": None, "sqls": None, "opportunities": None,
                                              "customers": None},
        "run_rate": {"leads": "0.00"}, "revenue_run_rate": "0.00", "gaps": {"leads": None}, "feasible": False,
        "on_track": None, "missing": ["average_deal_size: no won deal with revenue in EUR in the window"]}]})

    revenue_goal: str
    currency: str
    period_days: int
    window_days: int
    average_deal_size: str | None
    needed: dict[str, int | None]
    run_rate: dict[str, str]
    revenue_run_rate: str
    gaps: dict[str, str | None]
    feasible: bool
    on_track: bool | None
    missing: list[str]


# -- parked outcomes ---------------------------------------------------------------------------

ParkedStatus = Literal["parked", "applied", "discarded"]


class ParkedView(BaseModel):
    id: int
    delivery_id: str
    source: str
    contact_ref: str | None
    lead_id: uuid.UUID | None
    received: dict[str, Any] = Field(description="what the CRM sent, as it was received")
    problem: str
    status: ParkedStatus
    parked_at: datetime
    resolved_at: datetime | None
    resolved_by: str | None
    note: str | None


class ParkedList(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"status": "parked", "count": 0, "items": []}]})

    status: ParkedStatus
    count: int
    items: list[ParkedView]


class RetryResult(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": 3, "status": "applied", "detail": "lead 7d5e7c1e-3b0f-5d7e-9d71-1d7b0f3e2a11 is now accepted"}]})

    id: int
    status: Literal["applied"]
    detail: str


class DiscardRequest(CleanInput):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"note": "test event from HubSpot"}]})

    note: str = Field(min_length=3, max_length=1000, description="why it is dropped, for the record")


class Discarded(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"id": 3, "status": "discarded"}]})

    id: int
    status: Literal["discarded"]


# -- the operator page -------------------------------------------------------------------------

class TopicFigures(BaseModel):
    topic: str
    partitions: int
    messages: int
    messages_per_s: float | None
    lag: int


class GroupLagView(BaseModel):
    group: str
    topic: str
    lag: int


class KafkaFigures(BaseModel):
    topics: list[TopicFigures]
    consumer_lag: list[GroupLagView]
    dead_letters: int


class FunnelSummary(BaseModel):
    leads: int
    mqls: int
    routed: int
    accepted: int
    rejected: int
    recycled: int
    won: int


class OperationsOverview(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "generated_at": "2026-12-02T09:00:00Z", "kafka": {"topics": [], "consumer_lag": [], "dead_letters": 0},
        "sla_breaches": {"last_hour": 0, "last_day": 0}, "parked_outcomes": 0,
        "funnel": {"last_hour": {"leads": 0, "mqls": 0, "routed": 0, "accepted": 0, "rejected": 0, "recycled": 0,
                                 "won": 0}}}]})

    generated_at: datetime
    kafka: KafkaFigures
    sla_breaches: dict[str, int]
    parked_outcomes: int
    funnel: dict[str, FunnelSummary]
