"""Judgement calls: a lead assigned by hand is recorded like any decision (who, why, the SLA by
grade in the owner's working time), may go to an owner who is away, never to an inactive or
unknown one; the SLA clock escalates it but never moves it; no policy rule may be named
after it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.routing.domain.availability import OwnerLoad
from services.routing.domain.lead_facts import LeadFacts
from services.routing.domain.manual import JudgementCall, ManualRefused, assign_by_hand
from services.routing.domain.policy import PolicyError, parse_policy
from services.routing.domain.sla import breach_action, due_action

MONDAY = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
OFFICE = {d: [["09:00", "17:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}
CALL = JudgementCall("rita.revops", "she met their CTO last week")


def policy(**changes: Any):
    data: dict[str, Any] = {
        "version": "manual-1",
        "owners": [
            {"id": "ana", "name": "Ana", "email": "ana@example.com", "working_hours": "always"},
            {"id": "ben", "name": "Ben", "email": "ben@example.com", "timezone": "America/New_York",
             "working_hours": OFFICE, "capacity": {"per_day": 1}},
            {"id": "old", "name": "Old", "email": "old@example.com", "status": "inactive"},
        ],
        "teams": [{"id": "desk", "name": "Desk", "members": ["ana", "ben"]}],
        "rules": [{"name": "big", "when": {"company_size": {"gte": 1000}}, "assign_to": {"team": "desk"},
                   "sla_minutes": 5}],
        "fallback": {"team": "desk"},
        "sla": {"default_minutes": 120, "by_grade": {"A*": 30}, "max_reassignments": 2},
        **changes,
    }
    return parse_policy(data)


def test_a_lead_assigned_by_hand_records_who_why_and_the_sla_for_its_grade():
    lead = LeadFacts(lead_id="l", company_size=5000, grade="A2")
    decision = assign_by_hand(policy(), lead, "ana", CALL, now=MONDAY)
    data = decision.to_dict()
    assert (data["rule"], data["via"], data["outcome"], data["owner_id"], data["target"]) == (
        "manual", "manual", "assigned", "ana", {"owner": "ana"})
    assert data["manual"] == {"by": "rita.revops", "reason": "she met their CTO last week"}
    assert data["reason"] == "assigned by hand to ana by rita.revops: she met their CTO last week"
    # the grade's SLA, not the rule the lead would have met: a person decided, not the rule
    assert data["sla_minutes"] == 30 and decision.accept_by == MONDAY + timedelta(minutes=30)
    assert data["rules"] == [{"rule": "big", "matched": True, "failed": None}]
    assert data["candidates"] == [{"owner_id": "ana", "available": True, "skipped": None,
                                   "considered_for": "manual", "chosen": True}]


def test_an_owner_who_is_away_still_gets_the_lead_and_the_clock_counts_their_working_time():
    sunday = MONDAY - timedelta(days=1)
    decision = assign_by_hand(policy(), LeadFacts(lead_id="l"), "ben", CALL, now=sunday,
                              load=OwnerLoad(assigned_today=1, assigned_this_week=1, open_assignments=1))
    assert decision.owner_id == "ben"
    assert decision.reason.endswith("(ben is outside working hours now; the SLA counts their working time)")
    assert decision.candidates[0].skipped == "outside_working_hours"
    # 120 minutes of Ben's Monday, from 09:00 in New York (14:00 UTC)
    assert decision.accept_by == datetime(2026, 3, 2, 16, 0, tzinfo=UTC)


@pytest.mark.parametrize(("owner_id", "message"), [("old", "old is inactive and takes no leads"),
                                                   ("nobody", "no owner 'nobody' in the active policy")])
def test_nobody_inactive_or_unknown_takes_a_lead_by_hand(owner_id, message):
    with pytest.raises(ManualRefused, match=message):
        assign_by_hand(policy(), LeadFacts(lead_id="l"), owner_id, CALL, now=MONDAY)


def test_the_clock_escalates_a_hand_made_assignment_and_then_leaves_it_where_it_is():
    p = policy()
    decision = assign_by_hand(p, LeadFacts(lead_id="l"), "ana", CALL, now=MONDAY)
    assert decision.sla is not None
    clock = decision.sla
    assert due_action(p, clock, clock.accept_by, escalated=False, reassignments_so_far=0, by_hand=True) == "escalate"
    assert due_action(p, clock, clock.reassign_at, escalated=True, reassignments_so_far=0, by_hand=True) == "give_up"
    assert due_action(p, clock, clock.reassign_at, escalated=True, reassignments_so_far=0) == "reassign"
    assert breach_action(p, escalated=True, reassignments_so_far=0, by_hand=True) == "give_up"


@pytest.mark.parametrize("name", ["manual", "fallback"])
def test_no_rule_may_take_a_name_decisions_reserve(name):
    with pytest.raises(PolicyError, match=f"'{name}' is reserved"):
        policy(rules=[{"name": name, "when": {}, "assign_to": {"team": "desk"}}])
