"""Feedback's consumer: every event about a lead lands on its timeline and moves its stage.

Since every lead topic passes through here, feedback also measures the pipeline's stage
latencies (``handoff_stage_latency_seconds``) from the timeline."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Collection, Iterable, Sequence
from datetime import datetime
from typing import Protocol

from sqlalchemy import or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.feedback.tables import lead_stages, timeline
from shared.events.codec import Event
from shared.events.payloads import LeadCaptured, LeadNurtured, LeadRouted
from shared.observability.metrics import STAGE_LATENCY, after_commit

log = logging.getLogger(__name__)

STAGES_BEFORE_ROUTING = ("captured", "nurture", "recycled")
CAPTURED, SCORED, ROUTED = "lead.captured", "lead.scored", "lead.routed"


async def record_events(session: AsyncSession, events: Sequence[Event]) -> None:
    await session.execute(
        insert(timeline).on_conflict_do_nothing(index_elements=["event_id"]),
        [
            {
                "event_id": e.envelope.event_id,
                "lead_id": e.envelope.lead_id,
                "type": e.envelope.type,
                "occurred_at": e.envelope.occurred_at,
                "producer": e.envelope.producer,
                "correlation_id": e.envelope.correlation_id,
                "causation_id": e.envelope.causation_id,
                "payload": e.envelope.payload,
            }
            for e in events
        ],
    )
    for event in events:
        await _move_stage(session, event)
    await _measure_stage_latencies(session, events)


async def _move_stage(session: AsyncSession, event: Event) -> None:
    env, payload = event.envelope, event.payload
    if isinstance(payload, LeadCaptured):
        await session.execute(
            insert(lead_stages)
            .values(lead_id=env.lead_id, email=payload.email, stage="captured",
                    correlation_id=env.correlation_id)
            .on_conflict_do_nothing()
        )
    elif isinstance(payload, LeadRouted):
        stmt = insert(lead_stages).values(
            lead_id=env.lead_id, email=payload.email, cycle=payload.cycle, stage="routed",
            owner_id=payload.owner_id, correlation_id=env.correlation_id,
        )
        current = lead_stages.c
        await session.execute(stmt.on_conflict_do_update(
            index_elements=["lead_id"],
            set_={"cycle": payload.cycle, "stage": "routed", "owner_id": payload.owner_id,
                  "updated_at": env.occurred_at},
            where=or_(current.cycle < payload.cycle,
                      (current.cycle == payload.cycle) & current.stage.in_(STAGES_BEFORE_ROUTING)),
        ))
    elif isinstance(payload, LeadNurtured) and env.producer == "routing":
        await session.execute(
            insert(lead_stages)
            .values(lead_id=env.lead_id, email=payload.email, cycle=payload.cycle, stage="nurture",
                    correlation_id=env.correlation_id)
            .on_conflict_do_update(
                index_elements=["lead_id"],
                set_={"stage": "nurture", "updated_at": env.occurred_at},
                where=(lead_stages.c.cycle == payload.cycle) & (lead_stages.c.stage == "captured"),
            )
        )


class TimelineEntry(Protocol):
    event_id: uuid.UUID
    type: str
    occurred_at: datetime
    causation_id: uuid.UUID | None


def stage_latencies(entries: Iterable[TimelineEntry], new: Collection[uuid.UUID]) -> list[tuple[str, float]]:
    """Stage latencies completed by the events ``new`` (just recorded), in seconds.

    ``entries`` are the captured/scored/routed timeline entries of the leads concerned,
    the new ones included. A latency is measured along the causation chain: a lead.scored
    caused by a lead.captured (``captured_to_scored``), a lead.routed caused by a
    lead.scored (``scored_to_routed``) and, when that scored was caused by a captured,
    ``captured_to_routed``. Re-scores caused by activity or sweeps and routings by the
    clock (queue drained, reassigned) have no such cause and are not pipeline latency.
    Each pair is measured when its last event is recorded, whatever order feedback reads
    the topics in, so exactly once. Clock skew between services never makes it negative.
    """
    by_id = {e.event_id: e for e in entries}
    just_recorded = set(new)

    def cause_of(entry: TimelineEntry, cause_type: str) -> TimelineEntry | None:
        cause = by_id.get(entry.causation_id) if entry.causation_id is not None else None
        return cause if cause is not None and cause.type == cause_type else None

    def seconds(earlier: TimelineEntry, later: TimelineEntry) -> float:
        return max(0.0, (later.occurred_at - earlier.occurred_at).total_seconds())

    found: list[tuple[str, float]] = []
    for entry in by_id.values():
        if entry.type == SCORED and (captured := cause_of(entry, CAPTURED)) is not None:
            if {entry.event_id, captured.event_id} & just_recorded:
                found.append(("captured_to_scored", seconds(captured, entry)))
        elif entry.type == ROUTED and (scored := cause_of(entry, SCORED)) is not None:
            if {entry.event_id, scored.event_id} & just_recorded:
                found.append(("scored_to_routed", seconds(scored, entry)))
            captured = cause_of(scored, CAPTURED)
            if captured is not None and {entry.event_id, scored.event_id, captured.event_id} & just_recorded:
                found.append(("captured_to_routed", seconds(captured, entry)))
    return found


async def _measure_stage_latencies(session: AsyncSession, events: Sequence[Event]) -> None:
    """One query per batch, after the batch's events are on the timeline; observed once the
    batch commits. A savepoint keeps a failure here from touching the batch's own work."""
    relevant = [e.envelope for e in events if e.envelope.type in (CAPTURED, SCORED, ROUTED)]
    if not relevant:
        return
    try:
        async with session.begin_nested():
            entries = (await session.execute(
                select(timeline.c.event_id, timeline.c.type, timeline.c.occurred_at, timeline.c.causation_id)
                .where(timeline.c.lead_id.in_(list({e.lead_id for e in relevant})),
                       timeline.c.type.in_((CAPTURED, SCORED, ROUTED)))
            )).all()
        found = stage_latencies(entries, {e.event_id for e in relevant})
    except Exception:  # metrics never break processing
        log.warning("stage latencies of this batch not measured", exc_info=True)
        return
    if found:
        after_commit(session, lambda: _observe(found))


def _observe(latencies: Iterable[tuple[str, float]]) -> None:
    for stage, seconds in latencies:
        STAGE_LATENCY.labels(stage).observe(seconds)
