"""The pure scoring function: a profile and its activities against a definition, at a given time.

No clock is read here: ``now`` is always passed in, so the same inputs give the same
score, and a later ``now`` never gives a higher one (decay only ever lowers points).

Engagement, per rule: each matching activity is worth ``points`` times its decay
factor (half-life: ``0.5 ** (age_days / half_life_days)``; age window: 1 up to
``max_age_days`` and 0 after; no decay: 1), where the age is ``now - occurred_at``
and never negative. With a cap, activities fall into fixed windows of
``period_days`` aligned to the Unix epoch; each window's sum is capped at
``cap.points`` and the rule is worth the sum over its windows. The rule's value is
rounded half up to an integer at the end. Sums use ``math.fsum`` (exactly rounded),
so the order of the activities cannot change a score.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any, Literal

from services.scoring.domain.definition import EngagementRule, FitRule, LeadDefinition
from shared.events.payloads import Stage
from shared.identity import domain_of, domain_suffixes

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
DAY = timedelta(days=1)
_SHOWN_CHARS = 60


@dataclass(frozen=True)
class Activity:
    activity_type: str
    occurred_at: datetime

    def __post_init__(self) -> None:
        _require_aware(self.occurred_at, "Activity.occurred_at")


@dataclass(frozen=True)
class RuleHit:
    rule: str
    points: int
    detail: str


@dataclass(frozen=True)
class Score:
    fit: int
    engagement: int
    total: int
    fit_grade: str  # "A".."D"
    engagement_grade: str  # "1".."4"
    grade: str  # e.g. "A1"
    stage: Stage
    qualified: bool  # stage != "below"
    rules_fired: tuple[RuleHit, ...]
    held_because: str | None = None  # at the MQL line, but short on an axis (``Qualification``)


def score_lead(definition: LeadDefinition, profile: Mapping[str, Any], activities: Iterable[Activity],
               now: datetime) -> Score:
    _require_aware(now, "now")
    fired: list[RuleHit] = []
    fit = 0
    for rule in definition.fit_rules:
        hit = evaluate_fit_rule(definition, rule, profile)
        if hit is not None:
            fit += hit.points
            fired.append(hit)

    counted = {rule.activity for rule in definition.engagement_rules}
    by_type: dict[str, list[Activity]] = defaultdict(list)
    for activity in activities:
        if activity.activity_type in counted:
            by_type[activity.activity_type].append(activity)
    engagement = 0
    for engagement_rule in definition.engagement_rules:
        hit = evaluate_engagement_rule(engagement_rule, by_type.get(engagement_rule.activity, ()), now)
        if hit is not None:
            engagement += hit.points
            fired.append(hit)

    total = fit + engagement
    thresholds = definition.thresholds
    stage: Stage = "fast_track" if total >= thresholds.fast_track else "mql" if total >= thresholds.mql else "below"
    fit_grade = definition.grades.fit_grade(fit)
    engagement_grade = definition.grades.engagement_grade(engagement)
    grade = fit_grade + engagement_grade
    held = definition.qualification.held_because(fit, engagement, grade) if stage != "below" else None
    if held is not None:
        stage = "below"
    return Score(fit=fit, engagement=engagement, total=total, fit_grade=fit_grade,
                 engagement_grade=engagement_grade, grade=grade, stage=stage,
                 qualified=stage != "below", rules_fired=tuple(fired), held_because=held)


# --- fit --------------------------------------------------------------------------------------


def evaluate_fit_rule(definition: LeadDefinition, rule: FitRule, profile: Mapping[str, Any]) -> RuleHit | None:
    """The rule's hit with a plain-words detail when it matches the profile, else None."""
    fired, detail = _fit_check(definition, rule, profile.get(rule.field))
    return RuleHit(rule.name, rule.points, detail) if fired else None


