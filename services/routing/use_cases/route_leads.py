"""What routing does with the events it reads: a qualified lead gets exactly one owner per
cycle (or waits in a pool's queue), the rest go to nurture, and sales' outcomes stop the SLA
clock. One batch, one transaction (the consumer's), and a fixed number of statements
whatever its size: the accounts its leads come from, the locks of every owner and team they
can go to (``domain.scope``), the policy in force, one read of the decided cycles, loads and
strategy states, then the writes (``RoutingRepository.write``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from services.routing.domain.accounts import account_domains, find_account
from services.routing.domain.batch_writes import RoutingWrites
from services.routing.domain.lead_facts import facts_record
from services.routing.domain.policy import RoutingPolicy
from services.routing.domain.scope import routing_scope, scope_owners, scope_teams
from services.routing.domain.snapshot import RoutingSnapshot
from services.routing.repository import RoutedLead, RoutingRepository, World
from services.routing.use_cases.assignment import Router
from shared.events.codec import Event
from shared.events.envelope import Envelope
from shared.events.payloads import LeadNurtured, LeadScored, Outcome, OutcomeRecorded


def _scored(event: Event) -> RoutedLead | None:
    payload = event.payload
    if not isinstance(payload, LeadScored):
        return None
    env = event.envelope
    return RoutedLead(env.lead_id, payload.email, payload.cycle, correlation_id=env.correlation_id,
                      facts=facts_record(payload.profile, source=payload.source, score=payload.score,
                                         grade=payload.grade))


def _scope(policy: RoutingPolicy, leads: Sequence[RoutedLead], accounts: dict[str, str]) -> set[str]:
    names: set[str] = set()
    for lead in leads:
        found = find_account(lead.lead_facts(), accounts, policy.free_mail)
        names |= routing_scope(policy, lead.lead_facts(), found[1] if found else None)
    return names


async def route_leads(router: Router, repository: RoutingRepository, events: Sequence[Event], now: datetime) -> None:
    qualified = [lead for event in events if isinstance(event.payload, LeadScored) and event.payload.qualified
                 and (lead := _scored(event)) is not None]
    policy = router.policy
    accounts = await repository.accounts_for(
        d for lead in qualified for d in account_domains(lead.lead_facts(), policy.free_mail)) if qualified else {}
    scope = _scope(policy, qualified, accounts)
    await repository.lock_scope(scope)
    lead_ids = list(dict.fromkeys(e.envelope.lead_id for e in events))

    async def world_of(policy: RoutingPolicy, scope: set[str]) -> World:
        owners = [policy.owner(o) for o in sorted(scope_owners(scope)) if policy.has_owner(o)]
        return await repository.read_world(lead_ids, owners, scope_teams(scope), now)

    world = await world_of(policy, scope)
    if world.policy_version not in (None, policy.version) and await router.store.refresh():
        policy = router.policy  # a new policy (rare): lock whoever it adds, read again under it
        wider = _scope(policy, qualified, accounts)
        if wider - scope:
            await repository.lock_scope(wider - scope, with_routing_lock=False)  # a deadlock is retried
        scope |= wider
        world = await world_of(policy, scope)
    snapshot = RoutingSnapshot(loads=world.loads, states=world.states, accounts=accounts)
    writes = RoutingWrites()
    for event in events:
        envelope, payload = event.envelope, event.payload
        if isinstance(payload, LeadScored):
            lead = _scored(event)
            assert lead is not None
            writes.leads[lead.lead_id] = {"lead_id": lead.lead_id, "email": lead.email, "cycle": lead.cycle,
                                          "facts": lead.facts, "correlation_id": envelope.correlation_id,
                                          "updated_at": envelope.occurred_at}
            key = (lead.lead_id, lead.cycle)
            if key in world.decided:
                continue  # this cycle already has its owner, or waits in a queue
            if payload.qualified:
                decision = router.decide(lead.lead_facts(), snapshot, now)
                router.record(writes, decision, lead, kind="assigned", cause=envelope, snapshot=snapshot)
                world.decided.add(key)
            elif key not in world.nurtured:  # else: already sent to nurture in this cycle
                world.nurtured.add(key)
                writes.new_nurtures.add(key)
                writes.step(("nurtured", *key)).envelopes.append(_nurture(envelope, payload))
        elif isinstance(payload, OutcomeRecorded):
            writes.closes[(envelope.lead_id, payload.cycle)] = (
                envelope.occurred_at if payload.outcome == Outcome.ACCEPTED else None)
    await repository.write(writes)


def _nurture(envelope: Envelope, scored: LeadScored) -> Envelope:
    return envelope.follow(LeadNurtured(
        email=scored.email, cycle=scored.cycle, score=scored.score,
        reason=scored.held_because or f"below the qualification threshold: score {scored.score} < {scored.threshold}",
    ), producer="routing")
