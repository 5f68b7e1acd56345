"""What routing's API takes and answers, field by field."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from services.routing.domain.document_fields import Slug, Status
from services.routing.domain.owners import Capacity, OutOfOffice, Owner, WorkingHours
from services.routing.domain.preview import Change
from services.routing.domain.rules import QueueSpec, Team
from shared.events.payloads import RoutedVia, Strategy
from shared.validation import CleanInput

Text = Annotated[str, Field(min_length=1, max_length=200)]
Email = Annotated[str, Field(min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")]
Zone = Annotated[str, Field(min_length=1, max_length=64, examples=["Europe/Berlin"])]
Hours = WorkingHours | Literal["always"]


# -- decisions ---------------------------------------------------------------------------------

class CandidateView(BaseModel):
    owner_id: str
    available: bool
    skipped: str | None = Field(description="why this owner was passed over (inactive, paused, daily_cap, ...)")
    considered_for: str = Field(description="'account', 'team:<id>' or 'owner:<id>'")
    chosen: bool


class RuleCheckView(BaseModel):
    rule: str
    matched: bool
    failed: str | None = Field(description="the first condition the lead failed, with its value, e.g. "
                                            "'company_size 1200 < 5000' or 'industry unknown'; null when matched")


class ManualCall(BaseModel):
    by: str
    reason: str


class AccountMatch(BaseModel):
    domain: str
    owner_id: str


class QueueView(BaseModel):
    target: dict[str, str]
    queued_at: datetime
    max_wait_minutes: int | None
    expires_at: datetime | None
    fallback: dict[str, str] | None
    next_available_at: datetime | None


DECISION_EXAMPLE: dict[str, Any] = {
    "policy_version": "2026-11-30.1", "decided_at": "2026-12-02T09:00:00Z", "rule": "enterprise_emea",
    "target": {"team": "enterprise"}, "via": "rule", "outcome": "assigned", "owner_id": "ana.silva",
    "team_id": "enterprise", "strategy": "round_robin",
    "candidates": [{"owner_id": "ana.silva", "available": True, "skipped": None,
                    "considered_for": "team:enterprise", "chosen": True}],
    "state_before": {"position": 0}, "state_after": {"position": 1}, "sla_minutes": 15,
    "accept_by": "2026-12-02T09:15:00Z", "reassign_at": "2026-12-02T09:45:00Z",
    "reason": "rule enterprise_emea -> team enterprise; round robin chose ana.silva", "account": None,
    "queue": None, "excluded": [],
    "rules": [{"rule": "enterprise_americas", "matched": False, "failed": "country GB not in US/CA/MX/BR"},
              {"rule": "enterprise_emea", "matched": True, "failed": None}]}


class Decision(BaseModel):
    """One routing decision, fully explained: every candidate and why each was skipped."""

    model_config = ConfigDict(json_schema_extra={"examples": [DECISION_EXAMPLE]})

    policy_version: str
    decided_at: datetime
    rule: str
    target: dict[str, str]
    via: RoutedVia
    outcome: Literal["assigned", "queued"]
    owner_id: str | None
    team_id: str | None
    strategy: Strategy | None
    candidates: list[CandidateView]
    state_before: dict[str, Any] | None
    state_after: dict[str, Any] | None
    sla_minutes: int
    accept_by: datetime | None
    reassign_at: datetime | None = None
    reason: str
    account: AccountMatch | None = None
    queue: QueueView | None = None
    excluded: list[str] = []
    manual: ManualCall | None = Field(None, description="a judgement call (via 'manual'): who assigned the lead "
                                                        "by hand, and why")
    rules: list[RuleCheckView] = Field(default=[], description=(
        "every rule of the policy in order, tried on the lead: whether it matched and, when not, why; "
        "the first that matched is `rule` (none: the fallback). Empty on decisions made before this "
        "was recorded"))


class RecordedDecision(Decision):
    model_config = ConfigDict(json_schema_extra={"examples": [{**DECISION_EXAMPLE, "cycle": 1, "kind": "assigned"}]})

    cycle: int
    kind: Literal["assigned", "reassigned", "queued"]


class Assignment(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "lead_id": "7d5e7c1e-3b0f-5d7e-9d71-1d7b0f3e2a11", "cycle": 1, "owner_id": "ana.silva",
        "team_id": "enterprise", "rule": "enterprise_emea", "status": "assigned",
        "reason": "rule enterprise_emea -> team enterprise; round robin chose ana.silva",
        "policy_version": "2026-11-30.1", "assigned_at": "2026-12-02T09:00:00Z",
        "sla_due_at": "2026-12-02T09:15:00Z", "escalated_at": None, "reassignments": 0, "decision": {}}]})

    lead_id: uuid.UUID
    cycle: int
    owner_id: str
    team_id: str | None
    rule: str | None
    status: Literal["assigned", "accepted", "closed"]
    reason: str
    policy_version: str
    assigned_at: datetime
    sla_due_at: datetime | None = Field(description="accept by: the SLA deadline")
    escalated_at: datetime | None
    reassignments: int
    decision: dict[str, Any] = Field(description="the decision record (see Decision)")


class Waiting(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "lead_id": "7d5e7c1e-3b0f-5d7e-9d71-1d7b0f3e2a11", "cycle": 1, "team_id": "enterprise", "owner_id": None,
        "rule": "enterprise_emea", "queued_at": "2026-12-02T09:00:00Z"}]})

    lead_id: uuid.UUID
    cycle: int
    team_id: str | None
    owner_id: str | None
    rule: str
    queued_at: datetime


# -- judgement calls ---------------------------------------------------------------------------

class ManualAssignmentIn(CleanInput):
    """Give the lead to this owner by hand, and say why."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"owner_id": "emma.schmidt", "reason": "she met their CTO at the Berlin meetup"}]})

    owner_id: Slug = Field(description="an owner of the routing policy in force, not inactive")
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)] = Field(
        description="why, in a person's words: kept in the decision record and the timeline")


