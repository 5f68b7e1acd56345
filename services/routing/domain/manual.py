"""A judgement call: RevOps gives a lead to an owner by hand, with a reason.

The decision is recorded like an automatic one (``via: "manual"``, rule ``manual``), so the
decision record, the timeline and the CRM show who decided and why, and the SLA clock runs
for the new owner as it would for any assignment (the policy's SLA for the lead's grade, in
the owner's working time). The clock escalates a breach, but does not move the lead on:
a person chose this owner, and only a person moves the lead again.

Pure: the caller checks that the lead may move (not accepted, not closed) and records the
decision.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from services.routing.domain.availability import NO_LOAD, OwnerLoad, require_aware, unavailable_reason
from services.routing.domain.decision import Candidate, RoutingDecision
from services.routing.domain.document_fields import MANUAL_RULE
from services.routing.domain.lead_facts import LeadFacts
from services.routing.domain.policy import RoutingPolicy
from services.routing.domain.sla import sla_clock, sla_minutes_for


class ManualRefused(ValueError):
    """The owner cannot take a lead by hand: not in the policy, or inactive."""


@dataclass(frozen=True)
class JudgementCall:
    """Who decided, and why, in their words."""

    by: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"by": self.by, "reason": self.reason}


def assign_by_hand(policy: RoutingPolicy, facts: LeadFacts, owner_id: str, call: JudgementCall, *,
                   now: datetime, load: OwnerLoad | None = None) -> RoutingDecision:
    """The decision that gives the lead to ``owner_id`` because a person said so.

    An owner who is away, outside their hours or at a cap still gets the lead (the decision
    says so: the person decided with that known); an inactive owner, or one the policy does
    not know, does not (``ManualRefused``)."""
    require_aware(now)
    if not policy.has_owner(owner_id):
        raise ManualRefused(f"no owner {owner_id!r} in the active policy")
    owner = policy.owner(owner_id)
    if owner.status == "inactive":
        raise ManualRefused(f"{owner_id} is inactive and takes no leads")
    skipped = unavailable_reason(owner, load or NO_LOAD, now)
    minutes = sla_minutes_for(policy, MANUAL_RULE, facts.grade)
    reason = f"assigned by hand to {owner_id} by {call.by}: {call.reason}"
    if skipped is not None:
        reason += f" ({owner_id} is {skipped.replace('_', ' ')} now; the SLA counts their working time)"
    return RoutingDecision(
        policy_version=policy.version, decided_at=now, rule=MANUAL_RULE, target={"owner": owner_id},
        via="manual", outcome="assigned", owner_id=owner_id, team_id=None, strategy=None,
        candidates=(Candidate(owner_id, skipped is None, skipped, "manual", chosen=True),),
        state_before=None, state_after=None, sla_minutes=minutes, sla=sla_clock(policy, owner, now, minutes),
        reason=reason, rules=policy.check_rules(facts), manual=call.to_dict(),
    )
