"""Who gets the lead, and a record that says why: the pure top of routing.

``route`` takes the policy, the lead's facts, who owns which account, each owner's load,
each team's strategy state and the time, and returns a ``RoutingDecision``. It reads no
clock and touches no database; the caller stores the decision (``to_dict``) and the
team's ``state_after``.

How a lead is routed:

1. The first rule whose conditions the lead meets picks the target (a team or a named
   owner); no rule: the policy's ``fallback``.
2. With ``account_match`` on (the rule's, or the fallback's), a lead whose company or
   email domain belongs to an owned account goes to that account's owner when they are
   available. When they are not, that is recorded and routing carries on with the target.
3. A team target: every member is checked (``unavailable_reason``; owners in ``exclude``
   are "excluded") and the team's strategy chooses among the available ones.
   A named-owner target: that owner, if available.
4. Nobody available: the lead is **queued** on the target (``outcome: "queued"``,
   ``owner_id`` None; for a named owner ``team_id`` is None). It waits there until
   someone is available (the caller retries with ``route_queued``) or until the target's
   queue wait is over (teams: ``queue.max_wait_minutes``; named owners: the policy's
   ``owner_queue``), and then goes to the queue's fallback (by default the policy
   fallback). The policy fallback's own queue has no limit: it is the last stop.
   Two cases go to the queue fallback at once instead of waiting: a wait of 0 minutes,
   and a target where nobody could ever be chosen (every candidate inactive, excluded or
   unknown), since waiting for them would be pointless.

The decision lists every rule in order with whether the lead met it and, when not, the
first condition that failed with the lead's value; every candidate considered, in
evaluation order (account owner first, then the target's members in member order, then
the fallback's), with why each was skipped; the strategy state before and after, the SLA
minutes and a one-line reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from services.routing.domain.accounts import find_account
from services.routing.domain.availability import (
    NO_LOAD,
    OwnerLoad,
    next_available_at,
    require_aware,
    unavailable_reason,
)
from services.routing.domain.document_fields import FALLBACK_RULE
from services.routing.domain.lead_facts import LeadFacts
from services.routing.domain.policy import RoutingPolicy
from services.routing.domain.rules import QueueSettings, Rule, RuleCheck, Target, target
from services.routing.domain.sla import SlaClock, sla_clock, sla_minutes_for
from services.routing.domain.strategies import STRATEGY_NAMES, choose, state_from_dict

Via = Literal["account_match", "rule", "fallback", "manual"]
Outcome = Literal["assigned", "queued"]

EXCLUDED = "excluded"
NOT_IN_POLICY = "not_in_policy"
HOPELESS = frozenset({"inactive", EXCLUDED, NOT_IN_POLICY})
"""Skip reasons that waiting will not cure."""


@dataclass(frozen=True)
class Candidate:
    """One owner considered: ``considered_for`` is "account", "team:<id>" or "owner:<id>"."""

    owner_id: str
    available: bool
    skipped: str | None
    considered_for: str
    chosen: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"owner_id": self.owner_id, "available": self.available, "skipped": self.skipped,
                "considered_for": self.considered_for, "chosen": self.chosen}


@dataclass(frozen=True)
class QueueInfo:
    """Where a queued lead waits, since when, until when, and what comes after."""

    target: dict[str, str]
    queued_at: datetime
    max_wait_minutes: int | None
    expires_at: datetime | None
    fallback: dict[str, str] | None
    next_available_at: datetime | None

    def to_dict(self) -> dict[str, Any]:
        return {"target": self.target, "queued_at": self.queued_at.isoformat(),
                "max_wait_minutes": self.max_wait_minutes,
                "expires_at": self.expires_at.isoformat() if self.expires_at else None,
                "fallback": self.fallback,
                "next_available_at": self.next_available_at.isoformat() if self.next_available_at else None}


@dataclass(frozen=True)
class RoutingDecision:
    """One routing, fully explained. ``target`` is where the lead went or waits: the team, the named
    owner, or (via account match) the account owner."""

    policy_version: str
    decided_at: datetime
    rule: str
    target: dict[str, str]
    via: Via
    outcome: Outcome
    owner_id: str | None
    team_id: str | None
    strategy: str | None
    candidates: tuple[Candidate, ...]
    state_before: dict[str, Any] | None
    state_after: dict[str, Any] | None
    sla_minutes: int
    sla: SlaClock | None  # the new owner's clock; None while queued
    reason: str
    account: dict[str, str] | None = None
    queue: QueueInfo | None = None
    excluded: tuple[str, ...] = ()
    rules: tuple[RuleCheck, ...] = ()
    manual: dict[str, str] | None = None  # a judgement call: who and why (``domain.manual``)

    @property
    def accept_by(self) -> datetime | None:
        return self.sla.accept_by if self.sla else None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data (datetimes as ISO 8601 text)."""
        return {
            "policy_version": self.policy_version,
            "decided_at": self.decided_at.isoformat(),
            "rule": self.rule,
            "target": dict(self.target),
            "via": self.via,
            "outcome": self.outcome,
            "owner_id": self.owner_id,
            "team_id": self.team_id,
            "strategy": self.strategy,
            "candidates": [c.to_dict() for c in self.candidates],
            "state_before": self.state_before,
            "state_after": self.state_after,
            "sla_minutes": self.sla_minutes,
            "accept_by": self.accept_by.isoformat() if self.accept_by else None,
            "reassign_at": self.sla.reassign_at.isoformat() if self.sla else None,
            "reason": self.reason,
            "account": self.account,
            "queue": self.queue.to_dict() if self.queue else None,
            "excluded": list(self.excluded),
            "rules": [check.to_dict() for check in self.rules],
            "manual": self.manual,
        }


