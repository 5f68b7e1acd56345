"""The pipeline's stage latencies, read from the timeline along the causation chain (pure)."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable
from datetime import datetime
from typing import Protocol

from shared.events.payloads import LeadCaptured, LeadRouted, LeadScored

CAPTURED, SCORED, ROUTED = LeadCaptured.event_type, LeadScored.event_type, LeadRouted.event_type
MEASURED_TYPES = (CAPTURED, SCORED, ROUTED)


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
