"""The SLA: deadlines counted in the owner's working time (evenings, weekends, time zones,
DST changes), which minutes apply, and what a breach leads to."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.routing.domain.availability import in_working_hours
from services.routing.domain.decision import route
from services.routing.domain.lead_facts import LeadFacts
from services.routing.domain.owners import Owner
from services.routing.domain.policy import RoutingPolicy, parse_policy
from services.routing.domain.sla import (
    breach_action,
    due_action,
    next_due_at,
    sla_clock,
    sla_minutes_for,
    working_deadline,
)

OFFICE = {d: [["09:00", "17:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}
LUNCH = {d: [["09:00", "12:00"], ["13:00", "17:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}
ROUND_THE_CLOCK = {d: [["00:00", "24:00"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
NEW_YORK, BERLIN, TOKYO = ZoneInfo("America/New_York"), ZoneInfo("Europe/Berlin"), ZoneInfo("Asia/Tokyo")


def make_owner(timezone: str = "UTC", working_hours: Any = OFFICE, oid: str = "ana") -> Owner:
    return Owner.model_validate({"id": oid, "name": oid, "email": f"{oid}@x.io", "timezone": timezone,
                                 "working_hours": working_hours})


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


OFFICE_UTC = make_owner()


# ---------------------------------------------------------------------------------------------
# working_deadline


@pytest.mark.parametrize(("start", "minutes", "expected"), [
    (utc(2026, 3, 2, 10, 0), 60, utc(2026, 3, 2, 11, 0)),        # Monday, inside the day
    (utc(2026, 3, 2, 16, 30), 60, utc(2026, 3, 3, 9, 30)),       # across the evening
    (utc(2026, 3, 2, 16, 0), 60, utc(2026, 3, 2, 17, 0)),        # lands on the end of the day: stays there
    (utc(2026, 3, 6, 16, 0), 120, utc(2026, 3, 9, 10, 0)),       # Friday afternoon, across the weekend
    (utc(2026, 3, 2, 7, 0), 30, utc(2026, 3, 2, 9, 30)),         # before the day starts
    (utc(2026, 3, 7, 12, 0), 15, utc(2026, 3, 9, 9, 15)),        # assigned on a Saturday
    (utc(2026, 3, 2, 9, 0), 5 * 8 * 60, utc(2026, 3, 6, 17, 0)),  # a whole working week
    (utc(2026, 3, 2, 9, 0), 5 * 8 * 60 + 1, utc(2026, 3, 9, 9, 1)),
])
def test_deadlines_count_only_working_time(start, minutes, expected):
    assert working_deadline(start, minutes, OFFICE_UTC) == expected


def test_a_lunch_break_is_not_working_time():
    assert working_deadline(utc(2026, 3, 2, 11, 30), 60, make_owner(working_hours=LUNCH)) == utc(2026, 3, 2, 13, 30)
    assert working_deadline(utc(2026, 3, 2, 12, 15), 10, make_owner(working_hours=LUNCH)) == utc(2026, 3, 2, 13, 10)


def test_working_time_is_the_owners_own_time_zone():
    new_york = make_owner("America/New_York")
    # Monday 15:00 in New York (20:00 UTC): two hours today, one more from 09:00 Tuesday (14:00 UTC)
    assert working_deadline(utc(2026, 3, 2, 20, 0), 180, new_york) == utc(2026, 3, 3, 15, 0)
    # the same instant is outside a Tokyo owner's hours (Tuesday 05:00 there): from 09:00 Tokyo
    assert working_deadline(utc(2026, 3, 2, 20, 0), 60, make_owner("Asia/Tokyo")) == utc(2026, 3, 3, 1, 0)


def test_the_deadline_is_given_in_the_starting_time_zone():
    start = datetime(2026, 3, 2, 10, 0, tzinfo=TOKYO)  # Monday 01:00 UTC: before a UTC owner's day
    deadline = working_deadline(start, 30, OFFICE_UTC)
    assert deadline.tzinfo == TOKYO and deadline == utc(2026, 3, 2, 9, 30)


def test_dst_starting_in_europe_over_a_weekend():
    berlin = make_owner("Europe/Berlin")
    # Friday 27 March 16:00 CET (15:00 UTC); clocks go forward on Sunday 29 March
    deadline = working_deadline(utc(2026, 3, 27, 15, 0), 120, berlin)
    assert deadline == utc(2026, 3, 30, 8, 0)  # Monday 10:00 CEST, not 09:00 UTC
    assert deadline.astimezone(BERLIN).hour == 10


def test_dst_starting_in_the_us_over_a_weekend():
    new_york = make_owner("America/New_York")
    # Friday 6 March 16:00 EST (21:00 UTC); clocks go forward on Sunday 8 March
    assert working_deadline(utc(2026, 3, 6, 21, 0), 120, new_york) == utc(2026, 3, 9, 14, 0)  # Monday 10:00 EDT


def test_a_day_with_a_dst_change_lasts_as_long_as_it_really_does():
    around_the_clock = make_owner("America/New_York", ROUND_THE_CLOCK)
    start = datetime(2026, 11, 1, 0, 0, tzinfo=NEW_YORK)  # Sunday 1 November: 25 hours long in New York
    deadline = working_deadline(start, 24 * 60, around_the_clock)
    # elapsed time (aware datetimes in one zone subtract as wall-clock times, hence UTC)
    assert deadline.astimezone(UTC) - start.astimezone(UTC) == timedelta(hours=24)
    assert deadline.astimezone(NEW_YORK).replace(tzinfo=None) == datetime(2026, 11, 1, 23, 0)
    spring = datetime(2026, 3, 8, 0, 0, tzinfo=NEW_YORK)  # 23 hours long
    assert working_deadline(spring, 24 * 60, around_the_clock).astimezone(NEW_YORK).replace(tzinfo=None) == \
        datetime(2026, 3, 9, 1, 0)


def test_an_owner_without_working_hours_counts_plain_minutes():
    always = make_owner(working_hours="always")
    saturday_night = utc(2026, 3, 7, 23, 30)
    assert working_deadline(saturday_night, 45, always) == utc(2026, 3, 8, 0, 15)
    across_dst = datetime(2026, 3, 8, 1, 30, tzinfo=NEW_YORK)
    assert working_deadline(across_dst, 60, always) == across_dst.astimezone(UTC) + timedelta(hours=1)
    assert working_deadline(across_dst, 60, always).astimezone(NEW_YORK).hour == 3  # 01:30 EST + 1 h = 03:30 EDT


def test_zero_minutes_is_the_start_and_bad_input_is_refused():
    saturday = utc(2026, 3, 7, 12, 0)
    assert working_deadline(saturday, 0, OFFICE_UTC) == saturday
    with pytest.raises(ValueError, match="minutes must be >= 0"):
        working_deadline(saturday, -1, OFFICE_UTC)
    with pytest.raises(ValueError, match="time-zone aware"):
        working_deadline(datetime(2026, 3, 7, 12), 10, OFFICE_UTC)


OWNERS = [
    make_owner(),
    make_owner("America/New_York"),
    make_owner("Europe/Berlin", LUNCH),
    make_owner("Australia/Sydney", {"sat": [["22:00", "24:00"]], "sun": [["00:00", "02:00"], ["10:00", "11:00"]]}),
    make_owner("Asia/Kolkata", {"mon": [["09:30", "18:30"]], "thu": [["00:00", "24:00"]]}),
    make_owner("Europe/London", "always"),
]
STARTS = st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC))


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(OWNERS), STARTS, st.integers(0, 6000), st.integers(0, 6000))
def test_working_time_adds_up(owner, start, a, b):
    first = working_deadline(start, a, owner)
    assert first >= start
    assert working_deadline(first, b, owner) == working_deadline(start, a + b, owner)
    if a > 0:  # the last minute counted was working time
        assert in_working_hours(owner, first - timedelta(microseconds=1))
        assert first - start >= timedelta(minutes=a)


# ---------------------------------------------------------------------------------------------
# which minutes


def sla_policy(**sla: Any) -> RoutingPolicy:
    return parse_policy({
        "version": "sla-1",
        "owners": [{"id": o, "name": o, "email": f"{o}@x.io", "timezone": "UTC", "working_hours": OFFICE}
                   for o in ("ana", "ben", "cleo", "dan")],
        "teams": [{"id": "desk", "name": "Desk", "members": ["ana", "ben", "cleo", "dan"]}],
        "rules": [{"name": "vip", "when": {"source": ["vip"]}, "assign_to": {"team": "desk"}, "sla_minutes": 5},
                  {"name": "plain", "when": {"source": ["web"]}, "assign_to": {"team": "desk"}}],
        "fallback": {"team": "desk"},
        "sla": {"default_minutes": 240,
                "by_grade": {"A*": 60, "A1": 15, "*1": 50, "B*": 120, "B2": 90}, **sla},
    })


@pytest.mark.parametrize(("rule", "grade", "minutes"), [
    ("vip", "A1", 5),         # the rule's own minutes win over everything
    ("vip", None, 5),
    ("plain", "A1", 15),      # an exact grade beats every pattern
    ("plain", "a1", 15),      # whatever the case
    ("plain", "A3", 60),      # A*
    ("plain", "C1", 50),      # *1
    ("plain", "B1", 50),      # *1 and B* are as specific: the first in the file
    ("plain", "B2", 90),
    ("plain", "D4", 240),     # nothing matches: the default
    ("plain", None, 240),
    ("fallback", "B3", 120),  # no rule matched: by grade
    ("gone", "A1", 15),       # a rule that is no longer in the policy: by grade
])
def test_sla_minutes_precedence(rule, grade, minutes):
    assert sla_minutes_for(sla_policy(), rule, grade) == minutes


def test_a_more_specific_pattern_wins_over_file_order():
    p = sla_policy(by_grade={"*": 200, "A*": 70})
    assert sla_minutes_for(p, "plain", "A4") == 70 and sla_minutes_for(p, "plain", "C4") == 200


# ---------------------------------------------------------------------------------------------
# breaches


def test_breach_actions_escalate_then_reassign_up_to_the_cap():
    p = sla_policy(max_reassignments=2)
    assert breach_action(p, escalated=False, reassignments_so_far=0) == "escalate"
    assert breach_action(p, escalated=False, reassignments_so_far=2) == "escalate"  # every new owner is told first
    assert breach_action(p, escalated=True, reassignments_so_far=0) == "reassign"
    assert breach_action(p, escalated=True, reassignments_so_far=1) == "reassign"
    assert breach_action(p, escalated=True, reassignments_so_far=2) == "give_up"
    assert breach_action(sla_policy(max_reassignments=0), escalated=True, reassignments_so_far=0) == "give_up"
    with pytest.raises(ValueError, match="reassignments_so_far"):
        breach_action(p, escalated=True, reassignments_so_far=-1)


def test_the_clock_escalates_at_the_deadline_and_reassigns_after_the_grace():
    p = sla_policy(reassign_after_minutes=30)
    clock = sla_clock(p, p.owner("ana"), utc(2026, 3, 2, 16, 30), 60)
    assert (clock.accept_by, clock.reassign_at) == (utc(2026, 3, 3, 9, 30), utc(2026, 3, 3, 10, 0))
    assert next_due_at(clock, escalated=False) == clock.accept_by
    assert next_due_at(clock, escalated=True) == clock.reassign_at
    tenth = clock.scaled(0.1)  # tests and demos shrink a clock around its start
    assert (tenth.accept_by - tenth.started_at, tenth.reassign_at - tenth.started_at) == (
        (clock.accept_by - clock.started_at) / 10, (clock.reassign_at - clock.started_at) / 10)
    assert clock.scaled(1.0) is clock

    def due(now: datetime, escalated: bool, reassigned: int = 0) -> str | None:
        return due_action(p, clock, now, escalated=escalated, reassignments_so_far=reassigned)

    assert due(utc(2026, 3, 2, 23, 0), False) is None  # overnight does not count
    assert due(utc(2026, 3, 3, 9, 29), False) is None
    assert due(utc(2026, 3, 3, 9, 30), False) == "escalate"
    assert due(utc(2026, 3, 3, 9, 45), True) is None
    assert due(utc(2026, 3, 3, 10, 0), True) == "reassign"
    assert due(utc(2026, 3, 3, 10, 0), True, reassigned=2) == "give_up"
    # the grace period is working time too: due at 16:45, 15 minutes until 17:00 and 15 more on Tuesday
    late = sla_clock(p, p.owner("ana"), utc(2026, 3, 2, 15, 45), 60)
    assert (late.accept_by, late.reassign_at) == (utc(2026, 3, 2, 16, 45), utc(2026, 3, 3, 9, 15))


def test_no_grace_escalates_and_reassigns_at_the_same_moment():
    p = sla_policy(reassign_after_minutes=0)
    clock = sla_clock(p, p.owner("ana"), utc(2026, 3, 2, 10, 0), 15)
    assert due_action(p, clock, clock.accept_by, escalated=False, reassignments_so_far=0) == "escalate"
    assert due_action(p, clock, clock.accept_by, escalated=True, reassignments_so_far=0) == "reassign"


def test_a_breached_lead_moves_on_to_the_next_eligible_owner_until_the_cap():
    p = sla_policy(max_reassignments=2, reassign_after_minutes=10)
    lead = LeadFacts(lead_id="l", source="web", grade="A1")
    now = utc(2026, 3, 2, 10, 0)
    decision = route(p, lead, now=now)
    holders, states = [decision.owner_id], {"desk": decision.state_after}
    reassignments = 0
    while True:
        clock = sla_clock(p, p.owner(holders[-1]), now, decision.sla_minutes)
        assert decision.accept_by == clock.accept_by == now + timedelta(minutes=15)
        assert due_action(p, clock, clock.accept_by, escalated=False, reassignments_so_far=reassignments) == "escalate"
        action = due_action(p, clock, clock.reassign_at, escalated=True, reassignments_so_far=reassignments)
        if action == "give_up":
            break
        assert action == "reassign"
        now = clock.reassign_at
        decision = route(p, lead, now=now, states=states, exclude=frozenset(holders))
        assert decision.outcome == "assigned" and decision.owner_id not in holders
        holders.append(decision.owner_id)
        states["desk"] = decision.state_after
        reassignments += 1
    assert holders == ["ana", "ben", "cleo"] and reassignments == 2
