"""A problem in a reviewed file is told at its line and column, with the bad value and, for a
misspelt key, the key that was meant."""

import pytest
from pydantic import ValidationError

from services.routing.domain.policy import RoutingPolicy
from services.scoring.domain.definition import LeadDefinition
from shared.document_locations import Mark, YamlProblem, describe, known_keys, read_yaml

TEXT = """\
version: "1"
thresholds:
  mql: 50
  fast_track: ninety
qualification:
  min_fitt: 20
"""


def _problems(model, text):
    located = read_yaml(text)
    with pytest.raises(ValidationError) as info:
        model.model_validate(located.data)
    return {p.field: p for p in (describe(e, model, located) for e in info.value.errors())}


def test_a_bad_value_is_told_at_its_line_with_the_value() -> None:
    problem = _problems(LeadDefinition, TEXT)["thresholds.fast_track"]
    assert problem.mark == Mark(4, 3)
    assert problem.reason == "Input should be a valid integer (got 'ninety')"
    assert problem.located("x.yaml") == f"x.yaml:4:3: thresholds.fast_track: {problem.reason}"


def test_a_misspelt_key_gets_the_key_that_was_meant() -> None:
    problem = _problems(LeadDefinition, TEXT)["qualification.min_fitt"]
    assert problem.mark == Mark(6, 3)
    assert problem.reason == "not a known field (did you mean 'min_fit'?)"


def test_a_key_nothing_resembles_lists_the_known_keys() -> None:
    problem = _problems(LeadDefinition, TEXT.replace("min_fitt", "zzz"))["qualification.zzz"]
    assert problem.reason.startswith("not a known field (known here: ")
    assert "min_fit" in problem.reason and "min_engagement" in problem.reason


def test_a_missing_field_is_told_where_its_parent_is() -> None:
    problems = _problems(RoutingPolicy, 'version: "1"\nrules: []\n')
    missing = [p for p in problems.values() if p.reason == "Field required"]
    assert missing and all(p.mark == Mark(1, 1) for p in missing)


def test_keys_inside_lists_of_models_are_known() -> None:
    assert "timezone" in known_keys(RoutingPolicy, ("owners", 0))
    assert "members" in known_keys(RoutingPolicy, ("teams", 3))


def test_a_key_written_twice_is_refused_at_the_second_one() -> None:
    with pytest.raises(YamlProblem) as info:
        read_yaml('version: "1"\nthresholds:\n  mql: 50\n  mql: 60\n')
    assert info.value.mark == Mark(4, 3)
    assert str(info.value) == "thresholds.mql: written twice (first at line 3); YAML would keep only the later one"


def test_aliases_are_refused_and_broken_yaml_is_told_where() -> None:
    with pytest.raises(YamlProblem, match="aliases"):
        read_yaml("a: &x [1, 2]\nb: *x\n")
    with pytest.raises(YamlProblem) as info:
        read_yaml("a: [1, 2\nb: 3\n")
    assert info.value.mark is not None and info.value.mark.line == 2
    assert str(info.value).startswith("not valid YAML: ")


def test_nesting_too_deep_is_a_problem_of_the_text_not_a_crash() -> None:
    with pytest.raises(YamlProblem, match="nested too deeply"):
        read_yaml("[" * 100_000)


def test_bytes_that_are_no_text_are_a_problem_of_the_text() -> None:
    with pytest.raises(YamlProblem, match="^not valid YAML: "):
        read_yaml(b"version: \xff\xfe\n")
