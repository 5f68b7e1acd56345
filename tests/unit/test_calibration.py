"""Calibration: per rule, how leads that matched it were accepted and won against the rest."""

from __future__ import annotations

import json

import pytest

from services.scoring.domain.calibration import CalibrationLead, calibrate, calibrate_cells
from services.scoring.domain.definition import parse_definition

DEFINITION = parse_definition({
    "version": "v1", "thresholds": {"mql": 50, "fast_track": 90},
    "grades": {"fit": {"A": 60, "B": 40, "C": 20}, "engagement": {"1": 50, "2": 25, "3": 10}},
    "fit_rules": [{"name": "size", "field": "company_size", "op": "gte", "value": 50, "points": 20},
                  {"name": "vp", "field": "job_title", "op": "contains_any", "value": ["vp"], "points": 30}],
    "engagement_rules": [{"name": "demo", "activity": "demo_request", "points": 40}],
})


def cl(lead_id: str, rules: set[str], outcomes: set[str]) -> CalibrationLead:
    return CalibrationLead(lead_id=lead_id, rules_fired=frozenset(rules), outcomes=frozenset(outcomes))


LEADS = [
    cl("1", {"size", "vp"}, {"accepted"}),
    cl("2", {"size", "vp"}, {"won"}),  # won implies accepted
    cl("3", {"size"}, {"accepted", "won"}),
    cl("4", {"size"}, {"rejected"}),
    cl("5", {"size", "demo"}, {"accepted", "recycled"}),
    cl("6", {"vp"}, {"rejected"}),
    cl("7", set(), {"lost"}),
    cl("8", {"old_rule"}, {"accepted"}),  # a rule the definition no longer has
    cl("9", {"size"}, set()),  # no outcome yet: does not count
    cl("10", {"size"}, {"opened"}),  # not an outcome we know: does not count
]


def by_rule(report):
    return {r["rule"]: r for r in report}


def test_rules_come_in_definition_order_then_rules_only_seen_in_the_data():
    report = calibrate(DEFINITION, LEADS)
    assert [(r["rule"], r["in_definition"]) for r in report] == [
        ("size", True), ("vp", True), ("demo", True), ("old_rule", False)]
    json.dumps(report)


def test_hand_computed_rates_lift_and_verdict_for_a_rule_with_enough_outcomes():
    # size: matched 1-5 (accepted 1, 2, 3, 5; won 2, 3); not matched 6, 7, 8 (accepted 8)
    assert by_rule(calibrate(DEFINITION, LEADS))["size"] == {
        "rule": "size",
        "in_definition": True,
        "matched": {"leads": 5, "accepted": 4, "won": 2, "accept_rate": 0.8, "win_rate": 0.4},
        "not_matched": {"leads": 3, "accepted": 1, "won": 0, "accept_rate": 0.3333, "win_rate": 0.0},
        "lift_accept": 2.4,  # 0.8 / (1/3)
        "verdict": "matched leads accepted 2.4x as often",
    }


def test_rules_with_fewer_than_five_matched_outcomes_say_so():
    report = by_rule(calibrate(DEFINITION, LEADS))
    # vp: matched 1, 2, 6 (accepted 1, 2; won 2); not matched 3, 4, 5, 7, 8 (accepted 3, 5, 8; won 3)
    assert report["vp"]["matched"] == {"leads": 3, "accepted": 2, "won": 1, "accept_rate": 0.6667,
                                       "win_rate": 0.3333}
    assert report["vp"]["not_matched"] == {"leads": 5, "accepted": 3, "won": 1, "accept_rate": 0.6, "win_rate": 0.2}
    assert report["vp"]["lift_accept"] == 1.1111  # (2/3) / (3/5)
    assert report["vp"]["verdict"] == "too few outcomes"
    # demo: matched 5 only; not matched 1-4, 6-8 (accepted 1, 2, 3, 8): lift 1 / (4/7) = 1.75
    assert (report["demo"]["matched"]["leads"], report["demo"]["lift_accept"]) == (1, 1.75)
    assert report["old_rule"]["matched"] == {"leads": 1, "accepted": 1, "won": 0, "accept_rate": 1.0, "win_rate": 0.0}


