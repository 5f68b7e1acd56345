"""What routing does with the events it reads: a qualified lead gets exactly one owner per
cycle (or waits in a pool's queue), the rest go to nurture, and sales' outcomes stop the SLA
clock. One batch, one transaction (the consumer's); the routing lock is taken once per batch,
and only when something is to be routed."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from services.routing.domain.lead_facts import facts_record
from services.routing.domain.snapshot import RoutingSnapshot
from services.routing.repository import RoutingRepository
from services.routing.use_cases.assignment import Router
from shared.events.codec import Event
from shared.events.envelope import Envelope
from shared.events.payloads import LeadNurtured, LeadScored, Outcome, OutcomeRecorded


async def route_leads(router: Router, repository: RoutingRepository, events: Sequence[Event], now: datetime) -> None:
    emitted: list[Envelope] = []
    snapshot: RoutingSnapshot | None = None
    for event in events:
        envelope, payload = event.envelope, event.payload
        if isinstance(payload, LeadScored):
            await repository.remember(
                envelope.lead_id, email=payload.email, cycle=payload.cycle, correlation_id=envelope.correlation_id,
                facts=facts_record(payload.profile, source=payload.source, score=payload.score, grade=payload.grade),
                at=envelope.occurred_at)
            if await repository.decided(envelope.lead_id, payload.cycle):
                continue  # this cycle already has its owner, or waits in a queue
            out: Envelope | None
            if payload.qualified:
                if snapshot is None:
                    snapshot = await router.locked_snapshot(repository, now)
                lead = await repository.routed_lead(envelope.lead_id)
                assert lead is not None  # remembered above, in this transaction
                decision = router.decide(lead.lead_facts(), snapshot, now)
                out = await router.record(repository, decision, lead, kind="assigned", cause=envelope,
                                          snapshot=snapshot)
            else:
                out = await _nurture(repository, envelope, payload)
            if out is not None:
                emitted.append(out)
        elif isinstance(payload, OutcomeRecorded):
            await repository.close(envelope.lead_id, payload.cycle,
                                   accepted_at=envelope.occurred_at if payload.outcome == Outcome.ACCEPTED else None)
    await repository.emit(emitted)


async def _nurture(repository: RoutingRepository, envelope: Envelope, scored: LeadScored) -> Envelope | None:
    if not await repository.mark_nurtured(envelope.lead_id, scored.cycle):
        return None  # already sent to nurture in this cycle
    return envelope.follow(LeadNurtured(
        email=scored.email, cycle=scored.cycle, score=scored.score,
        reason=f"below the qualification threshold: score {scored.score} < {scored.threshold}",
    ), producer="routing")
