"""The lead definition as a validated model; errors name the field and the problem.

A definition says who is worth a salesperson's time (fit rules on lead and company
attributes), how interested they are (engagement rules on activity types, with a
cap per period and decay), how to read a score at a glance (grades), where the
MQL and fast-track lines are, and what else a sales-ready lead needs on each axis
(``qualification``: a minimum fit, a minimum engagement, the grade cells that qualify).
Every check that spans fields (rule names unique across both lists, an email-domain
class that exists, one rule per activity type) reports the exact field path of the
offending value, e.g. ``fit_rules.2.value``.
"""

from __future__ import annotations

import re
from functools import cached_property
from itertools import pairwise
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails

from shared.identity import FREE_MAIL_DOMAINS
from shared.reviewed_documents import DocumentError, DocumentVersion, fail, load_yaml_document, parse_document, problem
from shared.validation import CleanInput

Op = Literal[
    "equals", "one_of", "between", "gte", "lte", "contains_any", "pattern", "present", "missing",
    "email_domain_class",
]
OPS: tuple[str, ...] = Op.__args__  # type: ignore[attr-defined]

FIT_LETTERS: tuple[Literal["A", "B", "C"], ...] = ("A", "B", "C")  # D is everything below C
ENGAGEMENT_DIGITS: tuple[Literal["1", "2", "3"], ...] = ("1", "2", "3")  # 4 is everything below 3

_SNAKE = r"^[a-z][a-z0-9_]*$"
_DOMAIN = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$")

RuleName = Annotated[str, StringConstraints(pattern=_SNAKE, min_length=1, max_length=100)]
ClassName = Annotated[str, StringConstraints(pattern=_SNAKE, min_length=1, max_length=100)]
PositiveInt = Annotated[StrictInt, Field(ge=1)]


BUILT_IN_DOMAIN_CLASSES: dict[str, frozenset[str]] = {"free_mail": FREE_MAIL_DOMAINS}
"""Email-domain classes every definition has; a definition's own entry of the same name adds domains."""


