"""Simulating a candidate definition over stored leads, against hand-computed expectations."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from services.scoring.domain.definition import parse_definition
from services.scoring.domain.scoring import Activity
from services.scoring.domain.simulation import StoredLead, simulate

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)
GRADES = {"fit": {"A": 60, "B": 40, "C": 20}, "engagement": {"1": 50, "2": 25, "3": 10}}

CURRENT = parse_definition({
    "version": "v1", "thresholds": {"mql": 50, "fast_track": 90}, "grades": GRADES,
    "fit_rules": [{"name": "size", "field": "company_size", "op": "gte", "value": 50, "points": 20},
                  {"name": "vp", "field": "job_title", "op": "contains_any", "value": ["vp"], "points": 30}],
    "engagement_rules": [{"name": "demo", "activity": "demo_request", "points": 25}],
})
# mql 60 and fast track 110; the size rule is worth 25; a new rule for the US
CANDIDATE = parse_definition({
    "version": "v2", "thresholds": {"mql": 60, "fast_track": 110}, "grades": GRADES,
    "fit_rules": [{"name": "size", "field": "company_size", "op": "gte", "value": 50, "points": 25},
                  {"name": "vp", "field": "job_title", "op": "contains_any", "value": ["vp"], "points": 30},
                  {"name": "us", "field": "country", "op": "equals", "value": "US", "points": 10}],
    "engagement_rules": [{"name": "demo", "activity": "demo_request", "points": 25}],
})

DEMO = Activity("demo_request", NOW)


def lead(lead_id, source, campaign, profile, activities=()):
    return StoredLead(lead_id=lead_id, email=f"{lead_id}@example.com", source=source, campaign=campaign,
                      profile=profile, activities=tuple(activities))


LEADS = [
    # before: 20 + 30 + 50 = 100 fast_track; after: 25 + 30 + 50 = 105 mql (fast track now 110)
    lead("lead-3", "ads", None, {"company_size": 100, "job_title": "VP Sales", "country": "DE"}, [DEMO, DEMO]),
    # before: 20 + 25 = 45 below; after: 25 + 10 + 25 = 60 mql
    lead("lead-1", "web", "spring", {"company_size": 100, "country": "US"}, [DEMO]),
    # before: 20 + 30 = 50 mql; after: 25 + 30 + 10 = 65 mql (no change)
    lead("lead-4", None, "spring", {"company_size": 300, "job_title": "VP IT", "country": "US"}),
    # 0 before and after
    lead("lead-0", "ads", "autumn", {}),
    # before: 20 + 30 = 50 mql; after: 25 + 30 = 55 below (mql now 60)
    lead("lead-2", "partner", "spring", {"company_size": 100, "job_title": "VP Sales", "country": "DE"}),
]


def test_the_report_counts_flips_transitions_and_qualified_leads_by_source_and_campaign():
    report = simulate(CURRENT, CANDIDATE, LEADS, NOW).to_dict()
    assert report == {
        "current_version": "v1",
        "candidate_version": "v2",
        "leads_scored": 5,
        "changed_stage": 3,
        "transitions": {"below->mql": 1, "fast_track->mql": 1, "mql->below": 1},
        "mql_before": 3,  # lead-2, lead-3, lead-4
        "mql_after": 3,  # lead-1, lead-3, lead-4
        "by_source": {"(none)": {"before": 1, "after": 1}, "ads": {"before": 1, "after": 1},
                      "partner": {"before": 1, "after": 0}, "web": {"before": 0, "after": 1}},
        "by_campaign": {"(none)": {"before": 1, "after": 1}, "autumn": {"before": 0, "after": 0},
                        "spring": {"before": 2, "after": 2}},
        "samples": [
            {"lead_id": "lead-1", "email": "lead-1@example.com",
             "before": {"score": 45, "stage": "below", "grade": "C2"},
             "after": {"score": 60, "stage": "mql", "grade": "C2"},
             "rules_gained": ["us"], "rules_lost": []},
            {"lead_id": "lead-2", "email": "lead-2@example.com",
             "before": {"score": 50, "stage": "mql", "grade": "B4"},
             "after": {"score": 55, "stage": "below", "grade": "B4"},
             "rules_gained": [], "rules_lost": []},
            {"lead_id": "lead-3", "email": "lead-3@example.com",
             "before": {"score": 100, "stage": "fast_track", "grade": "B1"},
             "after": {"score": 105, "stage": "mql", "grade": "B1"},
             "rules_gained": [], "rules_lost": []},
        ],
        "flipped_lead_ids": ["lead-1", "lead-2", "lead-3"],
        "recycled_without_new_interest": 0,
        "by_grade": {  # fit A >= 60, B >= 40, C >= 20; engagement 1 >= 50, 2 >= 25
            "A4": {"leads_before": 0, "leads_after": 1, "qualified_before": 0, "qualified_after": 1},  # lead-4 after
            "B1": {"leads_before": 1, "leads_after": 1, "qualified_before": 1, "qualified_after": 1},  # lead-3
            "B4": {"leads_before": 2, "leads_after": 1, "qualified_before": 2, "qualified_after": 0},  # lead-4, -2
            "C2": {"leads_before": 1, "leads_after": 1, "qualified_before": 0, "qualified_after": 1},  # lead-1
            "D4": {"leads_before": 1, "leads_after": 1, "qualified_before": 0, "qualified_after": 0},  # lead-0
        },
        "held_on_an_axis": {"before": 0, "after": 0},
    }
    json.dumps(report)  # ready for a JSON body


def test_a_recycled_lead_without_new_interest_is_counted_apart_as_re_scoring_would_hold_it_back():
    recycled = StoredLead(lead_id="lead-9", email="lead-9@example.com", source="web", campaign=None,
                          profile={"company_size": 100, "job_title": "VP Sales", "country": "DE"}, cycle=2)
    engaged_again = StoredLead(lead_id="lead-8", email="lead-8@example.com", source="web", campaign=None,
                               profile={"company_size": 100, "job_title": "VP Sales", "country": "DE"},
                               activities=(DEMO,), cycle=2)
    report = simulate(CURRENT, CANDIDATE, [*LEADS, recycled, engaged_again], NOW)
    assert report.recycled_without_new_interest == 1
    assert report.leads_scored == len(LEADS) + 1 and "lead-9" not in report.flipped_lead_ids


def test_samples_are_limited_but_every_flipped_lead_is_listed():
    report = simulate(CURRENT, CANDIDATE, LEADS, NOW, sample_size=2)
    assert [s["lead_id"] for s in report.samples] == ["lead-1", "lead-2"]
    assert report.flipped_lead_ids == ["lead-1", "lead-2", "lead-3"]
    assert simulate(CURRENT, CANDIDATE, LEADS, NOW, sample_size=0).samples == []


def test_the_order_of_the_stored_leads_does_not_change_the_report():
    assert simulate(CURRENT, CANDIDATE, LEADS[::-1], NOW) == simulate(CURRENT, CANDIDATE, LEADS, NOW)


def test_rules_lost_are_listed_in_the_flips():
    without_vp = parse_definition({**CURRENT.model_dump(mode="json"), "version": "v3",
                                   "fit_rules": [CURRENT.fit_rules[0].model_dump(mode="json")]})
    report = simulate(CURRENT, without_vp, LEADS, NOW)
    assert report.transitions == {"fast_track->mql": 1, "mql->below": 2}
    assert [(s["lead_id"], s["rules_lost"], s["after"]["score"]) for s in report.samples] == [
        ("lead-2", ["vp"], 20), ("lead-3", ["vp"], 70), ("lead-4", ["vp"], 20)]


def test_the_same_definition_changes_nothing():
    report = simulate(CURRENT, CURRENT, LEADS, NOW)
    assert (report.changed_stage, report.transitions, report.samples, report.flipped_lead_ids) == (0, {}, [], [])
    assert report.mql_before == report.mql_after == 3


def test_both_definitions_use_the_same_now():
    # an activity 30 days old under a 30-day half-life: 40 * 0.5 = 20 in both
    decaying = parse_definition({**CURRENT.model_dump(mode="json"), "version": "v4", "engagement_rules": [
        {"name": "demo", "activity": "demo_request", "points": 40, "decay": {"half_life_days": 30}}]})
    old_demo = Activity("demo_request", datetime(2026, 10, 24, 12, tzinfo=UTC))
    stored = [lead("x", "web", None, {"company_size": 100}, [old_demo])]  # 20 + 20 = 40
    report = simulate(decaying, decaying, stored, NOW)
    assert report.mql_before == report.mql_after == 0
    lower_bar = parse_definition({**decaying.model_dump(mode="json"), "version": "v5",
                                  "thresholds": {"mql": 40, "fast_track": 90}})
    report = simulate(decaying, lower_bar, stored, NOW)
    assert report.samples[0]["before"]["score"] == report.samples[0]["after"]["score"] == 40
    assert report.transitions == {"below->mql": 1}


def test_no_leads_is_an_empty_report():
    report = simulate(CURRENT, CANDIDATE, [], NOW)
    assert report.to_dict() == {
        "current_version": "v1", "candidate_version": "v2", "leads_scored": 0, "changed_stage": 0,
        "transitions": {}, "mql_before": 0, "mql_after": 0, "by_source": {}, "by_campaign": {},
        "samples": [], "flipped_lead_ids": [], "recycled_without_new_interest": 0, "by_grade": {},
        "held_on_an_axis": {"before": 0, "after": 0}}


def test_a_negative_sample_size_is_refused():
    with pytest.raises(ValueError, match="sample_size"):
        simulate(CURRENT, CANDIDATE, LEADS, NOW, sample_size=-1)


def test_a_minimum_fit_shows_per_cell_and_as_leads_held_on_an_axis():
    busy_student = lead("lead-5", "web", None, {"job_title": "Student"}, [DEMO, DEMO, DEMO])  # fit 0, engagement 75
    strict = parse_definition({**CURRENT.model_dump(mode="json"), "version": "v1-fit", "qualification": {"min_fit": 20}})
    report = simulate(CURRENT, strict, [*LEADS, busy_student], NOW)
    assert report.transitions == {"mql->below": 1} and report.flipped_lead_ids == ["lead-5"]
    assert report.by_grade["D1"] == {"leads_before": 1, "leads_after": 1, "qualified_before": 1, "qualified_after": 0}
    assert report.held_on_an_axis == {"before": 0, "after": 1}
    assert report.samples[0]["after"] == {"score": 75, "stage": "below", "grade": "D1"}


def test_a_history_of_any_size_keeps_the_first_flips_by_id_and_counts_them_all():
    from services.scoring.domain.simulation import FLIPPED_IDS_MAX
    # lead-1's profile flips below -> mql; ids in reverse order, so keeping the first means sorting
    flips = [lead(f"lead-{n:05d}", "web", None, {"company_size": 100, "country": "US"}, [DEMO])
             for n in range(FLIPPED_IDS_MAX * 3, 0, -1)]
    report = simulate(CURRENT, CANDIDATE, flips, NOW, sample_size=2)
    assert report.changed_stage == report.transitions["below->mql"] == FLIPPED_IDS_MAX * 3
    assert report.flipped_lead_ids == [f"lead-{n:05d}" for n in range(1, FLIPPED_IDS_MAX + 1)]
    assert [s["lead_id"] for s in report.samples] == ["lead-00001", "lead-00002"]
