"""What a candidate routing policy would do with the stored leads, before anyone publishes
it: every lead routed in order, loads and rotation carried through the run, nothing
assigned (pure; the caller reads the leads and the snapshot)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from services.routing.domain.decision import route
from services.routing.domain.lead_facts import LeadFacts
from services.routing.domain.policy import RoutingPolicy
from services.routing.domain.snapshot import RoutingSnapshot


@dataclass(frozen=True)
class PreviewSample:
    lead_id: str
    email: str | None
    outcome: str
    owner_id: str | None
    rule: str
    reason: str


@dataclass(frozen=True)
class PolicyPreview:
    policy_version: str
    leads: int
    assigned_per_owner: dict[str, int]
    queued: int
    per_rule: dict[str, int]
    samples: list[PreviewSample] = field(default_factory=list)


def preview_policy(candidate: RoutingPolicy, leads: Iterable[LeadFacts], snapshot: RoutingSnapshot, *,
                   now: datetime, sample_size: int) -> PolicyPreview:
    per_owner = {o.id: 0 for o in candidate.owners}
    per_rule: dict[str, int] = {}
    queued = count = 0
    samples: list[PreviewSample] = []
    for facts in leads:
        count += 1
        decision = route(candidate, facts, now=now, accounts=snapshot.accounts, loads=snapshot.loads,
                         states=snapshot.states)
        per_rule[decision.rule] = per_rule.get(decision.rule, 0) + 1
        if decision.outcome == "assigned" and decision.owner_id is not None:
            per_owner[decision.owner_id] += 1
            snapshot.assigned(decision)
        else:
            queued += 1
        if len(samples) < sample_size:
            samples.append(PreviewSample(facts.lead_id, facts.email, decision.outcome, decision.owner_id,
                                         decision.rule, decision.reason))
    return PolicyPreview(candidate.version, count, per_owner, queued, per_rule, samples)