class DefinitionError(DocumentError):
    """The definition file is not valid; the message lists field paths and reasons."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Thresholds(_Model):
    mql: StrictInt
    fast_track: StrictInt

    @model_validator(mode="after")
    def _fast_track_is_above_mql(self) -> Thresholds:
        if self.fast_track < self.mql:
            fail("Thresholds", [problem(("fast_track",), f"must be >= mql ({self.mql}), got {self.fast_track}",
                                          self.fast_track)])
        return self


class Grades(_Model):
    """Fit letter A-D x engagement digit 1-4; each entry is the lowest score that earns it."""

    fit: dict[Literal["A", "B", "C"], StrictInt]
    engagement: dict[Literal["1", "2", "3"], StrictInt]

    @field_validator("engagement", mode="before")
    @classmethod
    def _digits_as_text(cls, value: Any) -> Any:
        # YAML reads an unquoted `1: 50` as an integer key
        return {str(k): v for k, v in value.items()} if isinstance(value, dict) else value

    @model_validator(mode="after")
    def _complete_and_strictly_decreasing(self) -> Grades:
        problems = []
        for name, keys in (("fit", FIT_LETTERS), ("engagement", ENGAGEMENT_DIGITS)):
            table: dict[str, int] = getattr(self, name)
            missing = [k for k in keys if k not in table]
            if missing:
                problems.append(problem((name,), f"needs a threshold for each of {', '.join(keys)} "
                                                  f"(missing {', '.join(missing)})", table))
                continue
            values = [table[k] for k in keys]
            if any(a <= b for a, b in pairwise(values)):
                shown = " > ".join(f"{k} ({table[k]})" for k in keys)
                problems.append(problem((name,), f"must be strictly decreasing: {shown} does not hold", table))
        fail("Grades", problems)
        return self

    def fit_grade(self, fit: int) -> str:
        return next((k for k in FIT_LETTERS if fit >= self.fit[k]), "D")

    def engagement_grade(self, engagement: int) -> str:
        return next((k for k in ENGAGEMENT_DIGITS if engagement >= self.engagement[k]), "4")


GradeCell = Annotated[str, StringConstraints(pattern=r"^[A-D][1-4]$")]


class Qualification(_Model):
    """What a sales-ready lead needs besides a total at the MQL line: fit and interest both.

    ``min_fit`` and ``min_engagement``: the lowest fit and engagement scores that may
    qualify; ``cells``: the fit-letter x engagement-digit cells that may (the grade matrix),
    e.g. ``[A1, A2, B1]``. Each is optional; a lead must pass every one given."""

    min_fit: StrictInt | None = None
    min_engagement: StrictInt | None = None
    cells: tuple[GradeCell, ...] | None = None

    @field_validator("cells")
    @classmethod
    def _cells_distinct_and_some(cls, cells: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if cells is None:
            return None
        problems = [problem((), "needs at least one cell (leave cells out to allow every cell)", list(cells))] \
            if not cells else []
        seen: set[str] = set()
        for i, cell in enumerate(cells):
            if cell in seen:
                problems.append(problem((i,), f"{cell} is listed twice", cell))
            seen.add(cell)
        fail("cells", problems)
        return cells

    def held_because(self, fit: int, engagement: int, grade: str) -> str | None:
        """Why a lead at or above the MQL line still does not qualify, or None when it does."""
        if self.min_fit is not None and fit < self.min_fit:
            return f"fit {fit} is below the minimum fit {self.min_fit}"
        if self.min_engagement is not None and engagement < self.min_engagement:
            return f"engagement {engagement} is below the minimum engagement {self.min_engagement}"
        if self.cells is not None and grade not in self.cells:
            return f"grade {grade} is not a qualifying cell ({', '.join(self.cells)})"
        return None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_scalar(value: Any) -> bool:
    return isinstance(value, str | int | float | bool) and value != ""


class FitRule(_Model):
    """A condition on one profile field, and the points it adds (or takes) when it holds."""

    name: RuleName
    description: str | None = None
    field: str = Field(min_length=1)
    op: Op
    value: Any = None
    points: StrictInt

    @model_validator(mode="after")
    def _value_fits_op(self) -> FitRule:
        reason = _value_problem(self.op, self.value)
        if reason:
            fail("FitRule", [problem(("value",), reason, self.value)])
        return self


def _value_problem(op: str, v: Any) -> str | None:
    if op == "between":
        if not (isinstance(v, list) and len(v) == 2 and all(_is_number(x) for x in v) and v[0] <= v[1]):
            return "'between' needs value: [min, max] with min <= max"
    elif op in ("gte", "lte"):
        if not _is_number(v):
            return f"'{op}' needs value: a number"
    elif op == "one_of":
        if not (isinstance(v, list) and v and all(_is_scalar(x) for x in v)):
            return "'one_of' needs value: a non-empty list of texts or numbers"
    elif op == "contains_any":
        if not (isinstance(v, list) and v and all(isinstance(x, str) and x.strip() for x in v)):
            return "'contains_any' needs value: a non-empty list of words"
    elif op == "equals":
        if not _is_scalar(v):
            return "'equals' needs value: a text, a number or true/false"
    elif op == "pattern":
        if not (isinstance(v, str) and v):
            return "'pattern' needs value: a regular expression"
        try:
            re.compile(v, re.IGNORECASE)
        except re.error as exc:
            return f"'pattern' needs value: a regular expression that compiles ({v!r}: {exc})"
    elif op == "email_domain_class":
        if not (isinstance(v, str) and v):
            return "'email_domain_class' needs value: the name of a class in email_domain_classes"
    elif v is not None:  # present, missing
        return f"'{op}' takes no value"
    return None


class Cap(_Model):
    """At most ``points`` from one rule per fixed window of ``period_days`` (aligned to the Unix epoch)."""

    points: PositiveInt
    period_days: PositiveInt


class Decay(_Model):
    """Either a half-life (points halve every ``half_life_days``) or an age window (full points
    up to ``max_age_days``, nothing after)."""

    half_life_days: PositiveInt | None = None
    max_age_days: PositiveInt | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Decay:
        if (self.half_life_days is None) == (self.max_age_days is None):
            fail("Decay", [problem((), "needs either half_life_days or max_age_days, not both and not neither",
                                     self.model_dump())])
        return self


class EngagementRule(_Model):
    """Points per activity of one type; engagement only ever adds (decay then never raises a score)."""

    name: RuleName
    description: str | None = None
    activity: str = Field(min_length=1)
    points: PositiveInt
    cap: Cap | None = None
    decay: Decay | None = None


class LeadDefinition(CleanInput):
    """The whole definition; ``free_mail`` is a built-in email-domain class (``shared.identity``)."""

    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_extra={"examples": [{
        "version": "2026-12-02.1", "thresholds": {"mql": 50, "fast_track": 90},
        "grades": {"fit": {"A": 60, "B": 40, "C": 20}, "engagement": {"1": 50, "2": 25, "3": 10}},
        "qualification": {"min_fit": 20},
        "fit_rules": [{"name": "decision_maker", "field": "job_title", "op": "contains_any",
                       "value": ["vp", "head", "chief"], "points": 20},
                      {"name": "free_mail_address", "field": "email_domain", "op": "email_domain_class",
                       "value": "free_mail", "points": -30}],
        "engagement_rules": [{"name": "demo_request", "activity": "demo_request", "points": 40,
                              "cap": {"points": 40, "period_days": 30}, "decay": {"half_life_days": 30}}]}]})

    version: DocumentVersion
    thresholds: Thresholds
    grades: Grades
    qualification: Qualification = Qualification()
    email_domain_classes: dict[ClassName, tuple[str, ...]] = Field(default_factory=dict)
    fit_rules: tuple[FitRule, ...] = ()
    engagement_rules: tuple[EngagementRule, ...] = ()

    @field_validator("email_domain_classes", mode="before")
    @classmethod
    def _lower_case_domains(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        return {k: [d.strip().lower() if isinstance(d, str) else d for d in v] if isinstance(v, list | tuple) else v
                for k, v in value.items()}

    @field_validator("email_domain_classes")
    @classmethod
    def _domains_are_domains(cls, value: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        problems = []
        for name, domains in value.items():
            if not domains:
                problems.append(problem((name,), "needs at least one domain", domains))
            for i, domain in enumerate(domains):
                if not _DOMAIN.match(domain):
                    problems.append(problem((name, i), f"{domain!r} is not a domain name (like example.com)",
                                             domain))
        fail("email_domain_classes", problems)
        return value

    # Cross-references are field validators (not one model validator) so that they run, and
    # report, even when another section has errors of its own.
    @field_validator("fit_rules")
    @classmethod
    def _fit_rules_refer_to_known_classes(cls, rules: tuple[FitRule, ...], info: ValidationInfo
                                          ) -> tuple[FitRule, ...]:
        problems = _repeated_names(rules, "fit_rules", {})
        classes = info.data.get("email_domain_classes")
        for i, rule in enumerate(rules):
            if classes is not None and rule.op == "email_domain_class" and rule.value not in classes \
                    and rule.value not in BUILT_IN_DOMAIN_CLASSES:
                known = ", ".join([*BUILT_IN_DOMAIN_CLASSES, *(c for c in classes if c not in BUILT_IN_DOMAIN_CLASSES)])
                problems.append(problem((i, "value"), f"unknown email domain class {rule.value!r} "
                                                       f"(email_domain_classes defines: {known})", rule.value))
        fail("fit_rules", problems)
        return rules

    @field_validator("engagement_rules")
    @classmethod
    def _engagement_rules_are_distinct(cls, rules: tuple[EngagementRule, ...], info: ValidationInfo
                                       ) -> tuple[EngagementRule, ...]:
        fit_names = {r.name: f"fit_rules.{i}" for i, r in enumerate(info.data.get("fit_rules") or ())}
        problems = _repeated_names(rules, "engagement_rules", fit_names)
        counted: dict[str, str] = {}
        for i, rule in enumerate(rules):
            if rule.activity in counted:
                problems.append(problem((i, "activity"),
                                         f"activity {rule.activity!r} is already counted by {counted[rule.activity]}",
                                         rule.activity))
            else:
                counted[rule.activity] = f"engagement_rules.{i} ({rule.name})"
        fail("engagement_rules", problems)
        return rules

    @cached_property
    def _domain_classes(self) -> dict[str, frozenset[str]]:
        names = {*BUILT_IN_DOMAIN_CLASSES, *self.email_domain_classes}
        return {name: BUILT_IN_DOMAIN_CLASSES.get(name, frozenset())
                | frozenset(self.email_domain_classes.get(name, ())) for name in names}

    def domain_class(self, name: str) -> frozenset[str]:
        """The domains of an email-domain class: the built-in ones plus the definition's own."""
        return self._domain_classes.get(name, frozenset())

    @property
    def rule_names(self) -> tuple[str, ...]:
        """Every rule's name: fit rules, then engagement rules, in definition order."""
        return tuple(r.name for r in self.fit_rules) + tuple(r.name for r in self.engagement_rules)


def _repeated_names(rules: tuple[FitRule | EngagementRule, ...], section: str,
                    seen: dict[str, str]) -> list[InitErrorDetails]:
    """A problem at ``<i>.name`` for each rule whose name ``seen`` (or an earlier rule) already has."""
    seen = dict(seen)
    problems = []
    for i, rule in enumerate(rules):
        if rule.name in seen:
            problems.append(problem((i, "name"), f"rule names must be unique: {rule.name!r} is already "
                                                  f"{seen[rule.name]}", rule.name))
        else:
            seen[rule.name] = f"{section}.{i}"
    return problems


def parse_definition(data: Any, origin: str = "lead definition") -> LeadDefinition:
    """Validate plain data (a parsed YAML or JSON document); DefinitionError names every problem."""
    return parse_document(LeadDefinition, data, origin, DefinitionError)


def load_definition(path: Path | str) -> LeadDefinition:
    return load_yaml_document(LeadDefinition, path, DefinitionError)