def queue_expired(policy: RoutingPolicy, where: Target | dict[str, str], queued_at: datetime, now: datetime
                  ) -> bool:
    """Whether a lead queued on ``where`` at ``queued_at`` has waited its maximum by ``now``
    (never, on the last stop: a queue without a fallback)."""
    require_aware(now)
    require_aware(queued_at, "queued_at")
    settings = policy.queue_for(where)
    return (settings.fallback is not None and settings.max_wait_minutes is not None
            and now >= queued_at + timedelta(minutes=settings.max_wait_minutes))


def queue_fallback(policy: RoutingPolicy, where: Target | dict[str, str]) -> Target | None:
    """Where a lead goes when its wait on ``where`` is over; None for the last stop."""
    return policy.queue_for(where).fallback


def route(policy: RoutingPolicy, facts: LeadFacts, *, now: datetime,
          accounts: Mapping[str, str] | None = None,
          loads: Mapping[str, OwnerLoad] | None = None,
          states: Mapping[str, Mapping[str, Any] | None] | None = None,
          exclude: frozenset[str] = frozenset()) -> RoutingDecision:
    """Route a lead afresh: rules, account match, target, queue (see the module docstring).

    ``accounts``: normalised account domain -> owner id. ``loads``: owner id -> their load (missing:
    none). ``states``: team id -> the team's stored strategy state (missing: a fresh one). ``exclude``:
    owners who must not get this lead (e.g. those whose SLA it already breached).
    """
    require_aware(now)
    checks = policy.check_rules(facts)
    rule = _first_matched(policy, checks)
    via: Via
    if rule is None:
        rule_name, where, account_match, via = (FALLBACK_RULE, policy.fallback.target,
                                                policy.fallback.account_match, "fallback")
        head = f"no rule matched -> fallback {where}"
    else:
        rule_name, where, account_match, via = rule.name, rule.assign_to, rule.account_match, "rule"
        head = f"rule {rule.name} -> {where}"
    run = _Run(policy, facts, now, loads or {}, states or {}, frozenset(exclude), rule_name, [head], checks)
    if account_match:
        found = find_account(facts, accounts or {}, policy.free_mail)
        if found is not None:
            domain, owner_id = found
            candidate = run.consider(owner_id, "account")
            run.account = {"domain": domain, "owner_id": owner_id}
            if candidate.available:
                run.candidates[-1] = _chosen(candidate)
                run.reasons.append(f"account {domain} is owned by {owner_id}, who takes it")
                return run.assigned(owner_id, Target(owner=owner_id), "account_match")
            run.reasons.append(f"account {domain} owner {owner_id} unavailable ({candidate.skipped})")
    return run.to_target(where, via, queued_at=now)