def tally(matched_accepted: int, matched: int, other_accepted: int, other: int) -> list[CalibrationLead]:
    leads = [cl(f"m{i}", {"size"}, {"accepted"} if i < matched_accepted else {"rejected"}) for i in range(matched)]
    leads += [cl(f"o{i}", set(), {"accepted"} if i < other_accepted else {"rejected"}) for i in range(other)]
    return leads


@pytest.mark.parametrize("counts, lift, verdict", [
    ((4, 5, 1, 5), 4.0, "matched leads accepted 4.0x as often"),
    ((2, 5, 4, 5), 0.5, "matched leads accepted 0.5x as often"),
    ((2, 5, 2, 5), 1.0, "matched leads accepted about as often as the others (1.0x)"),
    ((3, 6, 5, 11), 1.1, "matched leads accepted about as often as the others (1.1x)"),  # (1/2) / (5/11)
    ((4, 6, 6, 11), 1.2222, "matched leads accepted 1.2x as often"),  # (2/3) / (6/11)
    ((3, 5, 0, 5), None, "matched leads were accepted, the others never"),
    ((0, 5, 0, 5), None, "no lead was accepted, matched or not"),
    ((0, 5, 3, 5), 0.0, "matched leads were never accepted, the others were"),
    ((3, 5, 0, 0), None, "every lead with an outcome matched: nothing to compare with"),
    ((4, 4, 0, 9), None, "too few outcomes"),
])
def test_verdicts(counts, lift, verdict):
    size = by_rule(calibrate(DEFINITION, tally(*counts)))["size"]
    assert size["lift_accept"] == lift
    assert size["verdict"] == verdict


def test_five_matched_outcomes_are_enough_four_are_not():
    assert by_rule(calibrate(DEFINITION, tally(2, 5, 1, 5)))["size"]["verdict"] != "too few outcomes"
    assert by_rule(calibrate(DEFINITION, tally(2, 4, 1, 5)))["size"]["verdict"] == "too few outcomes"


def test_rates_are_none_when_there_is_nothing_to_divide_by():
    report = calibrate(DEFINITION, [])
    assert [r["rule"] for r in report] == ["size", "vp", "demo"]
    for r in report:
        assert r["matched"] == r["not_matched"] == {"leads": 0, "accepted": 0, "won": 0, "accept_rate": None,
                                                    "win_rate": None}
        assert (r["lift_accept"], r["verdict"]) == (None, "too few outcomes")


def test_outcomes_from_any_cycle_count_once_per_lead():
    # accepted in cycle 1, recycled, rejected in cycle 2: one lead, accepted
    report = by_rule(calibrate(DEFINITION, [cl("1", {"size"}, {"accepted", "recycled", "rejected"})]))
    assert report["size"]["matched"] == {"leads": 1, "accepted": 1, "won": 0, "accept_rate": 1.0, "win_rate": 0.0}


def test_each_grade_cell_tallies_its_leads_with_a_known_outcome():
    leads = [CalibrationLead("a", frozenset(), frozenset({"accepted"}), grade="A1"),
             CalibrationLead("b", frozenset(), frozenset({"won"}), grade="A1"),
             CalibrationLead("c", frozenset(), frozenset({"rejected"}), grade="A1"),
             CalibrationLead("d", frozenset(), frozenset({"rejected"}), grade="D1"),
             CalibrationLead("e", frozenset(), frozenset({"opened"}), grade="C2"),  # no known outcome
             CalibrationLead("f", frozenset(), frozenset({"accepted"}))]  # no grade recorded
    assert calibrate_cells(leads) == [
        {"cell": "A1", "leads": 3, "accepted": 2, "won": 1, "accept_rate": 0.6667, "win_rate": 0.3333},
        {"cell": "D1", "leads": 1, "accepted": 0, "won": 0, "accept_rate": 0.0, "win_rate": 0.0},
    ]
