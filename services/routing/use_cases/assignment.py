"""Deciding and recording: the pure policy decides (``domain.decision``), this records the
assignment or the queue entry, the decision record, the team's strategy state, the SLA
clock and the lead.routed event (and the CRM delivery, when the push is on).

Callers hold the routing lock (``RoutingRepository.serialise_routing``) and a snapshot read
under it, which ``record`` keeps current."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from services.routing.domain.crm_message import crm_body
from services.routing.domain.decision import RoutingDecision, route, route_queued
from services.routing.domain.lead_facts import LeadFacts
from services.routing.domain.policy import RoutingPolicy
from services.routing.domain.snapshot import RoutingSnapshot
from services.routing.repository import PolicyStore, QueuedLead, RoutedLead, RoutingRepository
from shared.events.envelope import Envelope
from shared.events.payloads import LeadRouted


@dataclass(frozen=True)
class Router:
    """The policy in force and how assignments are kept: the SLA time scale (1 in production;
    smaller shrinks clocks for tests and demos) and whether each assignment goes to the CRM."""

    store: PolicyStore
    sla_time_scale: float = 1.0
    crm_push: bool = False

    @property
    def policy(self) -> RoutingPolicy:
        return self.store.active

    async def locked_snapshot(self, repository: RoutingRepository, now: datetime) -> RoutingSnapshot:
        """Take the routing lock, pick up a policy another replica published, read the world."""
        await repository.serialise_routing()
        await self.store.refresh()
        return await repository.snapshot(self.policy.owners, now)

    def decide(self, facts: LeadFacts, snapshot: RoutingSnapshot, now: datetime, *,
               exclude: frozenset[str] = frozenset(), queued: QueuedLead | None = None) -> RoutingDecision:
        if queued is not None:
            return route_queued(self.policy, facts, queued_on=queued.target, queued_at=queued.queued_at,
                                rule=queued.rule, now=now, loads=snapshot.loads, states=snapshot.states,
                                exclude=exclude)
        return route(self.policy, facts, now=now, accounts=snapshot.accounts, loads=snapshot.loads,
                     states=snapshot.states, exclude=exclude)

    async def record(self, repository: RoutingRepository, decision: RoutingDecision, lead: RoutedLead, *,
                     kind: str, cause: Envelope | None, snapshot: RoutingSnapshot,
                     reassigned_from: str | None = None) -> Envelope | None:
        """Store ``decision`` for ``lead``; the lead.routed event when it assigned an owner."""
        if decision.team_id and decision.state_after is not None:
            await repository.save_state(decision.team_id, decision.state_after)
        record = decision.to_dict()
        await repository.record_decision(lead.lead_id, lead.cycle, kind if decision.outcome == "assigned" else "queued",
                                         record, decision.decided_at)
        if decision.outcome == "queued" or decision.owner_id is None or decision.sla is None:
            target = decision.queue.target if decision.queue else decision.target
            await repository.enqueue(lead.lead_id, lead.cycle, target=target, rule=decision.rule,
                                     queued_at=decision.queue.queued_at if decision.queue else decision.decided_at,
                                     record=record)
            return None
        await repository.dequeue(lead.lead_id, lead.cycle)
        clock = decision.sla.scaled(self.sla_time_scale)
        values = dict(owner_id=decision.owner_id, policy_version=decision.policy_version, reason=decision.reason,
                      team_id=decision.team_id, rule=decision.rule, sla_due_at=clock.accept_by,
                      sla_reassign_at=clock.reassign_at, assigned_at=decision.decided_at, decision=record,
                      status="assigned", escalated_at=None)
        if reassigned_from is None:
            if not await repository.assign(lead.lead_id, lead.cycle, values):
                return None  # this cycle already has its owner
        else:
            await repository.reassign(lead.lead_id, lead.cycle, values)
        snapshot.assigned(decision)
        owner = self.policy.owner(decision.owner_id)
        payload = LeadRouted(
            email=lead.email, cycle=lead.cycle, owner_id=owner.id, owner_name=owner.name,
            policy_version=decision.policy_version, strategy=decision.strategy or decision.via,
            reason=decision.reason, score=lead.lead_facts().score or 0, team_id=decision.team_id,
            rule=decision.rule, sla_due_at=clock.accept_by, reassigned_from=reassigned_from, decision=record,
        )
        if cause is not None:
            routed = cause.follow(payload, producer="routing")
        else:
            routed = Envelope.start(payload, lead_id=lead.lead_id, producer="routing",
                                    correlation_id=lead.correlation_id or str(uuid.uuid4()))
        if self.crm_push:
            await repository.enqueue_delivery(routed.event_id, routed.lead_id, crm_body(routed))
        return routed


async def reassign(router: Router, repository: RoutingRepository, lead: RoutedLead, *, from_owner: str,
                   exclude: frozenset[str], snapshot: RoutingSnapshot, now: datetime) -> Envelope | None:
    """The one way a lead moves from its owner to another (the owner was deactivated, or the
    SLA ran out): routed again without ``exclude``; None when nobody eligible is available
    (the lead stays where it is)."""
    decision = router.decide(lead.lead_facts(), snapshot, now, exclude=exclude | {from_owner})
    if decision.outcome != "assigned":
        return None
    return await router.record(repository, decision, lead, kind="reassigned", cause=None, snapshot=snapshot,
                               reassigned_from=from_owner)
