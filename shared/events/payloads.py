"""Versioned payloads, one model per event type. Each class names its event type, its
version and the topic it travels on, so an envelope derives them from the payload and
the three cannot disagree. The topic name carries the version: a new shape is a new
class on a new topic (``LeadScored`` is version 2; version 1 is still read, see
``LeadScoredV1``)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.events import topics
from shared.events.topics import Topic

Stage = Literal["below", "mql", "fast_track"]
"""Where a score puts a lead: below the MQL threshold, an MQL, or hot (fast track)."""
ScoreTrigger = Literal["captured", "activity", "definition", "decay", "manual"]
"""What made scoring look at the lead again."""
Strategy = Literal["round_robin", "weighted_round_robin", "least_loaded"]
"""How a team shares its leads."""
RoutedVia = Literal["account_match", "rule", "fallback", "manual"]
"""How the target was found when no team strategy chose the owner."""
SlaAction = Literal["escalate", "reassign", "give_up", "no_one_to_reassign"]
"""What the SLA clock did when a deadline passed."""


class Payload(BaseModel):
    """Base of every event body; subclasses set ``event_type``, ``version`` and ``topic``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_type: ClassVar[str]
    version: ClassVar[int] = 1
    topic: ClassVar[Topic]


class LeadCaptured(Payload):
    """A form or automation tool submitted a person; intake validated and normalised it."""

    event_type: ClassVar[str] = "lead.captured"
    topic: ClassVar[Topic] = topics.LEAD_CAPTURED

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

    event_type: ClassVar[str] = "lead.activity"
    topic: ClassVar[Topic] = topics.LEAD_ACTIVITY

    submission_id: uuid.UUID
    source: str
    email: str
    activity_type: str
    occurred_at: datetime
    detail: dict[str, Any] = Field(default_factory=dict)


class RuleHit(BaseModel):
    """One rule of the lead definition that counted, with its points and why."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rule: str
    points: int
    detail: str = ""


class LeadProfile(BaseModel):
    """What scoring knows of the person and their company that routing decides on."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    company: str | None = None
    company_domain: str | None = None
    email_domain: str | None = None
    job_title: str | None = None
    country: str | None = None
    region: str | None = None
    state: str | None = None
    company_size: int | None = None
    industry: str | None = None


class _ScoreFields(Payload):
    """What every version of the scored event says."""

    email: str
    cycle: int
    definition_version: str
    fit_score: int
    engagement_score: int
    score: int
    threshold: int
    qualified: bool
    rules_fired: list[RuleHit]
    stage: Stage = "below"
    grade: str | None = None
    newly_qualified: bool = False
    trigger: ScoreTrigger = "captured"
    source: str | None = None
    held_because: str | None = None
    """At or above the threshold, yet not qualified: why (a minimum fit or engagement, or a
    grade cell the definition's ``qualification`` does not allow, or a person disqualified it)."""
    judgement: dict[str, Any] | None = None
    """A person qualified or disqualified the lead by hand in this cycle: ``{cycle, qualified,
    by, reason, at}``; it decides ``qualified`` whatever the score says, until the cycle ends."""


class LeadScored(_ScoreFields):
    """The lead's score against one version of the lead definition, with the reasons.

    ``newly_qualified`` is true on exactly one event per lead per cycle: the one
    where it first reached MQL in that cycle.
    """

    event_type: ClassVar[str] = "lead.scored"
    version: ClassVar[int] = 2
    topic: ClassVar[Topic] = topics.LEAD_SCORED

    profile: LeadProfile = LeadProfile()


class LeadScoredV1(_ScoreFields):
    """Version 1 of ``LeadScored``: the profile was a free ``attributes`` dict. Read only."""

    event_type: ClassVar[str] = "lead.scored"
    version: ClassVar[int] = 1
    topic: ClassVar[Topic] = topics.LEAD_SCORED_V1

    attributes: dict[str, Any] = Field(default_factory=dict)

    def upgraded(self) -> LeadScored:
        fields = self.model_dump(exclude={"attributes"})
        return LeadScored(**fields, profile=_profile_from_attributes(self.attributes))


