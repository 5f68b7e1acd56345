"""Properties of the pure scoring function, over random profiles, activities, times and
engagement rules: deterministic, order-blind, never rising as time passes, caps held,
the total is its reasons, and the stage and grade follow the thresholds."""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.scoring.domain.definition import (
    LeadDefinition,
    load_definition,
    parse_definition,
)
from services.scoring.domain.scoring import Activity, cap_window, score_lead

SHIPPED = load_definition(Path(__file__).resolve().parents[2] / "config" / "lead_definition.yaml")
ACTIVITY_TYPES = ["demo_request", "pricing_page_view", "webinar_attended", "form_fill", "email_click", "unknown"]
START = datetime(2026, 1, 1, tzinfo=UTC)

quick = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

profiles = st.fixed_dictionaries({}, optional={
    "company_size": st.one_of(st.integers(-5, 20000), st.sampled_from(["300", "lots", ""])),
    "industry": st.sampled_from(["software", "SaaS", "retail", "", None]),
    "job_title": st.sampled_from(["VP Sales", "Student", "Head of IT", "Working Student", "Co-Founder", "", None]),
    "country": st.sampled_from(["US", "de", "BR", None]),
    "email_domain": st.sampled_from(["gmail.com", "acme.com", "mail.web.de", "leanrouter.example"]),
})
moments = st.integers(0, 400 * 24 * 3600).map(lambda s: START + timedelta(seconds=s))
activities = st.lists(st.builds(Activity, st.sampled_from(ACTIVITY_TYPES), moments), max_size=25)
nows = st.integers(0, 500 * 24 * 3600).map(lambda s: START + timedelta(seconds=s))

decays = st.one_of(st.none(), st.builds(lambda d: {"half_life_days": d}, st.integers(1, 60)),
                   st.builds(lambda d: {"max_age_days": d}, st.integers(1, 120)))
caps = st.one_of(st.none(), st.builds(lambda p, d: {"points": p, "period_days": d}, st.integers(1, 60),
                                      st.integers(1, 45)))


@st.composite
def definitions(draw, decays=decays) -> LeadDefinition:
    """The shipped fit rules with random engagement rules (points, cap, decay) and thresholds."""
    data = SHIPPED.model_dump(mode="json")
    rules = []
    for activity in draw(st.lists(st.sampled_from(ACTIVITY_TYPES[:-1]), min_size=1, max_size=5, unique=True)):
        rule = {"name": f"r_{activity}", "activity": activity, "points": draw(st.integers(1, 50))}
        if (cap := draw(caps)) is not None:
            rule["cap"] = cap
        if (decay := draw(decays)) is not None:
            rule["decay"] = decay
        rules.append(rule)
    data["engagement_rules"] = rules
    mql = draw(st.integers(-50, 150))
    data["thresholds"] = {"mql": mql, "fast_track": mql + draw(st.integers(0, 100))}
    data["qualification"] = {key: value for key, value in {
        "min_fit": draw(st.none() | st.integers(-60, 80)),
        "min_engagement": draw(st.none() | st.integers(0, 80)),
        "cells": draw(st.none() | st.lists(st.sampled_from(CELLS), min_size=1, max_size=16, unique=True)),
    }.items() if value is not None}
    return parse_definition(data)


CELLS = [letter + digit for letter in "ABCD" for digit in "1234"]


any_definition = st.one_of(st.just(SHIPPED), definitions())


@quick
@given(any_definition, profiles, activities, nows)
def test_scoring_is_deterministic(definition, profile, acts, now):
    assert score_lead(definition, profile, acts, now) == score_lead(definition, dict(profile), list(acts), now)


@quick
@given(any_definition, profiles, activities, nows, st.randoms(use_true_random=False))
def test_the_order_of_activities_does_not_matter(definition, profile, acts, now, rnd):
    shuffled = list(acts)
    rnd.shuffle(shuffled)
    assert score_lead(definition, profile, shuffled, now) == score_lead(definition, profile, acts, now)
    assert score_lead(definition, profile, iter(acts[::-1]), now) == score_lead(definition, profile, acts, now)


@quick
@given(any_definition, profiles, activities, nows, st.integers(0, 200 * 24 * 3600))
def test_a_score_never_rises_as_time_passes(definition, profile, acts, now, later_by_s):
    earlier = score_lead(definition, profile, acts, now)
    later = score_lead(definition, profile, acts, now + timedelta(seconds=later_by_s))
    assert later.fit == earlier.fit
    assert later.engagement <= earlier.engagement
    assert later.total <= earlier.total
    before = {h.rule: h.points for h in earlier.rules_fired}
    for hit in later.rules_fired:
        assert hit.points <= before.get(hit.rule, 0) or hit.rule in {r.name for r in definition.fit_rules}


