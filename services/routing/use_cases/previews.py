"""Dry runs that decide without assigning: who would get this lead now, and what a candidate
policy would do with the stored leads."""

from __future__ import annotations

from datetime import datetime

from services.routing.domain.decision import RoutingDecision, route
from services.routing.domain.lead_facts import LeadFacts
from services.routing.domain.policy import RoutingPolicy
from services.routing.domain.preview import PolicyPreview, preview_policy
from services.routing.repository import RoutingRepository
from services.routing.use_cases.assignment import Router


async def preview_lead(router: Router, repository: RoutingRepository, facts: LeadFacts,
                       now: datetime) -> RoutingDecision:
    snapshot = await repository.snapshot(router.policy.owners, now)
    return route(router.policy, facts, now=now, accounts=snapshot.accounts, loads=snapshot.loads,
                 states=snapshot.states)


async def preview_candidate(repository: RoutingRepository, candidate: RoutingPolicy, *, now: datetime,
                            sample_size: int) -> PolicyPreview:
    leads = [lead.lead_facts() for lead in await repository.all_routed_leads()]
    snapshot = await repository.snapshot(candidate.owners, now)
    return preview_policy(candidate, leads, snapshot, now=now, sample_size=sample_size)