@dataclass(frozen=True)
class RuleMiss:
    """A rule that did not fire, and why in plain words ("company_size 20000 not in [50, 4999]")."""

    rule: str
    kind: Literal["fit", "engagement"]
    points: int
    why: str


def rules_not_fired(definition: LeadDefinition, profile: Mapping[str, Any], fired: Iterable[str]
                    ) -> tuple[RuleMiss, ...]:
    """The definition's rules missing from ``fired`` (a score's rules), in file order, with why: a fit
    rule's failed test on the profile, an engagement rule's missing activity."""
    done = set(fired)
    misses = [RuleMiss(rule.name, "fit", rule.points, _fit_check(definition, rule, profile.get(rule.field))[1])
              for rule in definition.fit_rules if rule.name not in done]
    misses += [RuleMiss(rule.name, "engagement", rule.points, f"no {rule.activity} activity counts in this cycle")
               for rule in definition.engagement_rules if rule.name not in done]
    return tuple(misses)


def _fit_check(definition: LeadDefinition, rule: FitRule, value: Any) -> tuple[bool, str]:
    """Whether the rule fires on ``value``, and why or why not, with the value."""
    field, op, expected = rule.field, rule.op, rule.value
    if op == "present":
        return (True, f"{field} present") if _present(value) else (False, f"{field} missing")
    if op == "missing":
        return (True, f"{field} missing") if not _present(value) else (False, f"{field} present")
    if not _present(value):
        return False, f"{field} missing"
    shown = f"{field} {_show(value)}"
    if op == "equals":
        return _either(_same(value, expected), f"{shown} equals {_show(expected)}",
                       f"{shown} does not equal {_show(expected)}")
    if op == "one_of":
        return _either(any(_same(value, v) for v in expected), f"{shown} is one of {_show_list(expected)}",
                       f"{shown} is not one of {_show_list(expected)}")
    if op in ("between", "gte", "lte"):
        number = _number(value)
        if number is None:
            return False, f"{shown} is not a number"
        if op == "between":
            low, high = expected
            bounds = f"[{_show(low)}, {_show(high)}]"
            return _either(low <= number <= high, f"{shown} in {bounds}", f"{shown} not in {bounds}")
        if op == "gte":
            return _either(number >= expected, f"{shown} >= {_show(expected)}", f"{shown} < {_show(expected)}")
        return _either(number <= expected, f"{shown} <= {_show(expected)}", f"{shown} > {_show(expected)}")
    text = value if isinstance(value, str) else str(value)
    if op == "contains_any":
        found = [w for w in expected if _whole_word(w).search(text)]
        return _either(bool(found), f"{shown} contains {_show_list(found)}",
                       f"{shown} contains none of {_show_list(expected)}")
    if op == "pattern":
        return _either(bool(_regex(expected).search(text)), f"{shown} matches /{expected}/",
                       f"{shown} does not match /{expected}/")
    if op == "email_domain_class":
        entry = domain_in_class(text, definition.domain_class(expected))
        domain = domain_of(text)
        if entry is None:
            return False, f"{field} {_show(domain)} is not {expected}"
        via = "" if entry == domain else f" (subdomain of {entry})"
        return True, f"{field} {_show(domain)} is {expected}{via}"
    raise ValueError(f"unknown op {op!r}")


def _either(fired: bool, hit: str, miss: str) -> tuple[bool, str]:
    return (True, hit) if fired else (False, miss)


def domain_in_class(value: str, domains: frozenset[str]) -> str | None:
    """The entry that ``value`` (a domain or an email address) equals or is a subdomain of."""
    return next((suffix for suffix in domain_suffixes(domain_of(value)) if suffix in domains), None)


def _present(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, str):
        return bool(value.strip())
    if isinstance(value, list | tuple | dict | set):
        return bool(value)
    return True


def _same(value: Any, expected: Any) -> bool:
    if isinstance(value, bool) or isinstance(expected, bool):
        return isinstance(value, bool) and isinstance(expected, bool) and value == expected
    if isinstance(expected, str):
        text = value if isinstance(value, str) else str(value) if _number(value) is not None else None
        return text is not None and text.strip().casefold() == expected.strip().casefold()
    number = _number(value)
    return number is not None and number == expected