def route_queued(policy: RoutingPolicy, facts: LeadFacts, *, queued_on: Target | dict[str, str],
                 queued_at: datetime, rule: str, now: datetime,
                 loads: Mapping[str, OwnerLoad] | None = None,
                 states: Mapping[str, Mapping[str, Any] | None] | None = None,
                 exclude: frozenset[str] = frozenset()) -> RoutingDecision:
    """Try a queued lead again: its queue's target while the wait lasts, the queue's fallback after.

    ``rule`` is the rule recorded when the lead was queued (kept in the new decision; its ``rules`` are
    the policy's rules tried on the lead now, for the explanation). The account is
    not looked up again: the lead is in a pool's queue now. Queued again, the decision says so, with
    the original ``queued_at`` (or ``now`` when it moved on to the fallback).
    """
    require_aware(now)
    require_aware(queued_at, "queued_at")
    where = target(queued_on)
    run = _Run(policy, facts, now, loads or {}, states or {}, frozenset(exclude), rule, [],
               policy.check_rules(facts))
    via: Via = "fallback" if rule == FALLBACK_RULE else "rule"
    settings = policy.queue_for(where)
    if settings.fallback is not None and queue_expired(policy, where, queued_at, now):
        waited = int((now - queued_at).total_seconds() // 60)
        run.reasons.append(f"queued on {where} for {waited} min (max {settings.max_wait_minutes}) "
                           f"-> fallback {settings.fallback}")
        return run.to_target(settings.fallback, "fallback", queued_at=now)
    run.reasons.append(f"rule {rule} -> {where} (queued since {queued_at.isoformat()})")
    return run.to_target(where, via, queued_at=queued_at)


def _first_matched(policy: RoutingPolicy, checks: tuple[RuleCheck, ...]) -> Rule | None:
    matched = next((check.rule for check in checks if check.matched), None)
    return None if matched is None else policy.rule(matched)


def _chosen(candidate: Candidate) -> Candidate:
    return Candidate(candidate.owner_id, candidate.available, candidate.skipped, candidate.considered_for, True)


def _skips(candidates: list[Candidate]) -> str:
    return ", ".join(f"{c.owner_id} ({c.skipped})" for c in candidates if c.skipped)


@dataclass
class _Run:
    """The working state of one decision: what was considered, and the reason so far."""

    policy: RoutingPolicy
    facts: LeadFacts
    now: datetime
    loads: Mapping[str, OwnerLoad]
    states: Mapping[str, Mapping[str, Any] | None]
    exclude: frozenset[str]
    rule: str
    reasons: list[str]
    checks: tuple[RuleCheck, ...] = ()
    candidates: list[Candidate] = field(default_factory=list)
    account: dict[str, str] | None = None
    strategy: str | None = None
    state_before: dict[str, Any] | None = None
    state_after: dict[str, Any] | None = None

    def skip_reason(self, owner_id: str) -> str | None:
        if owner_id in self.exclude:
            return EXCLUDED
        if not self.policy.has_owner(owner_id):
            return NOT_IN_POLICY
        return unavailable_reason(self.policy.owner(owner_id), self.loads.get(owner_id, NO_LOAD), self.now)

    def consider(self, owner_id: str, considered_for: str) -> Candidate:
        skipped = self.skip_reason(owner_id)
        candidate = Candidate(owner_id, skipped is None, skipped, considered_for)
        self.candidates.append(candidate)
        return candidate

    def to_target(self, where: Target, via: Via, *, queued_at: datetime) -> RoutingDecision:
        visited: set[tuple[str, str]] = set()
        while True:
            visited.add(where.key)
            self.strategy = self.state_before = self.state_after = None
            if where.kind == "team":
                considered, chosen = self._team(where)
                if chosen is not None:
                    return self.assigned(chosen, where, via)
            else:
                candidate = self.consider(where.id, f"owner:{where.id}")
                considered = [candidate]
                if candidate.available:
                    self.candidates[-1] = _chosen(candidate)
                    self.reasons.append(f"assigned to {where.id}")
                    return self.assigned(where.id, where, via)
            settings = self.policy.queue_for(where)
            hopeless = all(c.skipped in HOPELESS for c in considered)
            fallback = settings.fallback
            if fallback is None or fallback.key in visited or not (hopeless or settings.max_wait_minutes == 0):
                return self.queued(where, via, considered, settings, queued_at)
            why = "nobody there can ever take it" if hopeless else "nobody available and no wait allowed"
            self.reasons.append(f"{why}: skipped {_skips(considered)}; fallback -> {fallback}")
            where, via, queued_at = fallback, "fallback", self.now

    def _team(self, where: Target) -> tuple[list[Candidate], str | None]:
        team = self.policy.team(where.id)
        before = state_from_dict(team.strategy, self.states.get(team.id))
        first = len(self.candidates)
        considered = [self.consider(m, f"team:{team.id}") for m in team.members]
        available = {c.owner_id for c in considered if c.available}
        weights = {m: self.policy.owner(m).weight for m in team.members}
        opened = {m: self.loads.get(m, NO_LOAD).open_assignments for m in team.members}
        chosen, after = choose(team.strategy, team.members, available, before, weights=weights,
                               open_assignments=opened)
        self.strategy = team.strategy
        self.state_before, self.state_after = before.to_dict(), after.to_dict()
        if chosen is not None:
            index = team.members.index(chosen)
            considered[index] = self.candidates[first + index] = _chosen(considered[index])
            skipped = _skips(considered)
            self.reasons.append(f"{STRATEGY_NAMES[team.strategy]} chose {chosen}"
                                + (f"; skipped {skipped}" if skipped else ""))
        return considered, chosen

    def assigned(self, owner_id: str, where: Target, via: Via) -> RoutingDecision:
        minutes = sla_minutes_for(self.policy, self.rule, self.facts.grade)
        clock = sla_clock(self.policy, self.policy.owner(owner_id), self.now, minutes)
        return self._decision(where, via, "assigned", owner_id, minutes, sla=clock, queue=None)

    def queued(self, where: Target, via: Via, considered: list[Candidate], settings: QueueSettings,
               queued_at: datetime) -> RoutingDecision:
        limited = settings.fallback is not None and settings.max_wait_minutes is not None
        expires_at = queued_at + timedelta(minutes=settings.max_wait_minutes or 0) if limited else None
        moments = [next_available_at(self.policy.owner(c.owner_id), self.now, self.loads.get(c.owner_id))
                   for c in considered if c.skipped not in HOPELESS]
        soonest = min((m for m in moments if m is not None), default=None)
        then = (f"fallback {settings.fallback} after {settings.max_wait_minutes} min" if limited
                else "no time limit")
        nobody = (f"{where.id} unavailable ({considered[0].skipped})" if where.kind == "owner"
                  else f"nobody available: skipped {_skips(considered)}")
        self.reasons.append(f"{nobody}; queued on {where}, {then}")
        info = QueueInfo(where.to_dict(), queued_at, settings.max_wait_minutes if limited else None, expires_at,
                         settings.fallback.to_dict() if limited and settings.fallback else None, soonest)
        minutes = sla_minutes_for(self.policy, self.rule, self.facts.grade)
        return self._decision(where, via, "queued", None, minutes, sla=None, queue=info)

    def _decision(self, where: Target, via: Via, outcome: Outcome, owner_id: str | None, minutes: int, *,
                  sla: SlaClock | None, queue: QueueInfo | None) -> RoutingDecision:
        team_id = where.id if where.kind == "team" else None
        if team_id is None:
            self.strategy = self.state_before = self.state_after = None
        return RoutingDecision(
            policy_version=self.policy.version, decided_at=self.now, rule=self.rule, target=where.to_dict(),
            via=via, outcome=outcome, owner_id=owner_id, team_id=team_id, strategy=self.strategy,
            candidates=tuple(self.candidates), state_before=self.state_before, state_after=self.state_after,
            sla_minutes=minutes, sla=sla, reason="; ".join(self.reasons), account=self.account,
            queue=queue, excluded=tuple(sorted(self.exclude)), rules=self.checks,
        )