class ManualAssignmentView(BaseModel):
    lead_id: uuid.UUID
    cycle: int
    owner_id: str
    previous_owner_id: str | None = Field(description="who had the lead until now; null when it was waiting in "
                                                      "a queue or had been nurtured")
    decision: Decision


# -- previews ----------------------------------------------------------------------------------

class PreviewLead(CleanInput):
    """A lead as routing would see it; every fact is optional."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"email": "ada@acme.com", "country": "DE", "company_size": 800, "industry": "software",
         "source": "web-form", "score": 80, "grade": "A2"}]})

    email: str | None = Field(None, max_length=320)
    company_domain: str | None = Field(None, max_length=255)
    country: str | None = Field(None, max_length=2)
    region: str | None = Field(None, max_length=100)
    state: str | None = Field(None, max_length=10)
    industry: str | None = Field(None, max_length=100)
    company_size: int | None = Field(None, ge=0, le=10_000_000)
    source: str | None = Field(None, max_length=100)
    score: int | None = Field(None, ge=-100_000, le=100_000)
    grade: str | None = Field(None, max_length=4)


class PlacementView(BaseModel):
    outcome: Literal["assigned", "queued"]
    owner_id: str | None = Field(description="the owner; when queued, the owner it waits for, if any")
    team_id: str | None = Field(description="the team it went to or waits for, if any")


class LeadMoveView(BaseModel):
    """One open lead: where it is today, and where the candidate would put it."""

    lead_id: str
    email: str | None
    cycle: int
    change: Change
    today: PlacementView
    candidate: PlacementView
    rule: str = Field(description="the candidate's rule for it ('fallback': none matched; 'manual': kept by hand)")
    reason: str


class MovesView(BaseModel):
    gained: int
    lost: int


class PolicyPreviewView(BaseModel):
    """The leads open now (qualified, in their current cycle, assigned and not accepted yet or
    waiting in a queue) routed again under a candidate policy, in order, set against where they
    are today; nothing assigned."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "policy_version": "candidate", "leads": 2, "assigned_per_owner": {"ana.silva": 1, "ben.okafor": 1},
        "queued": 0, "per_rule": {"fallback": 2},
        "changes": {"unchanged": 1, "moved": 1, "now_assigned": 0, "now_queued": 0, "still_queued": 0,
                    "kept_by_hand": 0},
        "moves_per_owner": {"ana.silva": {"gained": 0, "lost": 1}, "ben.okafor": {"gained": 1, "lost": 0}},
        "moves_per_team": {}, "samples": {"moved": [], "unchanged": []}}]})

    policy_version: str
    leads: int = Field(description="open leads routed again (none accepted, closed or nurtured)")
    assigned_per_owner: dict[str, int] = Field(description="the candidate's owner of each open lead, counted")
    queued: int = Field(description="open leads that would wait in a queue")
    per_rule: dict[str, int]
    changes: dict[str, int] = Field(description=(
        "leads per kind of change, every kind listed: unchanged (same owner), moved (another owner), "
        "now_assigned (waits in a queue today), now_queued (has an owner today), still_queued, "
        "kept_by_hand (a person assigned it; no policy moves it)"))
    moves_per_owner: dict[str, MovesView] = Field(description="owners whose leads would change: leads gained "
                                                              "and lost")
    moves_per_team: dict[str, MovesView] = Field(description="teams whose leads would change: gained and lost")
    samples: dict[str, list[LeadMoveView]] = Field(description="the first `sample_size` leads of each kind "
                                                               "of change, in routing order")


