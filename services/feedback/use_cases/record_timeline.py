"""Feedback's consumer: every event about a lead lands on its timeline and moves its stage.

Since every lead topic passes through here, feedback also measures the pipeline's stage
latencies (``handoff_stage_latency_seconds``) from the timeline, observed once the batch
commits; a failure to measure never touches the batch (a savepoint)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime

from services.feedback.domain.latency import MEASURED_TYPES, stage_latencies
from services.feedback.domain.stages import StageRow, after_captured, after_nurtured, after_routed
from services.feedback.repository import FeedbackRepository
from shared.events.codec import Event
from shared.events.envelope import utcnow
from shared.events.payloads import LeadCaptured, LeadNurtured, LeadRouted
from shared.observability.metrics import STAGE_LATENCY

log = logging.getLogger(__name__)


async def record_timeline(repository: FeedbackRepository, events: Sequence[Event],
                          now: datetime | None = None) -> None:
    """The batch's stages are locked and read once, moved in memory in the events' order, and
    written with the timeline in one statement."""
    now = now or utcnow()
    stored = await repository.lock_stages(list(dict.fromkeys(e.envelope.lead_id for e in events)))
    current: dict[uuid.UUID, StageRow] = dict(stored)
    for event in events:
        moved = _stage_after(current.get(event.envelope.lead_id), event, now)
        if moved is not None:
            current[moved.lead_id] = moved
    changed = [row for lead_id, row in current.items() if stored.get(lead_id) is not row]
    await repository.record(events, new_stages=[r for r in changed if r.lead_id not in stored],
                            moved_stages=[r for r in changed if r.lead_id in stored])
    await _measure_stage_latencies(repository, events)


def _stage_after(current: StageRow | None, event: Event, now: datetime) -> StageRow | None:
    env, payload = event.envelope, event.payload
    if isinstance(payload, LeadCaptured):
        return after_captured(current, env.lead_id, email=payload.email, correlation_id=env.correlation_id, now=now)
    if isinstance(payload, LeadRouted):
        return after_routed(current, env.lead_id, email=payload.email, cycle=payload.cycle,
                            owner_id=payload.owner_id, correlation_id=env.correlation_id, at=env.occurred_at,
                            now=now)
    if isinstance(payload, LeadNurtured) and env.producer == "routing":
        return after_nurtured(current, env.lead_id, email=payload.email, cycle=payload.cycle,
                              correlation_id=env.correlation_id, at=env.occurred_at, now=now)
    return None


async def _measure_stage_latencies(repository: FeedbackRepository, events: Sequence[Event]) -> None:
    relevant = [e.envelope for e in events if e.envelope.type in MEASURED_TYPES]
    if not relevant:
        return
    try:
        async with repository.session.begin_nested():
            entries = await repository.latency_entries(list({e.lead_id for e in relevant}))
        found = stage_latencies(entries, {e.event_id for e in relevant})
    except Exception:  # metrics never break processing
        log.warning("stage latencies of this batch not measured", exc_info=True)
        return
    if found:
        repository.after_commit(lambda: _observe(found))


def _observe(latencies: Iterable[tuple[str, float]]) -> None:
    for stage, seconds in latencies:
        STAGE_LATENCY.labels(stage).observe(seconds)
