"""What a candidate routing policy would do with the leads open now, before anyone publishes
it: each lead that is qualified, open and in its current cycle (assigned and not accepted
yet, or waiting in a queue) routed again in order, set against where it is today (pure;
the caller streams the leads and reads the snapshot).

Nothing is assigned. Loads and rotation carry through the run, starting from today's loads
without the leads being routed again (each would leave its owner first), so the preview
shows what re-routing them all at once would do. A lead a person assigned by hand stays
where it is, as it would under any policy.

Memory is bounded by the number of owners and teams and the sample size, not by the
number of leads: the caller gets each lead's move back from ``PreviewRun.add`` and may
stream it on, and the run keeps only totals and samples.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from services.routing.domain.availability import OwnerLoad
from services.routing.domain.decision import route
from services.routing.domain.lead_facts import LeadFacts
from services.routing.domain.policy import RoutingPolicy
from services.routing.domain.snapshot import RoutingSnapshot

Change = Literal["unchanged", "moved", "now_assigned", "now_queued", "still_queued", "kept_by_hand"]
CHANGES: tuple[Change, ...] = ("unchanged", "moved", "now_assigned", "now_queued", "still_queued", "kept_by_hand")
"""unchanged: same owner; moved: another owner; now_assigned: waits in a queue today, an owner
under the candidate; now_queued: has an owner today, would wait; still_queued: waits under
both; kept_by_hand: a person assigned it, no policy moves it."""


@dataclass(frozen=True)
class Placement:
    """Where a lead is, or would be: with an owner, or waiting in a queue (of a team or owner)."""

    outcome: Literal["assigned", "queued"]
    owner_id: str | None
    team_id: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"outcome": self.outcome, "owner_id": self.owner_id, "team_id": self.team_id}


@dataclass(frozen=True)
class OpenLead:
    """A lead the candidate would route now, with where it is today."""

    facts: LeadFacts
    cycle: int
    today: Placement
    by_hand: bool = False


@dataclass(frozen=True)
class LeadMove:
    lead_id: str
    email: str | None
    cycle: int
    change: Change
    today: Placement
    candidate: Placement
    rule: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"lead_id": self.lead_id, "email": self.email, "cycle": self.cycle, "change": self.change,
                "today": self.today.to_dict(), "candidate": self.candidate.to_dict(), "rule": self.rule,
                "reason": self.reason}


@dataclass(frozen=True)
class PolicyPreview:
    policy_version: str
    leads: int
    assigned_per_owner: dict[str, int]
    queued: int
    per_rule: dict[str, int]
    changes: dict[str, int] = field(default_factory=dict)  # every kind of ``Change``, zeros included
    moves_per_owner: dict[str, dict[str, int]] = field(default_factory=dict)  # owner -> gained, lost
    moves_per_team: dict[str, dict[str, int]] = field(default_factory=dict)  # team -> gained, lost
    samples: dict[str, list[LeadMove]] = field(default_factory=dict)  # the first leads of each kind


def change_of(today: Placement, candidate: Placement) -> Change:
    if today.outcome == "queued":
        return "still_queued" if candidate.outcome == "queued" else "now_assigned"
    if candidate.outcome == "queued":
        return "now_queued"
    return "unchanged" if candidate.owner_id == today.owner_id else "moved"


def released(loads: Mapping[str, OwnerLoad], moving: Mapping[str, OwnerLoad]) -> dict[str, OwnerLoad]:
    """Today's loads without the open leads the preview routes again (each leaves its owner
    first, so the active policy previewed keeps what it decided)."""
    return {owner_id: _minus(load, moving.get(owner_id)) for owner_id, load in loads.items()}


def _minus(load: OwnerLoad, part: OwnerLoad | None) -> OwnerLoad:
    if part is None:
        return load
    return OwnerLoad(max(0, load.assigned_today - part.assigned_today),
                     max(0, load.assigned_this_week - part.assigned_this_week),
                     max(0, load.open_assignments - part.open_assignments))


class PreviewRun:
    """One preview, lead by lead: ``add`` each open lead in routing order, then ``result``."""

    def __init__(self, candidate: RoutingPolicy, snapshot: RoutingSnapshot, *, now: datetime,
                 sample_size: int) -> None:
        if sample_size < 0:
            raise ValueError(f"sample_size must be >= 0, got {sample_size}")
        self._candidate, self._snapshot, self._now, self._sample_size = candidate, snapshot, now, sample_size
        self._count = self._queued = 0
        self._per_owner = {o.id: 0 for o in candidate.owners}
        self._per_rule: Counter[str] = Counter()
        self._changes: Counter[str] = Counter(dict.fromkeys(CHANGES, 0))
        self._owner_moves: dict[str, Counter[str]] = {}
        self._team_moves: dict[str, Counter[str]] = {}
        self._samples: dict[str, list[LeadMove]] = {kind: [] for kind in CHANGES}

    def add(self, lead: OpenLead) -> LeadMove:
        self._count += 1
        move = self._kept(lead) if lead.by_hand else self._routed(lead)
        self._changes[move.change] += 1
        self._per_rule[move.rule] += 1
        if move.candidate.outcome == "queued":
            self._queued += 1
        elif move.candidate.owner_id is not None:
            self._per_owner[move.candidate.owner_id] = self._per_owner.get(move.candidate.owner_id, 0) + 1
        if move.today.owner_id != move.candidate.owner_id:
            self._moved(self._owner_moves, move.today.owner_id, move.candidate.owner_id)
        if move.today.team_id != move.candidate.team_id:
            self._moved(self._team_moves, move.today.team_id, move.candidate.team_id)
        if len(self._samples[move.change]) < self._sample_size:
            self._samples[move.change].append(move)
        return move

    def result(self) -> PolicyPreview:
        return PolicyPreview(
            policy_version=self._candidate.version, leads=self._count, assigned_per_owner=dict(self._per_owner),
            queued=self._queued, per_rule=dict(sorted(self._per_rule.items())), changes=dict(self._changes),
            moves_per_owner=_plain(self._owner_moves), moves_per_team=_plain(self._team_moves),
            samples={kind: list(moves) for kind, moves in self._samples.items()})

    def _routed(self, lead: OpenLead) -> LeadMove:
        decision = route(self._candidate, lead.facts, now=self._now, accounts=self._snapshot.accounts,
                         loads=self._snapshot.loads, states=self._snapshot.states)
        if decision.outcome == "assigned" and decision.owner_id is not None:
            self._snapshot.assigned(decision)
            candidate = Placement("assigned", decision.owner_id, decision.team_id)
        else:
            target = decision.queue.target if decision.queue else {}
            candidate = Placement("queued", target.get("owner"), target.get("team"))
        return LeadMove(lead.facts.lead_id, lead.facts.email, lead.cycle, change_of(lead.today, candidate),
                        lead.today, candidate, decision.rule, decision.reason)

    @staticmethod
    def _kept(lead: OpenLead) -> LeadMove:
        return LeadMove(lead.facts.lead_id, lead.facts.email, lead.cycle, "kept_by_hand", lead.today, lead.today,
                        "manual", "assigned by hand: a policy does not move it")

    @staticmethod
    def _moved(table: dict[str, Counter[str]], lost_by: str | None, gained_by: str | None) -> None:
        if lost_by is not None:
            table.setdefault(lost_by, Counter(gained=0, lost=0))["lost"] += 1
        if gained_by is not None:
            table.setdefault(gained_by, Counter(gained=0, lost=0))["gained"] += 1


def _plain(table: dict[str, Counter[str]]) -> dict[str, dict[str, int]]:
    return {key: {"gained": counts["gained"], "lost": counts["lost"]} for key, counts in sorted(table.items())}
