"""A recycled lead with a retry_after stays in nurture until that day: its activity counts
meanwhile, it qualifies no earlier, and the day itself lets it qualify (pure)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from services.scoring.domain.definition import load_definition
from services.scoring.domain.qualification import Judgement, qualify
from services.scoring.domain.scoring import Activity
from services.scoring.domain.simulation import StoredLead, simulate

SHIPPED = load_definition(Path(__file__).resolve().parents[2] / "config" / "lead_definition.yaml")
NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
GOOD_FIT = {"job_title": "VP Sales", "company_size": 300, "industry": "software", "country": "US",
            "email": "ada@acme-x.com", "email_domain": "acme-x.com"}
DEMO = [Activity("demo_request", NOW - timedelta(hours=1))]
RETRY_AFTER = date(2027, 1, 15)


def test_before_the_date_a_busy_good_fit_waits_in_nurture_with_the_date_as_the_reason() -> None:
    held = qualify(SHIPPED, GOOD_FIT, DEMO, NOW, cycle=2, nurture_until=RETRY_AFTER)
    assert held.stage == "below" and held.held_back and not held.qualified
    assert held.score.engagement > 0 and held.score.stage == "fast_track"  # the activity counts
    assert held.held_because == "recycled: held in nurture until 2027-01-15 (retry_after)"
    assert held.nurture_until == RETRY_AFTER


def test_on_the_date_the_same_lead_qualifies_and_the_hold_is_gone() -> None:
    on_the_day = datetime(2027, 1, 15, 0, 0, tzinfo=UTC)
    free = qualify(SHIPPED, GOOD_FIT, [Activity("demo_request", on_the_day)], on_the_day, cycle=2,
                   nurture_until=RETRY_AFTER)
    assert free.qualified and free.nurture_until is None and free.held_because is None


def test_a_judgement_call_still_decides_within_the_hold() -> None:
    call = Judgement(2, True, "rita.revops", "they called us back", NOW.isoformat())
    assert qualify(SHIPPED, GOOD_FIT, [], NOW, cycle=2, judgement=call, nurture_until=RETRY_AFTER).qualified


def test_the_simulation_holds_the_same_lead_back_as_re_scoring_does() -> None:
    lead = StoredLead(lead_id="l1", email="ada@acme-x.com", source="web", campaign=None, profile=GOOD_FIT,
                      activities=tuple(DEMO), cycle=2, nurture_until=RETRY_AFTER)
    report = simulate(SHIPPED, SHIPPED, [lead], NOW, sample_size=0)
    assert report.recycled_without_new_interest == 1 and report.mql_before == report.mql_after == 0
