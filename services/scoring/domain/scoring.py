"""The pure scoring function: a profile and its activities against a definition."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from services.scoring.domain.definition import FitRule, LeadDefinition


@dataclass(frozen=True)
class Score:
    fit: int
    engagement: int
    total: int
    qualified: bool
    rules_fired: tuple[tuple[str, int], ...]


def rule_matches(rule: FitRule, profile: Mapping[str, Any]) -> bool:
    value = profile.get(rule.field)
    present = value is not None and value != ""
    if rule.op == "present":
        return present
    if rule.op == "missing":
        return not present
    if not present:
        return False
    if rule.op == "equals":
        return _fold(value) == _fold(rule.value)
    if rule.op == "one_of":
        return _fold(value) in {_fold(v) for v in rule.value}
    if rule.op == "between":
        return isinstance(value, int | float) and rule.value[0] <= value <= rule.value[1]
    if rule.op == "contains_any":
        words = str(value).lower().replace(",", " ").split()
        return any(str(v).lower() in words for v in rule.value)
    raise ValueError(f"unknown op {rule.op!r}")


def score_lead(definition: LeadDefinition, profile: Mapping[str, Any],
               activity_types: Iterable[str]) -> Score:
    fired: list[tuple[str, int]] = []
    fit = 0
    for rule in definition.fit_rules:
        if rule_matches(rule, profile):
            fit += rule.points
            fired.append((rule.name, rule.points))
    engagement = 0
    for activity in activity_types:
        points = definition.engagement_points.get(activity, 0)
        if points:
            engagement += points
            fired.append((f"activity:{activity}", points))
    total = fit + engagement
    return Score(fit, engagement, total, total >= definition.qualification_threshold, tuple(fired))


def merge_profile(current: Mapping[str, Any], submitted: Mapping[str, Any]) -> dict[str, Any]:
    """A later submission's non-empty values win; empty ones never erase what we knew."""
    merged = dict(current)
    for key, value in submitted.items():
        if value not in (None, "", {}, []):
            merged[key] = value
    return merged


def _fold(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value
