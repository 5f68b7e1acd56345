from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from services.scoring.domain.definition import DefinitionError, load_definition, parse_definition
from services.scoring.domain.scoring import merge_profile, score_lead

CONFIG = Path(__file__).resolve().parents[2] / "config" / "lead_definition.yaml"
DEFINITION = load_definition(CONFIG)


def test_the_shipped_definition_loads():
    assert DEFINITION.qualification_threshold > 0
    assert DEFINITION.fit_rules


def test_a_good_fit_with_a_demo_request_qualifies_and_says_why():
    profile = {"company_size": 300, "industry": "Software", "job_title": "VP Sales", "country": "US",
               "email_domain": "acme.com"}
    score = score_lead(DEFINITION, profile, ["demo_request"])
    fired = dict(score.rules_fired)
    assert fired == {"target_company_size": 20, "target_industry": 15, "decision_maker": 20,
                     "core_market": 10, "activity:demo_request": 40}
    assert (score.fit, score.engagement, score.total) == (65, 40, 105)
    assert score.qualified


def test_free_mail_student_stays_below_threshold():
    score = score_lead(DEFINITION, {"email_domain": "gmail.com", "job_title": "Student"}, [])
    assert score.total == -30
    assert not score.qualified
    assert dict(score.rules_fired) == {"free_mail_address": -30}


def test_threshold_is_inclusive():
    d = parse_definition({"version": "t", "qualification_threshold": 10,
                          "fit_rules": [{"name": "has_phone", "field": "phone", "op": "present", "points": 10}]})
    assert score_lead(d, {"phone": "+1"}, []).qualified
    assert not score_lead(d, {"phone": ""}, []).qualified


def test_missing_and_equals_ops():
    d = parse_definition({"version": "t", "qualification_threshold": 1, "fit_rules": [
        {"name": "no_phone", "field": "phone", "op": "missing", "points": -5},
        {"name": "is_de", "field": "country", "op": "equals", "value": "de", "points": 7}]})
    assert dict(score_lead(d, {"country": "DE"}, []).rules_fired) == {"no_phone": -5, "is_de": 7}


@pytest.mark.parametrize("broken, field", [
    ({"fit_rules": [{"name": "x", "field": "company_size", "op": "between", "value": [10], "points": 1}]},
     "fit_rules.0"),
    ({"fit_rules": [{"name": "x", "field": "f", "op": "sounds_like", "points": 1}]}, "fit_rules.0.op"),
    ({"qualification_threshold": "high"}, "qualification_threshold"),
    ({"fit_rules": [{"name": "x", "field": "f", "op": "present", "points": 1},
                    {"name": "x", "field": "g", "op": "present", "points": 1}]}, "(top level)"),
])
def test_invalid_definitions_name_the_field(broken, field):
    data = {**yaml.safe_load(CONFIG.read_text()), **broken}
    with pytest.raises(DefinitionError) as info:
        parse_definition(data)
    assert field in str(info.value)


def test_invalid_yaml_file_is_refused_with_its_path(tmp_path):
    path = tmp_path / "def.yaml"
    path.write_text("version: [unclosed\n")
    with pytest.raises(DefinitionError, match="not valid YAML"):
        load_definition(path)


def test_merge_newer_non_empty_values_win():
    assert merge_profile({"a": 1, "b": "x", "c": "keep"}, {"a": 2, "b": "", "c": None, "d": 4}) == {
        "a": 2, "b": "x", "c": "keep", "d": 4}


profiles = st.fixed_dictionaries({}, optional={
    "company_size": st.integers(0, 20000),
    "industry": st.sampled_from(["software", "saas", "retail", "", None]),
    "job_title": st.sampled_from(["VP Sales", "Student", "Head of IT", "", None]),
    "country": st.sampled_from(["US", "DE", "BR", None]),
    "email_domain": st.sampled_from(["gmail.com", "acme.com"]),
})
activity_lists = st.lists(st.sampled_from(["demo_request", "pricing_page_view", "email_click", "unknown"]))


@given(profiles, activity_lists)
def test_scoring_is_deterministic_and_the_total_is_the_sum_of_the_reasons(profile, acts):
    a = score_lead(DEFINITION, profile, acts)
    assert a == score_lead(DEFINITION, profile, list(acts))
    assert a.total == sum(points for _, points in a.rules_fired) == a.fit + a.engagement
    assert a.qualified == (a.total >= DEFINITION.qualification_threshold)


@given(profiles, activity_lists)
def test_order_of_activities_does_not_change_the_score(profile, acts):
    assert score_lead(DEFINITION, profile, acts).total == score_lead(DEFINITION, profile, acts[::-1]).total