# -- owners and teams ----------------------------------------------------------------------------

class OwnerLoadView(BaseModel):
    assigned_today: int
    assigned_this_week: int
    open_assignments: int


class OwnerView(Owner):
    load: OwnerLoadView
    teams: list[str]


class OwnerIn(CleanInput):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"id": "new.starter", "name": "New Starter", "email": "new@acme.com", "timezone": "Europe/Berlin",
         "working_hours": "always", "capacity": {"per_day": 5}, "teams": ["inbound"]}]})

    id: Slug
    name: Text
    email: Email
    timezone: Zone = "UTC"
    working_hours: Hours | None = None
    weight: int = Field(1, ge=1, le=1000)
    capacity: Capacity | None = None
    status: Status = "active"
    out_of_office: list[OutOfOffice] = Field(default_factory=list, max_length=100)
    teams: list[Slug] = Field(default_factory=list, max_length=100, description="teams to join")


class OwnerChange(CleanInput):
    """Only the fields given change."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"weight": 2, "status": "paused"}]})

    name: Text | None = None
    email: Email | None = None
    timezone: Zone | None = None
    working_hours: Hours | None = None
    weight: int | None = Field(None, ge=0, le=1000)
    capacity: Capacity | None = None
    status: Status | None = None
    out_of_office: list[OutOfOffice] | None = Field(None, max_length=100)


class OwnerChanged(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"policy_version": "2026-11-30.1+api.2", "owner": {
        "id": "new.starter", "name": "New Starter", "email": "new@acme.com"}}]})

    policy_version: str
    owner: Owner


class Rerouted(BaseModel):
    lead_id: str
    owner_id: str


class DeactivatedView(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "policy_version": "2026-11-30.1+api.3", "rerouted": [{"lead_id": "7d5e7c1e-3b0f-5d7e-9d71-1d7b0f3e2a11",
                                                              "owner_id": "ben.okafor"}],
        "not_rerouted_nobody_available": []}]})

    policy_version: str
    rerouted: list[Rerouted]
    not_rerouted_nobody_available: list[str]


class TeamIn(CleanInput):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"id": "fresh", "name": "Fresh", "members": ["new.starter"], "strategy": "least_loaded"}]})

    id: Slug
    name: Text
    members: list[Slug] = Field(min_length=1, max_length=500)
    strategy: Strategy = "round_robin"
    queue: QueueSpec | None = None


class TeamChange(CleanInput):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"members": ["ana.silva"]}]})

    name: Text | None = None
    members: list[Slug] | None = Field(None, max_length=500)
    strategy: Strategy | None = None
    queue: QueueSpec | None = None


class TeamChanged(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"policy_version": "2026-11-30.1+api.4", "team": {
        "id": "fresh", "name": "Fresh", "members": ["new.starter"]}}]})

    policy_version: str
    team: Team


# -- accounts ----------------------------------------------------------------------------------

class AccountIn(CleanInput):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"owner_id": "ana.silva", "name": "Globex"}]})

    owner_id: Slug
    name: Annotated[str, Field(max_length=200)] | None = None


class Account(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"domain": "globex.example", "owner_id": "ana.silva", "name": "Globex"}]})

    domain: str
    owner_id: str
    name: str | None
