"""Feedback's consumer: every event about a lead lands on its timeline and moves its stage.

Since every lead topic passes through here, feedback also measures the pipeline's stage
latencies (``handoff_stage_latency_seconds``) from the timeline, observed once the batch
commits; a failure to measure never touches the batch (a savepoint)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

from services.feedback.domain.latency import MEASURED_TYPES, stage_latencies
from services.feedback.repository import FeedbackRepository
from shared.events.codec import Event
from shared.events.payloads import LeadCaptured, LeadNurtured, LeadRouted
from shared.observability.metrics import STAGE_LATENCY

log = logging.getLogger(__name__)


async def record_timeline(repository: FeedbackRepository, events: Sequence[Event]) -> None:
    await repository.record(events)
    for event in events:
        env, payload = event.envelope, event.payload
        if isinstance(payload, LeadCaptured):
            await repository.captured(env.lead_id, email=payload.email, correlation_id=env.correlation_id)
        elif isinstance(payload, LeadRouted):
            await repository.routed(env.lead_id, email=payload.email, cycle=payload.cycle, owner_id=payload.owner_id,
                                    correlation_id=env.correlation_id, at=env.occurred_at)
        elif isinstance(payload, LeadNurtured) and env.producer == "routing":
            await repository.nurtured(env.lead_id, email=payload.email, cycle=payload.cycle,
                                      correlation_id=env.correlation_id, at=env.occurred_at)
    await _measure_stage_latencies(repository, events)


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