def _number(value: Any) -> float | int | None:
    """Numbers as they are; numeric text ("300") read as a number; anything else is not a number."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return None if math.isnan(value) else value
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
        return None if math.isnan(number) else number
    return None


@lru_cache(maxsize=1024)
def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


@lru_cache(maxsize=1024)
def _whole_word(word: str) -> re.Pattern[str]:
    # "vp" matches "VP Sales" and "SVP, VP-level" but not "vpn"; several words match as a phrase
    words = r"\s+".join(re.escape(w) for w in word.split())
    return re.compile(rf"(?<!\w){words}(?!\w)", re.IGNORECASE)


def _show(value: Any) -> str:
    if isinstance(value, str):
        text = value if len(value) <= _SHOWN_CHARS else value[: _SHOWN_CHARS - 1] + "…"
        return repr(text)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _show_list(values: Iterable[Any]) -> str:
    return "[" + ", ".join(_show(v) for v in values) + "]"


# --- engagement -------------------------------------------------------------------------------


def decay_factor(rule: EngagementRule, age: timedelta) -> float:
    """What one activity of this age is still worth, from 1 (fresh) down to 0."""
    if rule.decay is None:
        return 1.0
    age_days = max(age, timedelta(0)) / DAY
    if rule.decay.half_life_days is not None:
        factor: float = 0.5 ** (age_days / rule.decay.half_life_days)
        return factor
    assert rule.decay.max_age_days is not None  # Decay validates exactly one of the two
    return 1.0 if age_days <= rule.decay.max_age_days else 0.0


def cap_window(rule: EngagementRule, occurred_at: datetime) -> int:
    """The index of the fixed cap window (aligned to the Unix epoch) an activity falls in."""
    if rule.cap is None:
        return 0
    return (occurred_at - EPOCH) // timedelta(days=rule.cap.period_days)


def round_half_up(value: float) -> int:
    return math.floor(value + 0.5)


def evaluate_engagement_rule(rule: EngagementRule, activities: Iterable[Activity], now: datetime) -> RuleHit | None:
    """The rule's hit for these activities (all of ``rule.activity``), or None when worth 0 points."""
    windows: dict[int, list[float]] = defaultdict(list)
    fresh_windows: dict[int, int] = defaultdict(int)  # the same without decay, to say whether decay mattered
    counted = expired = 0
    for activity in activities:
        factor = decay_factor(rule, now - activity.occurred_at)
        if factor <= 0.0:  # past the age window (or a half-life so long ago it underflows)
            if rule.decay is not None and rule.decay.max_age_days is not None:
                expired += 1
            continue
        counted += 1
        window = cap_window(rule, activity.occurred_at)
        windows[window].append(rule.points * factor)
        fresh_windows[window] += rule.points
    if not counted:
        return None
    cap = rule.cap.points if rule.cap is not None else math.inf
    sums = [math.fsum(parts) for parts in windows.values()]
    value = round_half_up(math.fsum(min(s, cap) for s in sums))
    if value == 0:
        return None
    undecayed = round_half_up(math.fsum(min(s, cap) for s in fresh_windows.values()))
    detail = f"{counted} x {rule.activity}"
    if value < undecayed:
        detail += ", decayed"
    if rule.cap is not None and any(s > cap for s in sums):
        detail += f", capped at {rule.cap.points} per {rule.cap.period_days} days"
    if expired:
        detail += f" ({expired} older than {rule.decay.max_age_days} days not counted)"  # type: ignore[union-attr]
    return RuleHit(rule.name, value, detail)


def _require_aware(moment: datetime, what: str) -> None:
    if not isinstance(moment, datetime) or moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{what} must be a timezone-aware datetime, got {moment!r}")
