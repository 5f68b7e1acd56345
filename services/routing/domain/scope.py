"""Which owners and teams a lead's routing can touch: what a routing transaction locks.

Routing replicas decide side by side and serialise only where their leads meet: a batch
locks every owner and team its leads can go to (the rule's target with its members, the
account owner, and each queue fallback after it, down to the policy's fallback) before it
reads their loads and strategy state. Two batches that share an owner or a team take turns,
so caps and round-robin stay exact across replicas; batches for other teams run at once.
Pure: the caller turns the names into advisory lock keys.
"""

from __future__ import annotations

from collections.abc import Iterable

from services.routing.domain.lead_facts import LeadFacts
from services.routing.domain.policy import RoutingPolicy
from services.routing.domain.rules import Target


def owner_scope(owner_id: str) -> str:
    return f"owner:{owner_id}"


def team_scope(team_id: str) -> str:
    return f"team:{team_id}"


def target_scope(policy: RoutingPolicy, start: Target) -> set[str]:
    """``start`` and every queue fallback after it: the members of each team and the team itself."""
    names: set[str] = set()
    seen: set[tuple[str, str]] = set()
    where: Target | None = start
    while where is not None and where.key not in seen:
        seen.add(where.key)
        if where.kind == "team":
            names.add(team_scope(where.id))
            names.update(owner_scope(member) for member in policy.team(where.id).members)
        else:
            names.add(owner_scope(where.id))
        where = policy.queue_for(where).fallback
    return names


def routing_scope(policy: RoutingPolicy, facts: LeadFacts, account_owner: str | None) -> set[str]:
    """Everything ``route`` may read or change for this lead."""
    rule = policy.match_rule(facts)
    names = target_scope(policy, rule.assign_to if rule is not None else policy.fallback.target)
    if account_owner is not None:
        names.add(owner_scope(account_owner))
    return names


def scope_owners(names: Iterable[str]) -> set[str]:
    return {name.removeprefix("owner:") for name in names if name.startswith("owner:")}


def scope_teams(names: Iterable[str]) -> set[str]:
    return {name.removeprefix("team:") for name in names if name.startswith("team:")}
