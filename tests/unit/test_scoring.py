"""The lead definition (validation, errors naming fields) and the pure scoring function
(each op, grades, stages, decay and caps with exact numbers, the shipped file's facts)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from services.scoring.domain.definition import (
    DefinitionError,
    LeadDefinition,
    load_definition,
    parse_definition,
)
from services.scoring.domain.profile import merge_profile
from services.scoring.domain.scoring import (
    Activity,
    RuleHit,
    cap_window,
    round_half_up,
    rules_not_fired,
    score_lead,
)

CONFIG = Path(__file__).resolve().parents[2] / "config" / "lead_definition.yaml"
SHIPPED = load_definition(CONFIG)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
NOW = EPOCH + timedelta(days=20005)  # 2024-10-09; in the 30-day cap window 666 (days 19980-20009)

QUALIFIED = {"first_name": "Ada", "company": "Acme", "job_title": "VP Sales", "company_size": 300,
             "industry": "software", "country": "US", "email": "ada@acme-x.com", "email_domain": "acme-x.com"}


def base(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "version": "test-1",
        "thresholds": {"mql": 50, "fast_track": 90},
        "grades": {"fit": {"A": 60, "B": 40, "C": 20}, "engagement": {"1": 50, "2": 25, "3": 10}},
        "email_domain_classes": {"free_mail": ["gmail.com", "web.de"], "competitor": ["rival.example"]},
        "fit_rules": [],
        "engagement_rules": [],
    }
    data.update(changes)
    return data


def fit_rule(**fields: Any) -> dict[str, Any]:
    return {"name": "r", "field": "f", "points": 10, **fields}


def with_fit(*rules: dict[str, Any]) -> LeadDefinition:
    return parse_definition(base(fit_rules=list(rules)))


def with_engagement(**rule: Any) -> LeadDefinition:
    return parse_definition(base(engagement_rules=[{"name": "e", "activity": "demo_request", "points": 40, **rule}]))


def at(days: float) -> datetime:
    return EPOCH + timedelta(days=days)


def fired(score) -> dict[str, int]:
    return {h.rule: h.points for h in score.rules_fired}


# --- validation --------------------------------------------------------------------------------


def test_error_messages_name_the_origin_the_field_and_the_problem():
    data = base(fit_rules=[fit_rule(op="present"), fit_rule(name="size", op="between", value=[10])])
    with pytest.raises(DefinitionError) as info:
        parse_definition(data, origin="config/x.yaml")
    assert str(info.value) == (
        "config/x.yaml is invalid: fit_rules.1.value: 'between' needs value: [min, max] with min <= max")


def test_several_problems_are_reported_together():
    data = base(thresholds={"mql": 50, "fast_track": 10},
                fit_rules=[fit_rule(op="gte", value="many"), fit_rule(name="r", op="present")])
    with pytest.raises(DefinitionError) as info:
        parse_definition(data)
    message = str(info.value)
    assert "thresholds.fast_track: must be >= mql (50), got 10" in message
    assert "fit_rules.0.value: 'gte' needs value: a number" in message
    assert message.count("; ") >= 1


INVALID = [
    # (what to change, field path, words in the reason)
    ({"fit_rules": [fit_rule(op="between", value=[10])]}, "fit_rules.0.value", "'between' needs value: [min, max]"),
    ({"fit_rules": [fit_rule(op="between", value=[10, 5])]}, "fit_rules.0.value", "min <= max"),
    ({"fit_rules": [fit_rule(op="between", value=["a", "b"])]}, "fit_rules.0.value", "'between' needs"),
    ({"fit_rules": [fit_rule(op="gte", value="ten")]}, "fit_rules.0.value", "'gte' needs value: a number"),
    ({"fit_rules": [fit_rule(op="lte", value=True)]}, "fit_rules.0.value", "'lte' needs value: a number"),
    ({"fit_rules": [fit_rule(op="one_of", value=[])]}, "fit_rules.0.value", "'one_of' needs value: a non-empty list"),
    ({"fit_rules": [fit_rule(op="one_of", value="US")]}, "fit_rules.0.value", "'one_of' needs value"),
    ({"fit_rules": [fit_rule(op="contains_any", value=["vp", 3])]}, "fit_rules.0.value", "list of words"),
    ({"fit_rules": [fit_rule(op="equals")]}, "fit_rules.0.value", "'equals' needs value"),
    ({"fit_rules": [fit_rule(op="equals", value=["a"])]}, "fit_rules.0.value", "'equals' needs value"),
    ({"fit_rules": [fit_rule(op="present", value="x")]}, "fit_rules.0.value", "'present' takes no value"),
    ({"fit_rules": [fit_rule(op="missing", value=1)]}, "fit_rules.0.value", "'missing' takes no value"),
    ({"fit_rules": [fit_rule(op="pattern", value="(unclosed")]}, "fit_rules.0.value", "a regular expression that compiles ('(unclosed': missing )"),
    ({"fit_rules": [fit_rule(op="pattern", value=5)]}, "fit_rules.0.value", "a regular expression"),
    ({"fit_rules": [fit_rule(op="email_domain_class", value="nope")]}, "fit_rules.0.value",
     "unknown email domain class 'nope' (email_domain_classes defines: free_mail, competitor)"),
    ({"fit_rules": [fit_rule(op="email_domain_class", value=["free_mail"])]}, "fit_rules.0.value",
     "the name of a class"),
    ({"fit_rules": [fit_rule(op="sounds_like")]}, "fit_rules.0.op", "Input should be"),
    ({"fit_rules": [fit_rule(op="present", colour="red")]}, "fit_rules.0.colour", "not a known field (known here: "),
    ({"fit_rules": [fit_rule(op="present", name="Big Company")]}, "fit_rules.0.name", "pattern"),
    ({"fit_rules": [fit_rule(op="present", points="lots")]}, "fit_rules.0.points", "integer"),
    ({"fit_rules": [fit_rule(op="present", field="")]}, "fit_rules.0.field", "at least 1 character"),
    ({"fit_rules": [fit_rule(op="present"), fit_rule(op="missing")]}, "fit_rules.1.name",
     "rule names must be unique: 'r' is already fit_rules.0"),
    ({"fit_rules": [fit_rule(name="demo", op="present")],
      "engagement_rules": [{"name": "demo", "activity": "demo_request", "points": 40}]},
     "engagement_rules.0.name", "'demo' is already fit_rules.0"),
    ({"engagement_rules": [{"name": "a", "activity": "demo_request", "points": 40},
                           {"name": "b", "activity": "demo_request", "points": 10}]},
     "engagement_rules.1.activity", "already counted by engagement_rules.0 (a)"),
    ({"engagement_rules": [{"name": "a", "activity": "x", "points": 4, "cap": {"points": 8}}]},
     "engagement_rules.0.cap.period_days", "Field required"),
    ({"engagement_rules": [{"name": "a", "activity": "x", "points": 4, "cap": {"points": 0, "period_days": 7}}]},
     "engagement_rules.0.cap.points", "greater than or equal to 1"),
    ({"engagement_rules": [{"name": "a", "activity": "x", "points": 4,
                            "decay": {"half_life_days": 7, "max_age_days": 30}}]},
     "engagement_rules.0.decay", "either half_life_days or max_age_days, not both"),
    ({"engagement_rules": [{"name": "a", "activity": "x", "points": 4, "decay": {}}]},
     "engagement_rules.0.decay", "either half_life_days or max_age_days"),
    ({"engagement_rules": [{"name": "a", "activity": "x", "points": 4, "decay": {"half_life_days": 0}}]},
     "engagement_rules.0.decay.half_life_days", "greater than or equal to 1"),
    ({"engagement_rules": [{"name": "a", "activity": "x", "points": -5}]},
     "engagement_rules.0.points", "greater than or equal to 1"),
    ({"engagement_rules": [{"name": "a", "activity": "", "points": 5}]},
     "engagement_rules.0.activity", "at least 1 character"),
    ({"thresholds": {"mql": 50, "fast_track": 49}}, "thresholds.fast_track", "must be >= mql (50)"),
    ({"thresholds": {"mql": "high", "fast_track": 90}}, "thresholds.mql", "integer"),
    ({"thresholds": {"mql": 50}}, "thresholds.fast_track", "Field required"),
    ({"grades": {"fit": {"A": 60, "B": 60, "C": 20}, "engagement": {"1": 50, "2": 25, "3": 10}}},
     "grades.fit", "strictly decreasing: A (60) > B (60) > C (20) does not hold"),
    ({"grades": {"fit": {"A": 60, "B": 40, "C": 20}, "engagement": {"1": 10, "2": 25, "3": 50}}},
     "grades.engagement", "strictly decreasing"),
    ({"grades": {"fit": {"A": 60, "B": 40, "C": 20}, "engagement": {"1": 50, "2": 25}}},
     "grades.engagement", "(missing 3)"),
    ({"grades": {"fit": {"A": 60, "B": 40, "C": 20, "E": 0}, "engagement": {"1": 50, "2": 25, "3": 10}}},
     "grades.fit.E.[key]", "Input should be 'A', 'B' or 'C'"),
    ({"email_domain_classes": {"free_mail": ["gmail com"]}}, "email_domain_classes.free_mail.0", "not a domain"),
    ({"email_domain_classes": {"free_mail": []}}, "email_domain_classes.free_mail", "at least one domain"),
    ({"email_domain_classes": {"Free Mail": ["gmail.com"]}}, "email_domain_classes.Free Mail.[key]", "pattern"),
    ({"qualification": {"cells": ["A1", "E1"]}}, "qualification.cells.1", "pattern"),
    ({"qualification": {"cells": ["A1", "B2", "A1"]}}, "qualification.cells.2", "A1 is listed twice"),
    ({"qualification": {"cells": []}}, "qualification.cells", "needs at least one cell"),
    ({"qualification": {"min_fit": "real"}}, "qualification.min_fit", "integer"),
    ({"qualification": {"minimum_fit": 20}}, "qualification.minimum_fit", "not a known field (did you mean 'min_fit'?)"),
    ({"version": ""}, "version", "at least 1 character"),
    ({"version": "   "}, "version", "must not be blank"),
    ({"colour": "red"}, "colour", "not a known field"),
]


@pytest.mark.parametrize("change, field, reason", INVALID, ids=[f"{i}-{c[1]}" for i, c in enumerate(INVALID)])
def test_invalid_definitions_name_the_field_and_the_problem(change, field, reason):
    with pytest.raises(DefinitionError) as info:
        parse_definition(base(**change))
    problems = str(info.value).removeprefix("lead definition is invalid: ").split("; ")
    assert any(p.startswith(f"{field}: ") and reason in p for p in problems), problems


def test_missing_required_sections_are_named():
    with pytest.raises(DefinitionError) as info:
        parse_definition({"version": "v"})
    assert "thresholds: Field required" in str(info.value)
    assert "grades: Field required" in str(info.value)


def test_a_document_that_is_not_a_mapping_is_refused_at_the_top_level():
    with pytest.raises(DefinitionError, match=r"\(top level\): Input should be a valid dictionary"):
        parse_definition(["not", "a", "mapping"])


def test_the_api_path_gets_the_same_field_locations_from_pydantic():
    # the API validates with LeadDefinition.model_validate and reports each error's loc
    data = base(fit_rules=[fit_rule(op="present"), fit_rule(name="mail", op="email_domain_class", value="nope")])
    with pytest.raises(ValidationError) as info:
        LeadDefinition.model_validate(data)
    assert [e["loc"] for e in info.value.errors()] == [("fit_rules", 1, "value")]


def test_a_definition_survives_a_json_round_trip():
    assert LeadDefinition.model_validate(SHIPPED.model_dump(mode="json")) == SHIPPED


def test_unquoted_engagement_grade_keys_in_yaml_are_read_as_digits():
    data = base()
    text = yaml.safe_dump(data).replace("'1': 50", "1: 50").replace("'2': 25", "2: 25").replace("'3': 10", "3: 10")
    assert yaml.safe_load(text)["grades"]["engagement"] == {1: 50, 2: 25, 3: 10}
    assert parse_definition(yaml.safe_load(text)).grades.engagement == {"1": 50, "2": 25, "3": 10}


def test_domains_in_classes_are_lower_cased():
    d = parse_definition(base(email_domain_classes={"free_mail": [" GMail.COM "]}))
    assert d.email_domain_classes == {"free_mail": ("gmail.com",)}


def test_invalid_yaml_file_is_refused_with_its_path(tmp_path):
    path = tmp_path / "def.yaml"
    path.write_text("version: [unclosed\n")
    with pytest.raises(DefinitionError, match=rf"{path}:2:1: not valid YAML: "):
        load_definition(path)


def test_a_missing_file_is_a_definition_error(tmp_path):
    with pytest.raises(DefinitionError, match="cannot be read"):
        load_definition(tmp_path / "absent.yaml")


def test_a_file_with_an_invalid_rule_names_the_file_and_the_field(tmp_path):
    data = yaml.safe_load(CONFIG.read_text())
    assert data["fit_rules"][0]["op"] == "between"
    data["fit_rules"][0]["value"] = [5000, 50]
    path = tmp_path / "def.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(DefinitionError) as info:
        load_definition(path)
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if text.strip() == "- 5000")
    assert str(info.value) == (f"{path} is invalid (1 problem):\n"
                               f"  {path}:{line - 1}:3: fit_rules.0.value: 'between' needs value: [min, max] "
                               "with min <= max")


# --- fit ops -----------------------------------------------------------------------------------


OPS = [
    # (rule, profile value of field "f", expected detail or None)
    ({"op": "equals", "value": "de"}, "DE", "f 'DE' equals 'de'"),
    ({"op": "equals", "value": "de"}, " de ", "f ' de ' equals 'de'"),
    ({"op": "equals", "value": "de"}, "dk", None),
    ({"op": "equals", "value": 5}, 5, "f 5 equals 5"),
    ({"op": "equals", "value": 5}, "5", "f '5' equals 5"),
    ({"op": "equals", "value": 5}, 6, None),
    ({"op": "equals", "value": "5"}, 5, "f 5 equals '5'"),
    ({"op": "equals", "value": True}, True, "f True equals True"),
    ({"op": "equals", "value": True}, 1, None),
    ({"op": "equals", "value": 1}, True, None),
    ({"op": "one_of", "value": ["US", "CA"]}, "us", "f 'us' is one of ['US', 'CA']"),
    ({"op": "one_of", "value": ["US", "CA"]}, "BR", None),
    ({"op": "between", "value": [50, 5000]}, 50, "f 50 in [50, 5000]"),
    ({"op": "between", "value": [50, 5000]}, 5000, "f 5000 in [50, 5000]"),
    ({"op": "between", "value": [50, 5000]}, 300.5, "f 300.5 in [50, 5000]"),
    ({"op": "between", "value": [50, 5000]}, "300", "f '300' in [50, 5000]"),
    ({"op": "between", "value": [50, 5000]}, 49, None),
    ({"op": "between", "value": [50, 5000]}, 5001, None),
    ({"op": "between", "value": [50, 5000]}, "lots", None),
    ({"op": "between", "value": [0, 5]}, True, None),
    ({"op": "gte", "value": 10}, 10, "f 10 >= 10"),
    ({"op": "gte", "value": 10}, 9, None),
    ({"op": "lte", "value": 9}, 9, "f 9 <= 9"),
    ({"op": "lte", "value": 9}, 10, None),
    ({"op": "lte", "value": 9}, "nine", None),
    ({"op": "contains_any", "value": ["vp", "head"]}, "VP Sales", "f 'VP Sales' contains ['vp']"),
    ({"op": "contains_any", "value": ["vp", "head"]}, "Head of IT, VP-level", "f 'Head of IT, VP-level' contains ['vp', 'head']"),
    ({"op": "contains_any", "value": ["vp"]}, "SVP Sales", None),
    ({"op": "contains_any", "value": ["vp"]}, "VPN administrator", None),
    ({"op": "contains_any", "value": ["vice president"]}, "Vice  President, Sales", "f 'Vice  President, Sales' contains ['vice president']"),
    ({"op": "contains_any", "value": ["founder"]}, "Co-Founder", "f 'Co-Founder' contains ['founder']"),
    ({"op": "pattern", "value": r"\bstudent\b"}, "Working STUDENT", r"f 'Working STUDENT' matches /\bstudent\b/"),
    ({"op": "pattern", "value": r"\bstudent\b"}, "Studentin", None),
    ({"op": "pattern", "value": r"^\d{5}$"}, 12345, r"f 12345 matches /^\d{5}$/"),
    ({"op": "present"}, "+1 555", "f present"),
    ({"op": "present"}, 0, "f present"),
    ({"op": "present"}, "   ", None),
    ({"op": "present"}, [], None),
    ({"op": "missing"}, None, "f missing"),
    ({"op": "missing"}, "", "f missing"),
    ({"op": "missing"}, "x", None),
    ({"op": "email_domain_class", "value": "free_mail"}, "gmail.com", "f 'gmail.com' is free_mail"),
    ({"op": "email_domain_class", "value": "free_mail"}, "GMAIL.com", "f 'gmail.com' is free_mail"),
    ({"op": "email_domain_class", "value": "free_mail"}, "mail.web.de", "f 'mail.web.de' is free_mail (subdomain of web.de)"),
    ({"op": "email_domain_class", "value": "free_mail"}, "ada@gmail.com", "f 'gmail.com' is free_mail"),
    ({"op": "email_domain_class", "value": "free_mail"}, "notgmail.com", None),
    ({"op": "email_domain_class", "value": "free_mail"}, "gmail.com.evil.example", None),
    ({"op": "email_domain_class", "value": "competitor"}, "gmail.com", None),
]


@pytest.mark.parametrize("rule, value, detail", OPS, ids=[f"{i}-{o[0]['op']}" for i, o in enumerate(OPS)])
def test_each_op_matches_what_it_says_and_explains_itself(rule, value, detail):
    definition = with_fit(fit_rule(**rule))
    score = score_lead(definition, {"f": value}, [], NOW)
    expected = () if detail is None else (RuleHit("r", 10, detail),)
    assert score.rules_fired == expected


@pytest.mark.parametrize("op, value", [("equals", "x"), ("one_of", ["x"]), ("between", [0, 9]), ("gte", 0),
                                       ("lte", 9), ("contains_any", ["x"]), ("pattern", "."),
                                       ("email_domain_class", "free_mail")])
def test_value_ops_never_match_an_absent_field(op, value):
    definition = with_fit(fit_rule(op=op, value=value))
    assert score_lead(definition, {}, [], NOW).rules_fired == ()
    assert score_lead(definition, {"f": None}, [], NOW).rules_fired == ()


def test_fit_is_the_sum_of_matching_rules_including_negative_and_zero_points():
    definition = with_fit(fit_rule(name="size", field="size", op="gte", value=10, points=20),
                          fit_rule(name="neutral", field="size", op="present", points=0),
                          fit_rule(name="mail", field="email_domain", op="email_domain_class", value="free_mail",
                                   points=-30),
                          fit_rule(name="nope", field="country", op="equals", value="US", points=99))
    score = score_lead(definition, {"size": 12, "email_domain": "gmail.com"}, [], NOW)
    assert [(h.rule, h.points) for h in score.rules_fired] == [("size", 20), ("neutral", 0), ("mail", -30)]
    assert (score.fit, score.engagement, score.total) == (-10, 0, -10)


# --- grades and stages -------------------------------------------------------------------------


@pytest.mark.parametrize("fit, letter", [(100, "A"), (60, "A"), (59, "B"), (40, "B"), (39, "C"), (20, "C"),
                                         (19, "D"), (0, "D"), (-100, "D")])
def test_fit_grade_letters(fit, letter):
    definition = with_fit(fit_rule(op="present", points=fit))
    assert score_lead(definition, {"f": 1}, [], NOW).fit_grade == letter


@pytest.mark.parametrize("points, digit", [(80, "1"), (50, "1"), (49, "2"), (25, "2"), (24, "3"), (10, "3"),
                                           (9, "4"), (1, "4")])
def test_engagement_grade_digits(points, digit):
    definition = with_engagement(points=points)
    score = score_lead(definition, {}, [Activity("demo_request", NOW)], NOW)
    assert score.engagement == points
    assert score.engagement_grade == digit
    assert score.grade == "D" + digit


def test_no_engagement_is_grade_4():
    score = score_lead(with_engagement(), {}, [], NOW)
    assert (score.engagement, score.engagement_grade) == (0, "4")


@pytest.mark.parametrize("total, stage", [(-5, "below"), (49, "below"), (50, "mql"), (89, "mql"),
                                          (90, "fast_track"), (200, "fast_track")])
def test_stage_follows_the_thresholds_inclusively(total, stage):
    definition = with_fit(fit_rule(op="present", points=total))
    score = score_lead(definition, {"f": "x"}, [], NOW)
    assert (score.total, score.stage, score.qualified) == (total, stage, stage != "below")


def test_fast_track_may_equal_mql():
    definition = parse_definition(base(thresholds={"mql": 50, "fast_track": 50},
                                       fit_rules=[fit_rule(op="present", points=50)]))
    assert score_lead(definition, {"f": "x"}, [], NOW).stage == "fast_track"


# --- engagement: decay and caps, worked with exact numbers -------------------------------------


def test_worked_example_decay_and_cap_per_epoch_window():
    """demo_request: 40 points, cap 40 per 30 days, half-life 30 days; now = day 20005.

    30-day windows from the epoch: 666 = days 19980-20009, 665 = 19950-19979, 664 = 19920-19949.
    - day 20005 (age 0) and day 19995 (age 10), window 666: 40 + 40 * 0.5 ** (10/30) = 71.75 -> capped 40
    - day 19975 (age 30), window 665: 40 * 0.5 = 20
    - day 19945 (age 60), window 664: 40 * 0.25 = 10
    = 70
    """
    definition = with_engagement(cap={"points": 40, "period_days": 30}, decay={"half_life_days": 30})
    activities = [Activity("demo_request", at(d)) for d in (20005, 19995, 19975, 19945)]
    assert [cap_window(definition.engagement_rules[0], a.occurred_at) for a in activities] == [666, 666, 665, 664]
    score = score_lead(definition, {}, activities, NOW)
    assert score.engagement == 70
    assert score.rules_fired == (RuleHit("e", 70, "4 x demo_request, decayed, capped at 40 per 30 days"),)


def test_the_cap_window_is_fixed_by_the_epoch_not_by_now():
    # day 19979 and day 19980 are one day apart but in different windows: both count fully
    definition = with_engagement(cap={"points": 40, "period_days": 30})
    score = score_lead(definition, {}, [Activity("demo_request", at(19979)), Activity("demo_request", at(19980))],
                       NOW)
    assert score.engagement == 80
    assert score.rules_fired[0].detail == "2 x demo_request"
    # two in the same window are capped
    same = score_lead(definition, {}, [Activity("demo_request", at(19980)), Activity("demo_request", at(20009.9))],
                      NOW)
    assert same.engagement == 40
    assert same.rules_fired[0].detail == "2 x demo_request, capped at 40 per 30 days"


def test_without_a_cap_every_activity_counts():
    score = score_lead(with_engagement(points=5), {}, [Activity("demo_request", NOW)] * 7, NOW)
    assert score.engagement == 35


def test_rounding_is_half_up_per_rule():
    # 13 points at one half-life: 6.5 -> 7 (Python's round() would give 6)
    definition = with_engagement(points=13, decay={"half_life_days": 14})
    score = score_lead(definition, {}, [Activity("demo_request", NOW - timedelta(days=14))], NOW)
    assert score.engagement == 7
    assert score.rules_fired[0].detail == "1 x demo_request, decayed"
    assert round_half_up(2.5) == 3 and round_half_up(2.4999) == 2 and round_half_up(-0.5) == 0


def test_a_rule_worth_zero_after_rounding_is_not_listed():
    # 2 points, half-life 7 days, 21 days old: 2 * 0.125 = 0.25 -> 0
    definition = with_engagement(points=2, decay={"half_life_days": 7})
    score = score_lead(definition, {}, [Activity("demo_request", NOW - timedelta(days=21))], NOW)
    assert (score.engagement, score.rules_fired) == (0, ())


def test_age_window_counts_fully_up_to_max_age_and_not_after():
    definition = with_engagement(points=5, cap={"points": 10, "period_days": 30}, decay={"max_age_days": 90})
    inside = [Activity("demo_request", NOW - timedelta(days=90)), Activity("demo_request", NOW - timedelta(days=45))]
    too_old = Activity("demo_request", NOW - timedelta(days=90, seconds=1))
    score = score_lead(definition, {}, [*inside, too_old], NOW)
    assert score.engagement == 10
    assert score.rules_fired[0].detail == "2 x demo_request (1 older than 90 days not counted)"
    assert score_lead(definition, {}, [too_old], NOW).rules_fired == ()


def test_future_activities_count_as_age_zero():
    definition = with_engagement(decay={"half_life_days": 30})
    score = score_lead(definition, {}, [Activity("demo_request", NOW + timedelta(days=5))], NOW)
    assert score.engagement == 40


def test_activities_without_a_rule_are_ignored_and_rules_fire_in_definition_order():
    definition = parse_definition(base(
        fit_rules=[fit_rule(op="present", points=5)],
        engagement_rules=[{"name": "click", "activity": "email_click", "points": 2},
                          {"name": "demo", "activity": "demo_request", "points": 40}]))
    activities = [Activity("demo_request", NOW), Activity("unknown_thing", NOW), Activity("email_click", NOW)]
    score = score_lead(definition, {"f": 1}, activities, NOW)
    assert [h.rule for h in score.rules_fired] == ["r", "click", "demo"]
    assert (score.fit, score.engagement, score.total) == (5, 42, 47)


def test_activities_and_now_must_be_timezone_aware():
    with pytest.raises(ValueError, match="timezone-aware"):
        Activity("demo_request", datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="now must be a timezone-aware datetime"):
        score_lead(with_engagement(), {}, [], datetime(2026, 1, 1))


def test_time_zones_do_not_change_the_score():
    definition = with_engagement(cap={"points": 40, "period_days": 30}, decay={"half_life_days": 30})
    cet = timezone(timedelta(hours=1))
    utc = [Activity("demo_request", at(d)) for d in (20000, 19990, 19970.5)]
    local = [Activity(a.activity_type, a.occurred_at.astimezone(cet)) for a in utc]
    assert score_lead(definition, {}, utc, NOW) == score_lead(definition, {}, local, NOW.astimezone(cet))


# --- the shipped definition --------------------------------------------------------------------


def test_shipped_good_fit_decision_maker_without_activity_is_fit_65_and_mql():
    score = score_lead(SHIPPED, QUALIFIED, [], NOW)
    assert fired(score) == {"target_company_size": 20, "target_industry": 15, "decision_maker": 20,
                            "core_market": 10}
    assert (score.fit, score.engagement, score.total) == (65, 0, 65)
    assert SHIPPED.thresholds.mql == 50
    assert (score.stage, score.qualified, score.grade) == ("mql", True, "A4")


def test_shipped_free_mail_student_stays_far_below():
    profile = {"job_title": "Student", "email": "sam@gmail.com", "email_domain": "gmail.com", "country": "BR"}
    score = score_lead(SHIPPED, profile, [], NOW)
    assert fired(score) == {"student": -25, "free_mail_address": -30}
    assert score.total == -55 and score.stage == "below" and score.grade == "D4"


def test_shipped_enterprise_decision_maker_qualifies_on_fit_alone():
    profile = {**QUALIFIED, "job_title": "CRO", "company_size": 20000}
    score = score_lead(SHIPPED, profile, [], NOW)
    assert fired(score) == {"enterprise_company": 30, "target_industry": 15, "decision_maker": 20,
                            "core_market": 10}
    assert (score.fit, score.total, score.stage, score.grade) == (75, 75, "mql", "A4")


def test_the_rules_that_did_not_fire_say_why_with_the_leads_value():
    profile = {"job_title": "Student", "email": "sam@gmail.com", "email_domain": "gmail.com", "country": "BR",
               "company_size": "lots"}
    score = score_lead(SHIPPED, profile, [Activity("email_click", NOW)], NOW)
    misses = {m.rule: (m.kind, m.points, m.why)
              for m in rules_not_fired(SHIPPED, profile, (hit.rule for hit in score.rules_fired))}
    assert set(misses) | {hit.rule for hit in score.rules_fired} == set(SHIPPED.rule_names)
    assert not set(misses) & {hit.rule for hit in score.rules_fired}
    assert misses["target_company_size"] == ("fit", 20, "company_size 'lots' is not a number")
    assert misses["target_industry"] == ("fit", 15, "industry missing")
    assert misses["core_market"][2] == "country 'BR' is not one of ['US', 'CA', 'GB', 'DE', 'FR', 'NL']"
    assert misses["decision_maker"][2].startswith("job_title 'Student' contains none of ['vp', 'svp'")
    assert misses["competitor_address"] == ("fit", -100, "email_domain 'gmail.com' is not competitor")
    assert misses["demo_request"] == ("engagement", 40, "no demo_request activity counts in this cycle")
    assert "email_click" not in misses


@pytest.mark.parametrize(("rule", "value", "why"), [
    ({"op": "between", "value": [50, 4999]}, 20000, "f 20000 not in [50, 4999]"),
    ({"op": "gte", "value": 5000}, 4999, "f 4999 < 5000"),
    ({"op": "lte", "value": 9}, 10, "f 10 > 9"),
    ({"op": "equals", "value": "x"}, "y", "f 'y' does not equal 'x'"),
    ({"op": "pattern", "value": "^a"}, "b", "f 'b' does not match /^a/"),
    ({"op": "present"}, "", "f missing"),
    ({"op": "missing"}, "here", "f present"),
])
def test_why_a_fit_rule_did_not_fire(rule, value, why):
    data = base(fit_rules=[{"name": "r", "field": "f", "points": 5, **rule}])
    definition = parse_definition(data)
    assert [m.why for m in rules_not_fired(definition, {"f": value}, [])] == [why]
    assert score_lead(definition, {"f": value}, [], NOW).rules_fired == ()


def test_shipped_fit_45_lead_becomes_mql_after_a_demo_request():
    profile = {**QUALIFIED, "company_size": 20}
    assert score_lead(SHIPPED, profile, [], NOW).total == 45
    assert score_lead(SHIPPED, profile, [], NOW).stage == "below"
    score = score_lead(SHIPPED, profile, [Activity("demo_request", NOW - timedelta(seconds=5))], NOW)
    assert fired(score)["demo_request"] == 40
    assert (score.total, score.stage, score.grade) == (85, "mql", "B2")


def test_shipped_good_fit_with_a_demo_request_is_fast_track():
    score = score_lead(SHIPPED, QUALIFIED, [Activity("demo_request", NOW)], NOW)
    assert (score.total, score.stage, score.grade) == (105, "fast_track", "A2")


def test_shipped_competitor_is_pushed_far_down_even_when_engaged():
    profile = {**QUALIFIED, "email_domain": "sales.leanrouter.example"}
    score = score_lead(SHIPPED, profile, [Activity("demo_request", NOW)], NOW)
    assert fired(score)["competitor_address"] == -100
    assert score.stage == "below"


def test_shipped_rule_names_and_engagement_numbers():
    names = SHIPPED.rule_names
    assert {"target_company_size", "decision_maker", "free_mail_address"} <= set(names)
    assert len(SHIPPED.fit_rules) == 9
    engagement = {r.name: (r.activity, r.points, r.cap.points, r.cap.period_days, r.decay.half_life_days,
                           r.decay.max_age_days) for r in SHIPPED.engagement_rules}
    assert engagement == {
        "demo_request": ("demo_request", 40, 40, 30, 30, None),
        "pricing_page_view": ("pricing_page_view", 15, 30, 7, 14, None),
        "webinar_attended": ("webinar_attended", 10, 20, 30, 45, None),
        "form_fill": ("form_fill", 5, 10, 30, None, 90),
        "email_click": ("email_click", 2, 6, 7, 7, None),
    }
    assert (SHIPPED.thresholds.mql, SHIPPED.thresholds.fast_track) == (50, 90)


def test_shipped_definition_has_a_version_every_score_can_record():
    raw = yaml.safe_load(CONFIG.read_text())
    assert SHIPPED.version == raw["version"] and SHIPPED.version.strip()


def test_changing_a_shipped_rule_changes_the_score():
    data = copy.deepcopy(yaml.safe_load(CONFIG.read_text()))
    for rule in data["fit_rules"]:
        if rule["name"] == "target_company_size":
            rule["points"] = 25
    assert score_lead(parse_definition(data), QUALIFIED, [], NOW).total == 70


# --- profile merge -----------------------------------------------------------------------------


def test_merge_newer_non_empty_values_win():
    assert merge_profile({"a": 1, "b": "x", "c": "keep", "e": [1]}, {"a": 2, "b": "", "c": None, "d": 4, "e": []}) == {
        "a": 2, "b": "x", "c": "keep", "d": 4, "e": [1]}


def test_merge_does_not_change_its_inputs():
    current = {"a": 1}
    merge_profile(current, {"a": 2})
    assert current == {"a": 1}


def test_cross_references_are_reported_alongside_errors_in_other_sections():
    data = base(thresholds={"mql": 50, "fast_track": 10},
                fit_rules=[fit_rule(op="email_domain_class", value="nope")],
                engagement_rules=[{"name": "a", "activity": "x", "points": 1},
                                  {"name": "b", "activity": "x", "points": 1}])
    with pytest.raises(DefinitionError) as info:
        parse_definition(data)
    problems = str(info.value).removeprefix("lead definition is invalid: ").split("; ")
    assert [p.split(":")[0] for p in problems] == ["thresholds.fast_track", "fit_rules.0.value",
                                                   "engagement_rules.1.activity"]


# --- fit and interest, both ------------------------------------------------------------------------

STUDENT = {"job_title": "Student", "email": "kim@gmail.com", "email_domain": "gmail.com"}
EVERY_SIGNAL = [Activity(kind, NOW - timedelta(hours=h)) for h, kind in enumerate(
    ["demo_request", "pricing_page_view", "pricing_page_view", "webinar_attended", "webinar_attended",
     "form_fill", "form_fill", "email_click", "email_click", "email_click"])]


def test_a_busy_student_on_free_mail_is_held_back_by_the_shipped_minimum_fit():
    score = score_lead(SHIPPED, STUDENT, EVERY_SIGNAL, NOW)
    assert score.fit == -55 and score.total >= SHIPPED.thresholds.mql  # the line alone would let them through
    assert (score.stage, score.qualified, score.grade) == ("below", False, "D1")
    assert score.held_because == f"fit -55 is below the minimum fit {SHIPPED.qualification.min_fit}"


def test_the_shipped_good_fit_still_qualifies_and_says_nothing_held_it():
    score = score_lead(SHIPPED, QUALIFIED, [], NOW)
    assert (score.stage, score.held_because) == ("mql", None)


def test_below_the_line_nothing_is_held_back_the_total_is_the_reason():
    score = score_lead(SHIPPED, STUDENT, [], NOW)
    assert (score.stage, score.held_because) == ("below", None)


@pytest.mark.parametrize("qualification, held", [
    ({"min_engagement": 10}, "engagement 0 is below the minimum engagement 10"),
    ({"cells": ["A1", "A2", "B1"]}, "grade A4 is not a qualifying cell (A1, A2, B1)"),
    ({"min_fit": 60, "cells": ["A4"]}, None),
    ({"min_fit": 61}, "fit 60 is below the minimum fit 61"),
])
def test_each_axis_and_the_grade_matrix_can_hold_a_lead_back(qualification, held):
    definition = parse_definition(base(
        qualification=qualification, fit_rules=[fit_rule(name="big", field="company_size", op="gte", value=100,
                                                         points=60)]))
    score = score_lead(definition, {"company_size": 300}, [], NOW)
    assert score.total == 60 and score.grade == "A4"
    assert score.held_because == held
    assert score.stage == ("mql" if held is None else "below")
