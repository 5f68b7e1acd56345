"""Deciding and recording: the pure policy decides (``domain.decision``), this records the
assignment or the queue entry, the decision record, the team's strategy state, the SLA
clock and the lead.routed event (and the CRM delivery, when the push is on).

Callers hold the locks of everyone the decision may touch (``RoutingRepository.lock_scope``,
or the routing lock alone) and a snapshot read under them, which ``record`` keeps current.
``record`` writes nothing itself: it gathers the rows in ``RoutingWrites``, which the caller
has the repository write once for the whole transaction."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.routing.domain.batch_writes import RoutingWrites, load_bucket
from services.routing.domain.crm_message import crm_body
from services.routing.domain.decision import RoutingDecision, route, route_queued
from services.routing.domain.lead_facts import LeadFacts
from services.routing.domain.policy import RoutingPolicy
from services.routing.domain.snapshot import RoutingSnapshot
from services.routing.repository import OpenAssignment, PolicyStore, QueuedLead, RoutedLead, RoutingRepository
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
        """Take the routing lock alone (the clock and policy changes may touch anyone), pick up a
        policy another replica published, read the world."""
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

    def record(self, writes: RoutingWrites, decision: RoutingDecision, lead: RoutedLead, *, kind: str,
               cause: Envelope | None, snapshot: RoutingSnapshot,
               replacing: OpenAssignment | None = None) -> Envelope | None:
        """Gather what storing ``decision`` for ``lead`` writes; the lead.routed event when it
        assigned an owner (written, with the rest, only if the assignment is taken)."""
        record = decision.to_dict()
        key = (lead.lead_id, lead.cycle)
        state = (decision.team_id, dict(decision.state_after)) \
            if decision.team_id and decision.state_after is not None else None
        if decision.outcome == "queued" or decision.owner_id is None or decision.sla is None:
            step = writes.step()
            step.decision = _decision_row(lead, "queued", record, decision.decided_at)
            step.state = state
            target = decision.queue.target if decision.queue else decision.target
            writes.queue[key] = {"lead_id": lead.lead_id, "cycle": lead.cycle, "team_id": target.get("team"),
                                 "owner_id": target.get("owner"), "rule": decision.rule,
                                 "queued_at": decision.queue.queued_at if decision.queue else decision.decided_at,
                                 "decision": record}
            return None
        writes.queue[key] = None
        clock = decision.sla.scaled(self.sla_time_scale)
        values = dict(owner_id=decision.owner_id, policy_version=decision.policy_version, reason=decision.reason,
                      team_id=decision.team_id, rule=decision.rule, sla_due_at=clock.accept_by,
                      sla_reassign_at=clock.reassign_at, assigned_at=decision.decided_at, decision=record,
                      status="assigned", escalated_at=None)
        if replacing is None:
            writes.new_assignments[key] = values
            step = writes.step(("assigned", lead.lead_id, lead.cycle))
        else:
            writes.reassignments.append((key, values))
            step = writes.step()
            step.assigned[(replacing.owner_id, load_bucket(replacing.assigned_at))] -= 1
            step.opened[replacing.owner_id] -= 1
        step.decision = _decision_row(lead, kind, record, decision.decided_at)
        step.state = state
        step.assigned[(decision.owner_id, load_bucket(decision.decided_at))] += 1
        step.opened[decision.owner_id] += 1
        snapshot.assigned(decision)
        owner = self.policy.owner(decision.owner_id)
        payload = LeadRouted(
            email=lead.email, cycle=lead.cycle, owner_id=owner.id, owner_name=owner.name,
            policy_version=decision.policy_version, strategy=decision.strategy or decision.via,
            reason=decision.reason, score=lead.lead_facts().score or 0, team_id=decision.team_id,
            rule=decision.rule, sla_due_at=clock.accept_by,
            reassigned_from=replacing.owner_id if replacing else None, decision=record,
        )
        if cause is not None:
            routed = cause.follow(payload, producer="routing")
        else:
            routed = Envelope.start(payload, lead_id=lead.lead_id, producer="routing",
                                    correlation_id=lead.correlation_id or str(uuid.uuid4()))
        step.envelopes.append(routed)
        if self.crm_push:
            step.delivery = {"event_id": routed.event_id, "lead_id": routed.lead_id, "body": crm_body(routed)}
        return routed


def _decision_row(lead: RoutedLead, kind: str, record: dict[str, Any], decided_at: datetime) -> dict[str, Any]:
    return {"lead_id": lead.lead_id, "cycle": lead.cycle, "kind": kind, "decision": record,
            "decided_at": decided_at}


def reassign(router: Router, writes: RoutingWrites, lead: RoutedLead, *, replacing: OpenAssignment,
             exclude: frozenset[str], snapshot: RoutingSnapshot, now: datetime) -> Envelope | None:
    """The one way a lead moves from its owner to another (the owner was deactivated, or the
    SLA ran out): routed again without ``exclude``; None when nobody eligible is available
    (the lead stays where it is)."""
    decision = router.decide(lead.lead_facts(), snapshot, now, exclude=exclude | {replacing.owner_id})
    if decision.outcome != "assigned":
        return None
    return router.record(writes, decision, lead, kind="reassigned", cause=None, snapshot=snapshot,
                         replacing=replacing)
