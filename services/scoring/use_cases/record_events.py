"""What scoring does with the events it reads: merge the person's profile, record activity
and outcomes, re-score, and say why. One batch, one transaction (the consumer's), and a
fixed number of statements whatever the batch's size: the batch's leads are locked and read
once, every event is applied in memory in the order it came, and each table is written
once (at most 8 statements, with the consumer's claim of the event ids)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from services.scoring.domain.definition import LeadDefinition
from services.scoring.domain.profile import merge_profile, profile_of
from services.scoring.domain.scoring import Activity
from services.scoring.repository import LeadRow, ScoringRepository
from services.scoring.use_cases.rescore import rescored
from shared.events.codec import Event
from shared.events.envelope import Envelope
from shared.events.payloads import ActivityRecorded, LeadCaptured, Outcome, OutcomeRecorded, ScoreTrigger


@dataclass
class _Batch:
    """The batch's leads and activity as they stand after each event, and what to write."""

    leads: dict[uuid.UUID, LeadRow]
    activities: dict[uuid.UUID, list[Activity]]
    changed: dict[uuid.UUID, None] = field(default_factory=dict)  # ordered set
    submissions: list[dict[str, Any]] = field(default_factory=list)
    new_activities: list[dict[str, Any]] = field(default_factory=list)
    outcomes: list[dict[str, Any]] = field(default_factory=list)
    emitted: list[Envelope] = field(default_factory=list)

    def put(self, lead: LeadRow) -> None:
        self.leads[lead.lead_id] = lead
        self.changed[lead.lead_id] = None


async def record_events(repository: ScoringRepository, definition: LeadDefinition, events: Sequence[Event],
                        now: datetime) -> None:
    ids = list(dict.fromkeys(e.envelope.lead_id for e in events))
    batch = _Batch(leads=await repository.lock_leads(ids), activities=await repository.activities_of(ids))
    for event in events:
        _apply(batch, definition, event, now)
    await repository.record(new_submissions=batch.submissions, new_activities=batch.new_activities,
                            new_outcomes=batch.outcomes,
                            changed_leads=[batch.leads[lead_id] for lead_id in batch.changed], now=now)
    await repository.emit(batch.emitted)


def _apply(batch: _Batch, definition: LeadDefinition, event: Event, now: datetime) -> None:
    envelope, payload = event.envelope, event.payload
    lead_id = envelope.lead_id
    if isinstance(payload, LeadCaptured):
        submitted = profile_of(payload)
        batch.submissions.append({"event_id": envelope.event_id, "lead_id": lead_id, "source": payload.source,
                                  "submitted_at": envelope.occurred_at, "fields": submitted})
        merged = _merged(batch.leads.get(lead_id), envelope, payload, submitted)
        _rescore(batch, definition, merged, now, "captured", envelope)
    elif isinstance(payload, ActivityRecorded):
        batch.new_activities.append({"event_id": envelope.event_id, "lead_id": lead_id,
                                     "activity_type": payload.activity_type, "occurred_at": payload.occurred_at})
        batch.activities.setdefault(lead_id, []).append(Activity(payload.activity_type, payload.occurred_at))
        known = batch.leads.get(lead_id)
        if known is not None:  # else: a person not captured yet; their activity counts once they are
            _rescore(batch, definition, known, now, "activity", envelope)
    elif isinstance(payload, OutcomeRecorded):
        batch.outcomes.append({"event_id": envelope.event_id, "lead_id": lead_id, "cycle": payload.cycle,
                               "outcome": payload.outcome.value, "recorded_at": envelope.occurred_at})
        known = batch.leads.get(lead_id)
        if payload.outcome == Outcome.RECYCLED and known is not None and known.cycle <= payload.cycle:
            # a new cycle: interest shown before the recycle no longer counts, and with a retry_after
            # the lead waits in nurture until that day. The stored score says so at once (nothing is
            # emitted: feedback's lead.nurture tells the others).
            hold = payload.retry_after if payload.retry_after and payload.retry_after > envelope.occurred_at.date() \
                else None
            recycled = replace(known, cycle=payload.cycle + 1, qualified=False, stage="below",
                               engagement_since=envelope.occurred_at, nurture_until=hold)
            after, _ = rescored(definition, recycled, batch.activities.get(lead_id, ()), now=now, trigger="decay",
                                cause=None, always_emit=False)
            batch.put(after)


def _rescore(batch: _Batch, definition: LeadDefinition, lead: LeadRow, now: datetime, trigger: ScoreTrigger,
             cause: Envelope) -> None:
    after, scored = rescored(definition, lead, batch.activities.get(lead.lead_id, ()), now=now, trigger=trigger,
                             cause=cause, always_emit=True)
    batch.put(after)
    if scored is not None:
        batch.emitted.append(scored)


def _merged(current: LeadRow | None, envelope: Envelope, lead: LeadCaptured, submitted: dict[str, Any]) -> LeadRow:
    """Same identity, same lead: newer non-empty values win, every submission is kept."""
    campaign = lead.utm.get("utm_campaign")
    if current is None:
        return LeadRow(lead_id=envelope.lead_id, email=lead.email, source=lead.source, campaign=campaign,
                       profile=submitted, correlation_id=envelope.correlation_id)
    return replace(current, profile=merge_profile(current.profile, submitted), campaign=campaign or current.campaign,
                   correlation_id=envelope.correlation_id)
