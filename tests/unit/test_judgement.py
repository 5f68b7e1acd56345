"""A judgement call on qualification: a person's qualified or disqualified decides the stage for
the rest of the lead's cycle whatever the score says, says why, and lapses with the cycle."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from services.scoring.domain.definition import load_definition
from services.scoring.domain.qualification import Judgement, qualify
from services.scoring.domain.scoring import Activity
from services.scoring.domain.simulation import StoredLead, simulate

SHIPPED = load_definition(Path(__file__).resolve().parents[2] / "config" / "lead_definition.yaml")
NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
STUDENT = {"job_title": "Student", "email": "sam@gmail.com", "email_domain": "gmail.com", "country": "BR"}
GOOD_FIT = {"job_title": "VP Sales", "company_size": 300, "industry": "software", "country": "US",
            "email": "ada@acme-x.com", "email_domain": "acme-x.com"}


def call(qualified: bool, cycle: int = 1) -> Judgement:
    return Judgement(cycle, qualified, "rita.revops", "met them at the booth", NOW.isoformat())


def test_a_lead_qualified_by_hand_is_an_mql_whatever_its_score_and_keeps_its_score():
    plain = qualify(SHIPPED, STUDENT, [], NOW, cycle=1)
    judged = qualify(SHIPPED, STUDENT, [], NOW, cycle=1, judgement=call(True))
    assert (plain.stage, judged.stage, judged.qualified) == ("below", "mql", True)
    assert judged.score == plain.score and judged.score.total == -55
    assert judged.held_because is None and judged.judgement == call(True)


def test_a_fast_track_lead_qualified_by_hand_stays_fast_track():
    demo = [Activity("demo_request", NOW - timedelta(minutes=1))]
    assert qualify(SHIPPED, GOOD_FIT, demo, NOW, cycle=1, judgement=call(True)).stage == "fast_track"


def test_a_lead_disqualified_by_hand_stays_below_however_much_it_engages_and_says_why():
    busy = [Activity("demo_request", NOW - timedelta(minutes=m)) for m in (1, 2)]
    judged = qualify(SHIPPED, GOOD_FIT, busy, NOW, cycle=1, judgement=call(False))
    assert judged.score.stage == "fast_track"
    assert (judged.stage, judged.qualified) == ("below", False)
    assert judged.held_because == "disqualified by hand by rita.revops: met them at the booth"


def test_a_call_from_an_earlier_cycle_no_longer_counts():
    judged = qualify(SHIPPED, STUDENT, [Activity("email_click", NOW)], NOW, cycle=2, judgement=call(True, cycle=1))
    assert judged.stage == "below" and judged.judgement is None


def test_a_recycled_lead_qualified_by_hand_needs_no_new_interest():
    judged = qualify(SHIPPED, STUDENT, [], NOW, cycle=2, judgement=call(True, cycle=2))
    assert judged.qualified and not judged.held_back


def test_a_judgement_travels_as_plain_data_and_back():
    assert Judgement.from_dict(call(False).to_dict()) == call(False)
    assert Judgement.from_dict(None) is None and Judgement.from_dict({}) is None


def test_the_simulation_keeps_a_persons_call_under_any_definition():
    stricter = SHIPPED.model_copy(update={"version": "stricter"})
    leads = [StoredLead("1", "sam@gmail.com", "web", None, STUDENT, judgement=call(True)),
             StoredLead("2", "ada@acme-x.com", "web", None, GOOD_FIT, judgement=call(False))]
    report = simulate(SHIPPED, stricter, leads, NOW)
    assert (report.mql_before, report.mql_after) == (1, 1)