@quick
@given(definitions(decays=st.none()), activities, nows, nows)
def test_without_decay_the_time_of_scoring_does_not_matter(definition, acts, now, other_now):
    # cap windows are fixed by the epoch, not by now: moving now regroups nothing
    assert score_lead(definition, {}, acts, now) == score_lead(definition, {}, acts, other_now)


@quick
@given(definitions(), activities, nows)
def test_caps_hold_per_rule_per_window(definition, acts, now):
    score = score_lead(definition, {}, acts, now)
    points = {h.rule: h.points for h in score.rules_fired}
    for rule in definition.engagement_rules:
        mine = [a for a in acts if a.activity_type == rule.activity]
        value = points.get(rule.name, 0)
        assert value >= 0
        if rule.cap is None:
            assert value <= rule.points * len(mine)
            continue
        windows: dict[int, list[Activity]] = defaultdict(list)
        for a in mine:
            windows[cap_window(rule, a.occurred_at)].append(a)
        assert value <= rule.cap.points * len(windows)
        for window_acts in windows.values():  # each window alone yields at most the cap
            alone = score_lead(definition, {}, window_acts, now)
            assert {h.rule: h.points for h in alone.rules_fired}.get(rule.name, 0) <= rule.cap.points
        # the windows together are the sum of the windows alone (up to one point of rounding per window)
        parts = [{h.rule: h.points for h in score_lead(definition, {}, w, now).rules_fired}.get(rule.name, 0)
                 for w in windows.values()]
        assert abs(value - sum(parts)) <= len(parts) / 2 + 0.5


@quick
@given(definitions(), activities, nows)
def test_a_rule_without_cap_or_decay_is_worth_its_points_per_activity(definition, acts, now):
    score = score_lead(definition, {}, acts, now)
    points = {h.rule: h.points for h in score.rules_fired}
    for rule in definition.engagement_rules:
        if rule.cap is not None or rule.decay is not None:
            continue
        assert points.get(rule.name, 0) == rule.points * sum(a.activity_type == rule.activity for a in acts)


@quick
@given(any_definition, profiles, activities, nows)
def test_the_total_is_fit_plus_engagement_is_the_sum_of_the_reasons(definition, profile, acts, now):
    score = score_lead(definition, profile, acts, now)
    fit_names = {r.name for r in definition.fit_rules}
    assert score.total == score.fit + score.engagement == sum(h.points for h in score.rules_fired)
    assert score.fit == sum(h.points for h in score.rules_fired if h.rule in fit_names)
    assert all(h.points != 0 for h in score.rules_fired if h.rule not in fit_names)
    order = list(definition.rule_names)
    assert [order.index(h.rule) for h in score.rules_fired] == sorted(order.index(h.rule) for h in score.rules_fired)
    assert all(h.detail for h in score.rules_fired)


@quick
@given(any_definition, profiles, activities, nows)
def test_stage_and_grade_follow_the_thresholds(definition, profile, acts, now):
    score = score_lead(definition, profile, acts, now)
    t, q = definition.thresholds, definition.qualification
    both_axes = (q.min_fit is None or score.fit >= q.min_fit) \
        and (q.min_engagement is None or score.engagement >= q.min_engagement) \
        and (q.cells is None or score.grade in q.cells)
    expected = "fast_track" if score.total >= t.fast_track else "mql" if score.total >= t.mql else "below"
    assert score.stage == (expected if both_axes else "below")
    assert score.qualified == (score.total >= t.mql and both_axes)
    assert (score.held_because is not None) == (score.total >= t.mql and not both_axes), score.held_because
    fit, eng = definition.grades.fit, definition.grades.engagement
    assert score.fit_grade == ("A" if score.fit >= fit["A"] else "B" if score.fit >= fit["B"]
                               else "C" if score.fit >= fit["C"] else "D")
    assert score.engagement_grade == ("1" if score.engagement >= eng["1"] else "2" if score.engagement >= eng["2"]
                                      else "3" if score.engagement >= eng["3"] else "4")
    assert score.grade == score.fit_grade + score.engagement_grade


@quick
@given(definitions(), activities, nows)
def test_engagement_never_exceeds_undecayed_uncapped_points(definition, acts, now):
    score = score_lead(definition, {}, acts, now)
    ceiling = sum(r.points * sum(a.activity_type == r.activity for a in acts) for r in definition.engagement_rules)
    assert 0 <= score.engagement <= ceiling
    assert not math.isnan(score.engagement)
