"""Folds a lead's events (the timeline) into one record per lead cycle, the shape the
reports read. Pure: the caller loads the events.

A cycle starts at the lead's first capture (cycle 1) or at a recycle (cycle 2 and
on); it keeps the source (the channel: ``utm_source``, else the intake source) and the
campaign of the lead's first capture, so recycled demand is credited to where the lead
came from, and every capture of the lead as its touches (``shared/attribution.py``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from services.feedback.domain.reports import LeadCycle
from shared.attribution import Touch
from shared.events.payloads import LeadCaptured, LeadNurtured, LeadRouted, LeadScored, OutcomeRecorded


@dataclass(frozen=True)
class TimelineEvent:
    lead_id: str
    type: str
    occurred_at: datetime
    producer: str
    payload: Mapping[str, Any]


def _parse_time(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def lead_cycles(events: Iterable[TimelineEvent]) -> list[LeadCycle]:
    """One LeadCycle per (lead, cycle), from events in any order."""
    by_lead: dict[str, list[TimelineEvent]] = {}
    for event in events:
        by_lead.setdefault(event.lead_id, []).append(event)
    cycles: list[LeadCycle] = []
    for lead_id, lead_events in by_lead.items():
        lead_events.sort(key=lambda e: e.occurred_at)
        captured = next((e for e in lead_events if e.type == LeadCaptured.event_type), None)
        if captured is None:
            continue  # a lead is counted from its capture; stray events alone are not a lead
        touches = tuple(Touch.of_capture(e.occurred_at, e.payload.get("source"), e.payload.get("utm"))
                        for e in lead_events if e.type == LeadCaptured.event_type)
        first = touches[0]
        source, campaign = first.channel, first.campaign
        current: dict[int, LeadCycle] = {1: LeadCycle(lead_id=lead_id, cycle=1, source=source, campaign=campaign,
                                                      owner_id=None, captured_at=captured.occurred_at,
                                                      intake_source=first.intake_source, touches=touches)}
        for event in lead_events:
            cycle = int(event.payload.get("cycle") or 1)
            if event.type == LeadNurtured.event_type and event.producer == "feedback" and cycle not in current:
                current[cycle] = LeadCycle(lead_id=lead_id, cycle=cycle, source=source, campaign=campaign,
                                           owner_id=None, captured_at=event.occurred_at,
                                           intake_source=first.intake_source, touches=touches)
                continue
            record = current.get(cycle)
            if record is None:
                continue
            current[cycle] = _apply(record, event)
        cycles.extend(current[c] for c in sorted(current))
    return cycles


def _apply(record: LeadCycle, event: TimelineEvent) -> LeadCycle:
    p = event.payload
    at = event.occurred_at
    if event.type == LeadScored.event_type and p.get("qualified") and record.qualified_at is None:
        return replace(record, qualified_at=at)
    if event.type == LeadRouted.event_type:
        first = record.assigned_at is None
        return replace(record, owner_id=p.get("owner_id"), assigned_at=record.assigned_at or at,
                       sla_due_at=_parse_time(p.get("sla_due_at")) if first else record.sla_due_at)
    if event.type != OutcomeRecorded.event_type:
        return record
    outcome = p.get("outcome")
    if outcome == "accepted":
        return replace(record, accepted_at=record.accepted_at or at)
    if outcome == "rejected":
        return replace(record, rejected_at=at, rejection_reason=p.get("reason"))
    if outcome == "recycled":
        return replace(record, recycled_at=at, recycle_reason=p.get("reason"))
    if outcome == "converted":
        return replace(record, opportunity_at=record.opportunity_at or at)
    if outcome == "won":
        amount = p.get("amount")
        return replace(record, won_at=at, amount=Decimal(str(amount)) if amount is not None else None,
                       currency=p.get("currency"))
    if outcome == "lost":
        return replace(record, lost_at=at, loss_reason=p.get("reason"))
    return record
