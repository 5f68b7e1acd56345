"""What scoring does with the events it reads: merge the person's profile, record activity
and outcomes, re-score, and say why. One batch, one transaction (the consumer's)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from services.scoring.domain.definition import LeadDefinition
from services.scoring.domain.profile import merge_profile, profile_of
from services.scoring.repository import LeadRow, ScoringRepository
from services.scoring.use_cases.rescore import rescore
from shared.events.codec import Event
from shared.events.envelope import Envelope
from shared.events.payloads import ActivityRecorded, LeadCaptured, Outcome, OutcomeRecorded


async def record_events(repository: ScoringRepository, definition: LeadDefinition, events: Sequence[Event],
                        now: datetime) -> None:
    emitted: list[Envelope] = []
    for event in events:
        envelope, payload = event.envelope, event.payload
        scored: Envelope | None = None
        if isinstance(payload, LeadCaptured):
            lead = await _merge(repository, envelope, payload)
            scored = await rescore(repository, definition, lead, now=now, trigger="captured", cause=envelope,
                                   always_emit=True)
        elif isinstance(payload, ActivityRecorded):
            await repository.add_activity(event_id=envelope.event_id, lead_id=envelope.lead_id,
                                          activity_type=payload.activity_type, occurred_at=payload.occurred_at)
            known = await repository.lock_lead(envelope.lead_id)
            if known is not None:  # else: a person not captured yet; their activity counts once they are
                scored = await rescore(repository, definition, known, now=now, trigger="activity", cause=envelope,
                                       always_emit=True)
        elif isinstance(payload, OutcomeRecorded):
            await repository.add_outcome(event_id=envelope.event_id, lead_id=envelope.lead_id, cycle=payload.cycle,
                                         outcome=payload.outcome.value, recorded_at=envelope.occurred_at)
            if payload.outcome == Outcome.RECYCLED:
                await repository.recycle(envelope.lead_id, from_cycle=payload.cycle, at=envelope.occurred_at)
        if scored is not None:
            emitted.append(scored)
    await repository.emit(emitted)


async def _merge(repository: ScoringRepository, envelope: Envelope, lead: LeadCaptured) -> LeadRow:
    """Same normalised email, same lead: newer non-empty values win, every submission is kept.
    Returns the lead as it now is, locked."""
    submitted = profile_of(lead)
    await repository.add_submission(event_id=envelope.event_id, lead_id=envelope.lead_id, source=lead.source,
                                    submitted_at=envelope.occurred_at, fields=submitted)
    campaign = lead.utm.get("utm_campaign")
    current = await repository.lock_lead(envelope.lead_id)
    if current is None:
        await repository.add_lead(lead_id=envelope.lead_id, email=lead.email, source=lead.source, campaign=campaign,
                                  profile=submitted, correlation_id=envelope.correlation_id)
        return LeadRow(lead_id=envelope.lead_id, email=lead.email, source=lead.source, campaign=campaign,
                       profile=submitted, cycle=1, score=0, stage="below", definition_version=None, mql_cycle=None,
                       engagement_since=None, correlation_id=envelope.correlation_id)
    merged = merge_profile(current.profile, submitted)
    campaign = campaign or current.campaign
    await repository.update_profile(envelope.lead_id, profile=merged, campaign=campaign,
                                    correlation_id=envelope.correlation_id)
    return replace(current, profile=merged, campaign=campaign, correlation_id=envelope.correlation_id)