def _profile_from_attributes(attributes: dict[str, Any]) -> LeadProfile:
    def text(name: str) -> str | None:
        value = attributes.get(name)
        if isinstance(value, bool) or value is None:
            return None
        shown = str(value).strip() if isinstance(value, str | int | float) else ""
        return shown or None

    size = attributes.get("company_size")
    if isinstance(size, str) and size.strip().isdecimal():
        size = int(size.strip())
    return LeadProfile(
        company=text("company"), company_domain=text("company_domain"), email_domain=text("email_domain"),
        job_title=text("job_title"), country=text("country"), region=text("region"), state=text("state"),
        company_size=size if isinstance(size, int) and not isinstance(size, bool) else None,
        industry=text("industry"),
    )


class LeadNurtured(Payload):
    """The lead goes (back) to marketing nurturing, and why."""

    event_type: ClassVar[str] = "lead.nurture"
    topic: ClassVar[Topic] = topics.LEAD_NURTURE

    email: str
    cycle: int
    reason: str
    score: int | None = None


class LeadRouted(Payload):
    """A qualified lead got an owner; ``reason`` says why this one, ``decision`` shows
    every candidate considered and why each was skipped."""

    event_type: ClassVar[str] = "lead.routed"
    topic: ClassVar[Topic] = topics.LEAD_ROUTED

    email: str
    cycle: int
    owner_id: str
    owner_name: str
    policy_version: str
    strategy: Strategy | RoutedVia = Field(
        description="the team's strategy that chose the owner, or how the target was found without one")
    reason: str
    score: int
    team_id: str | None = None
    rule: str | None = None
    sla_due_at: datetime | None = None
    reassigned_from: str | None = None
    decision: dict[str, Any] = Field(default_factory=dict)


class SlaBreached(Payload):
    """Sales did not accept in time: escalated, and reassigned unless the cap is reached."""

    event_type: ClassVar[str] = "lead.sla_breached"
    topic: ClassVar[Topic] = topics.LEAD_SLA

    email: str
    cycle: int
    owner_id: str
    due_at: datetime
    breaches: int
    action: SlaAction


class Outcome(StrEnum):
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    RECYCLED = "recycled"
    CONVERTED = "converted"  # to an opportunity
    WON = "won"
    LOST = "lost"


class OutcomeRecorded(Payload):
    """What sales (the CRM) says became of the lead."""

    event_type: ClassVar[str] = "lead.outcome"
    topic: ClassVar[Topic] = topics.LEAD_OUTCOME

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


class LeadErased(Payload):
    """The person asked to be forgotten: every service erases what it holds about this lead id.
    Ids only: the erasure must not itself become a copy of what it erases."""

    event_type: ClassVar[str] = "lead.erased"
    topic: ClassVar[Topic] = topics.LEAD_ERASURE

    erasure_id: uuid.UUID
    requested_at: datetime


class DeadLetter(BaseModel):
    """A record a consumer gave up on; the raw bytes are kept so it can be replayed."""

    model_config = ConfigDict(frozen=True)

    original_topic: str
    partition: int
    offset: int
    key: str | None
    value_b64: str  # "" when the original was too large to keep (value_bytes says how large)
    error: str
    consumer_group: str
    attempts: int
    failed_at: datetime
    value_bytes: int | None = None  # the original's size; letters written before it was kept have none
    value_kept: bool = True  # False: too large for a letter; it is only on its topic, at its offset


PAYLOADS: tuple[type[Payload], ...] = (
    LeadCaptured, ActivityRecorded, LeadScored, LeadScoredV1, LeadNurtured, LeadRouted, SlaBreached,
    OutcomeRecorded, LeadErased,
)
"""Every payload the pipeline reads, current and older versions."""

_BY_TYPE_AND_VERSION: dict[tuple[str, int], type[Payload]] = {(p.event_type, p.version): p for p in PAYLOADS}
CURRENT: dict[str, type[Payload]] = {p.event_type: p for p in PAYLOADS if p.topic is not topics.LEAD_SCORED_V1}
"""Event type -> the payload class new events of that type are written with."""


def topic_of(event_type: str, version: int | None = None) -> str:
    """The topic events of ``event_type`` (in ``version``; default: the current one) travel on.
    KeyError for an unknown type or version."""
    model = CURRENT[event_type] if version is None else _BY_TYPE_AND_VERSION[(event_type, version)]
    return model.topic.name


def parse_payload(event_type: str, version: int, payload: dict[str, Any]) -> Payload:
    """The current payload model for a stored body: an older version is read and upgraded.

    Raises KeyError for an unknown type or version, ValidationError for a bad body.
    """
    model = _BY_TYPE_AND_VERSION[(event_type, version)]
    parsed = model.model_validate(payload)
    return parsed.upgraded() if isinstance(parsed, LeadScoredV1) else parsed
