"""Versioned payloads, one model per event type; the topic name carries the version."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from shared.events import topics


class Payload(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class LeadCaptured(Payload):
    """A form or automation tool submitted a person; intake validated and normalised it."""

    submission_id: uuid.UUID
    source: str
    email: str
    first_name: str | None = None
    last_name: str | None = None
    company: str | None = None
    company_domain: str | None = None
    job_title: str | None = None
    phone: str | None = None
    country: str | None = None
    region: str | None = None
    state: str | None = None
    company_size: int | None = None
    industry: str | None = None
    utm: dict[str, str] = Field(default_factory=dict)
    attributes: dict[str, Any] = Field(default_factory=dict)


class ActivityRecorded(Payload):
    """Something the person did: a demo request, a pricing-page view, a webinar."""

    submission_id: uuid.UUID
    source: str
    email: str
    activity_type: str
    occurred_at: datetime
    detail: dict[str, Any] = Field(default_factory=dict)


class RuleHit(Payload):
    rule: str
    points: int
    detail: str = ""


class LeadScored(Payload):
    """The lead's score against one version of the lead definition, with the reasons.

    ``newly_qualified`` is true on exactly one event per lead per cycle: the one
    where it first reached MQL in that cycle.
    """

    email: str
    cycle: int
    definition_version: str
    fit_score: int
    engagement_score: int
    score: int
    threshold: int
    qualified: bool
    rules_fired: list[RuleHit]
    stage: str = "below"
    grade: str | None = None
    newly_qualified: bool = False
    trigger: str = "captured"
    source: str | None = None
    attributes: dict[str, Any] = Field(default_factory=dict)


class LeadNurtured(Payload):
    """The lead goes (back) to marketing nurturing, and why."""

    email: str
    cycle: int
    reason: str
    score: int | None = None


class LeadRouted(Payload):
    """A qualified lead got an owner; ``reason`` says why this one, ``decision`` shows
    every candidate considered and why each was skipped."""

    email: str
    cycle: int
    owner_id: str
    owner_name: str
    policy_version: str
    strategy: str
    reason: str
    score: int
    team_id: str | None = None
    rule: str | None = None
    sla_due_at: datetime | None = None
    reassigned_from: str | None = None
    decision: dict[str, Any] = Field(default_factory=dict)


class SlaBreached(Payload):
    """Sales did not accept in time: escalated, and reassigned unless the cap is reached."""

    email: str
    cycle: int
    owner_id: str
    due_at: datetime
    breaches: int
    action: str


class Outcome(StrEnum):
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    RECYCLED = "recycled"
    CONVERTED = "converted"  # to an opportunity
    WON = "won"
    LOST = "lost"


class OutcomeRecorded(Payload):
    """What sales (the CRM) says became of the lead."""

    email: str
    outcome: Outcome
    cycle: int
    reason: str | None = None
    amount: Decimal | None = None
    currency: str | None = None
    crm_delivery_id: str | None = None
    owner_id: str | None = None
    nurture_track: str | None = None
    retry_after: date | None = None


class DeadLetter(BaseModel):
    """A record a consumer gave up on; the raw bytes are kept so it can be replayed."""

    model_config = ConfigDict(frozen=True)

    original_topic: str
    partition: int
    offset: int
    key: str | None
    value_b64: str
    error: str
    consumer_group: str
    attempts: int
    failed_at: datetime


EVENT_TYPES: dict[str, tuple[str, type[Payload]]] = {
    "lead.captured": (topics.LEAD_CAPTURED.name, LeadCaptured),
    "lead.activity": (topics.LEAD_ACTIVITY.name, ActivityRecorded),
    "lead.scored": (topics.LEAD_SCORED.name, LeadScored),
    "lead.nurture": (topics.LEAD_NURTURE.name, LeadNurtured),
    "lead.routed": (topics.LEAD_ROUTED.name, LeadRouted),
    "lead.outcome": (topics.LEAD_OUTCOME.name, OutcomeRecorded),
    "lead.sla_breached": (topics.LEAD_SLA.name, SlaBreached),
}
"""Event type -> (topic it travels on, payload model)."""


def topic_for(event_type: str) -> str:
    return EVENT_TYPES[event_type][0]


def parse_payload(event_type: str, payload: dict[str, Any]) -> Payload:
    """Raises KeyError for an unknown type, ValidationError for a bad body."""
    return EVENT_TYPES[event_type][1].model_validate(payload)
