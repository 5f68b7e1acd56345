"""The SLA: how long an owner has to accept a lead, counted in their working time, and what
happens when they do not.

- The time to accept is the matched rule's ``sla_minutes``, else the most specific
  ``sla.by_grade`` entry matching the lead's grade (an exact grade beats a pattern; among
  patterns, the one with more fixed characters; then file order), else
  ``sla.default_minutes``.
- It is counted in the owner's working time, in their time zone (``working_deadline``):
  a lead assigned at 16:30 with 60 minutes to accept, to an owner working 09:00-17:00,
  is due at 09:30 the next working day. An owner without working hours counts plain
  elapsed minutes. Out-of-office days are *not* taken out: a lead left with an absent
  owner should breach and move on.
- A clock (``sla_clock``) has two moments: ``accept_by`` (the deadline) and
  ``reassign_at`` (``sla.reassign_after_minutes`` of the same owner's working time
  later). At ``accept_by`` the lead is escalated (the owner's manager is told); at
  ``reassign_at`` it is reassigned to the next eligible owner (the caller routes again
  with every owner who already had it in ``exclude``) while fewer than
  ``sla.max_reassignments`` reassignments happened in this cycle; after that the lead
  stays where it is ("give_up": no more automatic moves, a person must act). A new owner
  starts a new clock with the same minutes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from services.routing.domain.availability import require_aware, working_intervals
from services.routing.domain.document_fields import FALLBACK_RULE
from services.routing.domain.owners import Owner
from services.routing.domain.policy import RoutingPolicy
from services.routing.domain.rules import grade_matches

BreachAction = Literal["escalate", "reassign", "give_up"]


def _specificity(pattern: str) -> int:
    return len(pattern.replace("*", ""))


def sla_minutes_for(policy: RoutingPolicy, rule_name: str | None, grade: str | None) -> int:
    """Minutes to accept: the rule's own, else the best ``by_grade`` match, else the default."""
    rule = policy.rule(rule_name) if rule_name and rule_name != FALLBACK_RULE else None
    if rule is not None and rule.sla_minutes is not None:
        return rule.sla_minutes
    if grade:
        table = policy.sla.by_grade
        exact = next((m for p, m in table.items() if "*" not in p and p.upper() == grade.strip().upper()), None)
        if exact is not None:
            return exact
        matching = [(p, m) for p, m in table.items() if "*" in p and grade_matches(grade, p)]
        if matching:
            # max keeps the first of equally specific patterns: file order
            return max(matching, key=lambda pm: _specificity(pm[0]))[1]
    return policy.sla.default_minutes


def working_deadline(start: datetime, minutes: int, owner: Owner) -> datetime:
    """The moment ``minutes`` of the owner's working time have passed since ``start``.

    Working time is read in the owner's time zone, DST changes included (an interval lasts as long as
    it really does). Starting outside working hours, the count begins with the next working interval;
    a deadline that lands exactly on an interval's end stays there. The result is in ``start``'s zone.
    """
    require_aware(start, "start")
    if minutes < 0:
        raise ValueError(f"minutes must be >= 0, got {minutes}")
    remaining = timedelta(minutes=minutes)
    if not remaining:
        return start
    if owner.hours is None:
        return (start.astimezone(UTC) + remaining).astimezone(start.tzinfo)
    for s, e in working_intervals(owner, start):  # validation guarantees some working time every week
        if remaining <= e - s:
            return (s + remaining).astimezone(start.tzinfo)
        remaining -= e - s
    raise AssertionError("unreachable: working_intervals never ends")  # pragma: no cover


@dataclass(frozen=True)
class SlaClock:
    """One owner's clock for one lead: escalate at ``accept_by``, reassign at ``reassign_at``."""

    owner_id: str
    minutes: int
    started_at: datetime
    accept_by: datetime
    reassign_at: datetime


    def scaled(self, factor: float) -> SlaClock:
        """The clock shrunk by ``factor`` around its start (``sla_time_scale``, for tests and demos; 1: as is)."""
        if factor == 1.0:
            return self
        return SlaClock(self.owner_id, self.minutes, self.started_at,
                        self.started_at + (self.accept_by - self.started_at) * factor,
                        self.started_at + (self.reassign_at - self.started_at) * factor)


def sla_clock(policy: RoutingPolicy, owner: Owner, started_at: datetime, minutes: int) -> SlaClock:
    accept_by = working_deadline(started_at, minutes, owner)
    reassign_at = working_deadline(accept_by, policy.sla.reassign_after_minutes, owner)
    return SlaClock(owner.id, minutes, started_at, accept_by, reassign_at)


def next_due_at(clock: SlaClock, *, escalated: bool) -> datetime:
    """When the clock next needs looking at: the deadline, then (once escalated) the reassignment."""
    return clock.reassign_at if escalated else clock.accept_by


def breach_action(policy: RoutingPolicy, *, escalated: bool, reassignments_so_far: int,
                  by_hand: bool = False) -> BreachAction:
    """What a passed deadline calls for: the first breach of an owner's clock escalates; the next step
    reassigns while ``reassignments_so_far`` (this cycle) is below ``sla.max_reassignments``, and then
    gives up (the lead stays, escalated). A lead assigned by hand (``by_hand``) is escalated but never
    moved by the clock: a person chose the owner, and only a person moves it again."""
    if reassignments_so_far < 0:
        raise ValueError(f"reassignments_so_far must be >= 0, got {reassignments_so_far}")
    if not escalated:
        return "escalate"
    if reassignments_so_far < policy.sla.max_reassignments and not by_hand:
        return "reassign"
    return "give_up"


def due_action(policy: RoutingPolicy, clock: SlaClock, now: datetime, *, escalated: bool,
               reassignments_so_far: int, by_hand: bool = False) -> BreachAction | None:
    """What to do at ``now`` for a lead not accepted yet, or None (nothing due yet).

    Call again after acting: with ``reassign_after_minutes: 0`` an escalation and a reassignment fall
    due at the same moment, one call each.
    """
    require_aware(now)
    if now < clock.accept_by:
        return None
    if not escalated:
        return "escalate"
    if now < clock.reassign_at:
        return None
    return breach_action(policy, escalated=True, reassignments_so_far=reassignments_so_far, by_hand=by_hand)
