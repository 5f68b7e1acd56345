"""A policy preview sets each open lead's place under the candidate against where it is today:
the kind of change, moves gained and lost per owner and team, samples of each kind; today's
loads without the leads being routed again; a lead assigned by hand stays."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from services.routing.domain.availability import OwnerLoad
from services.routing.domain.lead_facts import LeadFacts
from services.routing.domain.policy import parse_policy
from services.routing.domain.preview import CHANGES, OpenLead, Placement, PreviewRun, change_of, released
from services.routing.domain.snapshot import RoutingSnapshot

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def policy(*, desk: tuple[str, ...] = ("ana", "ben"), cap: int | None = None, **changes: Any):
    owners = [{"id": o, "name": o.title(), "email": f"{o}@example.com", "working_hours": "always",
               **({"capacity": {"per_day": cap}} if cap is not None else {})} for o in ("ana", "ben", "cat")]
    return parse_policy({
        "version": "candidate", "owners": owners,
        "teams": [{"id": "desk", "name": "Desk", "members": list(desk)},
                  {"id": "big", "name": "Big", "members": ["cat"]}],
        "rules": [{"name": "large", "when": {"company_size": {"gte": 1000}}, "assign_to": {"team": "big"}}],
        "fallback": {"team": "desk"}, **changes})


def open_lead(n: int, today: Placement, *, size: int = 10, by_hand: bool = False) -> OpenLead:
    return OpenLead(LeadFacts(lead_id=f"lead-{n}", email=f"l{n}@acme.com", company_size=size), 1, today, by_hand)


def run(candidate, *, loads: dict[str, OwnerLoad] | None = None, sample_size: int = 5) -> PreviewRun:
    return PreviewRun(candidate, RoutingSnapshot(loads or {}, {}, {}), now=NOW, sample_size=sample_size)


ANA = Placement("assigned", "ana", "desk")
BEN = Placement("assigned", "ben", "desk")
WAITING = Placement("queued", None, "desk")


@pytest.mark.parametrize(("today", "candidate", "kind"), [
    (ANA, ANA, "unchanged"),
    (ANA, BEN, "moved"),
    (WAITING, ANA, "now_assigned"),
    (ANA, WAITING, "now_queued"),
    (WAITING, WAITING, "still_queued"),
])
def test_each_kind_of_change(today, candidate, kind):
    assert change_of(today, candidate) == kind


def test_moves_are_counted_per_owner_and_team_and_sampled_per_kind():
    preview = run(policy(desk=("ben",)))
    moves = [preview.add(open_lead(1, ANA)), preview.add(open_lead(2, BEN)),
             preview.add(open_lead(3, ANA, size=5000))]
    result = preview.result()

    assert [(m.change, m.candidate.owner_id, m.rule) for m in moves] == [
        ("moved", "ben", "fallback"), ("unchanged", "ben", "fallback"), ("moved", "cat", "large")]
    assert result.changes == {**dict.fromkeys(CHANGES, 0), "moved": 2, "unchanged": 1}
    assert result.moves_per_owner == {"ana": {"gained": 0, "lost": 2}, "ben": {"gained": 1, "lost": 0},
                                      "cat": {"gained": 1, "lost": 0}}
    assert result.moves_per_team == {"big": {"gained": 1, "lost": 0}, "desk": {"gained": 0, "lost": 1}}
    assert result.assigned_per_owner == {"ana": 0, "ben": 2, "cat": 1}
    assert result.per_rule == {"fallback": 2, "large": 1}
    assert [m.lead_id for m in result.samples["moved"]] == ["lead-1", "lead-3"]
    assert result.samples["unchanged"][0].today == BEN


def test_samples_are_bounded_per_kind_and_totals_count_every_lead():
    preview = run(policy(desk=("ben",)), sample_size=2)
    for n in range(50):
        preview.add(open_lead(n, ANA))
    result = preview.result()
    assert result.leads == result.changes["moved"] == 50
    assert [m.lead_id for m in result.samples["moved"]] == ["lead-0", "lead-1"]


def test_a_lead_assigned_by_hand_stays_and_a_queued_one_may_get_an_owner():
    preview = run(policy(desk=("ben",)))
    kept = preview.add(open_lead(1, ANA, by_hand=True))
    placed = preview.add(open_lead(2, WAITING))
    assert (kept.change, kept.candidate, kept.rule) == ("kept_by_hand", ANA, "manual")
    assert (placed.change, placed.candidate.owner_id) == ("now_assigned", "ben")
    assert preview.result().moves_per_owner == {"ben": {"gained": 1, "lost": 0}}


def test_the_candidate_queues_what_nobody_can_take_and_loads_carry_through_the_run():
    preview = run(policy(cap=1), loads={"ana": OwnerLoad(assigned_today=1, assigned_this_week=1)})
    first, second = preview.add(open_lead(1, ANA)), preview.add(open_lead(2, ANA))
    assert (first.change, first.candidate.owner_id) == ("moved", "ben")  # ana is at her cap
    assert second.change == "now_queued" and second.candidate == Placement("queued", None, "desk")


def test_today_s_loads_release_the_open_leads_being_routed_again():
    loads = {"ana": OwnerLoad(assigned_today=3, assigned_this_week=5, open_assignments=4), "ben": OwnerLoad()}
    assert released(loads, {"ana": OwnerLoad(1, 3, 3), "cat": OwnerLoad(1, 1, 1)}) == {
        "ana": OwnerLoad(assigned_today=2, assigned_this_week=2, open_assignments=1), "ben": OwnerLoad()}
    # the active policy previewed keeps what it decided: ana's lead of today counts no more against her cap
    today = {"ana": OwnerLoad(1, 1, 1)}
    preview = run(policy(cap=1), loads=released(today, today))
    assert preview.add(open_lead(1, ANA)).change == "unchanged"


def test_a_negative_sample_size_is_refused():
    with pytest.raises(ValueError, match="sample_size"):
        run(policy(), sample_size=-1)
