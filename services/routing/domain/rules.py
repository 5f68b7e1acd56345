"""Where leads go: targets (a team or a named owner), teams with their strategy and queue,
the ordered rules with their conditions, and the SLA the policy sets."""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, StrictBool, StringConstraints, field_validator, model_validator

from services.routing.domain.document_fields import (
    RESERVED_RULES,
    GradePattern,
    NonEmpty,
    NonNegativeInt,
    PolicyModel,
    PositiveInt,
    Slug,
    Strategy,
)
from services.routing.domain.lead_facts import LeadFacts
from shared.reviewed_documents import fail, problem


class Target(PolicyModel):
    """Where a lead goes: a team (a pool) or a named owner; exactly one of the two."""

    team: Slug | None = None
    owner: Slug | None = None

    @model_validator(mode="before")
    @classmethod
    def _exactly_one(cls, value: Any) -> Any:
        if isinstance(value, dict) and ((value.get("team") is None) == (value.get("owner") is None)):
            raise ValueError("needs exactly one of team or owner, like {team: inbound} or {owner: ana.silva}")
        return value

    @property
    def kind(self) -> Literal["team", "owner"]:
        return "team" if self.team is not None else "owner"

    @property
    def id(self) -> str:
        return self.team if self.team is not None else self.owner  # type: ignore[return-value]

    @property
    def key(self) -> tuple[str, str]:
        return (self.kind, self.id)

    def to_dict(self) -> dict[str, str]:
        return {self.kind: self.id}

    def __str__(self) -> str:
        return f"{self.kind} {self.id}"


def target(value: Target | dict[str, str]) -> Target:
    """A Target from itself or from its plain dict ({"team": id} or {"owner": id})."""
    return value if isinstance(value, Target) else Target.model_validate(value)


class Fallback(Target):
    """The target for a lead no rule matched; ``account_match`` as on a rule."""

    account_match: StrictBool = True

    @property
    def target(self) -> Target:
        return Target.model_validate(self.to_dict())


class QueueSpec(PolicyModel):
    """What happens when nobody in a target is available: the lead waits up to ``max_wait_minutes``
    (wall-clock) and then goes to ``fallback`` (the policy's fallback when not given)."""

    max_wait_minutes: NonNegativeInt = 60
    fallback: Target | None = None


class Team(PolicyModel):
    id: Slug
    name: str = Field(min_length=1, max_length=200)
    members: Annotated[tuple[Slug, ...], NonEmpty]
    strategy: Strategy = "round_robin"
    queue: QueueSpec = QueueSpec()


def _listed(value: Any) -> Any:
    return [value] if isinstance(value, str | int) and not isinstance(value, bool) else value


def _casefold(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip().casefold()
    return text or None


def _number(value: float) -> str:
    """1200 and 1200.0 as "1200", 2.5 as "2.5": no exponent for the sizes a rule compares."""
    if isinstance(value, int):
        return str(value)
    return str(int(value)) if value.is_integer() else str(value)


class Range(PolicyModel):
    """Inclusive bounds on a number; at least one of the two."""

    gte: float | None = None
    lte: float | None = None

    @field_validator("gte", "lte", mode="before")
    @classmethod
    def _a_number(cls, value: Any) -> Any:
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise ValueError(f"must be a number, got {value!r}")
        return value

    @model_validator(mode="after")
    def _bounds(self) -> Range:
        if self.gte is None and self.lte is None:
            raise ValueError("needs gte, lte or both")
        if self.gte is not None and self.lte is not None and self.gte > self.lte:
            fail("Range", [problem(("lte",), f"{self.lte:g} is below gte ({self.gte:g})", self.lte)])
        return self

    def holds(self, value: float | None) -> bool:
        if value is None:
            return False
        return (self.gte is None or value >= self.gte) and (self.lte is None or value <= self.lte)

    def failure(self, name: str, value: float | None) -> str | None:
        """Why ``value`` is out of bounds, with the value ("company_size 1200 < 5000"); None: it holds."""
        if value is None:
            return f"{name} unknown"
        if self.gte is not None and value < self.gte:
            return f"{name} {_number(value)} < {_number(self.gte)}"
        if self.lte is not None and value > self.lte:
            return f"{name} {_number(value)} > {_number(self.lte)}"
        return None

    def __str__(self) -> str:
        if self.gte is not None and self.lte is not None:
            return f"{self.gte:g}..{self.lte:g}"
        return f">= {self.gte:g}" if self.gte is not None else f"<= {self.lte:g}"


def grade_matches(grade: str | None, pattern: str) -> bool:
    """``A1`` matches ``A1``, ``A*`` and ``*1``; case does not matter; no grade matches nothing."""
    return grade is not None and fnmatchcase(grade.strip().upper(), pattern.upper())


def _text_item(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("YAML reads NO, no, off, yes and on as true/false: write such a value in quotes, "
                         "like \"NO\" for Norway")
    if isinstance(value, int | float):
        return str(value)  # a numeric region or state code
    return value


TextItem = Annotated[str, BeforeValidator(_text_item), StringConstraints(strip_whitespace=True, min_length=1)]
TextList = Annotated[tuple[TextItem, ...], NonEmpty]


class When(PolicyModel):
    """Conditions on the lead; all given ones must hold (a missing fact fails its condition).
    Lists match any of their entries, ignoring case; ranges are inclusive."""

    country: TextList | None = None
    region: TextList | None = None
    state: TextList | None = None
    industry: TextList | None = None
    source: TextList | None = None
    grade: Annotated[tuple[GradePattern, ...], NonEmpty] | None = None
    company_size: Range | None = None
    score: Range | None = None

    @field_validator("country", "region", "state", "industry", "source", "grade", mode="before")
    @classmethod
    def _single_as_list(cls, value: Any) -> Any:
        return _listed(value)

    def matches(self, facts: LeadFacts) -> bool:
        return self.first_failure(facts) is None

    def first_failure(self, facts: LeadFacts) -> str | None:
        """The first condition the lead fails, in the order they are checked, with the lead's value
        ("country FR not in US/CA", "company_size 1200 < 5000", "industry unknown"); None: all hold."""
        for name in ("country", "region", "state", "industry", "source"):
            wanted = getattr(self, name)
            if wanted is None:
                continue
            value = _casefold(getattr(facts, name))
            if value is None:
                return f"{name} unknown"
            if value not in {w.casefold() for w in wanted}:
                return f"{name} {getattr(facts, name).strip()} not in {_some(wanted)}"
        if self.grade is not None and not any(grade_matches(facts.grade, p) for p in self.grade):
            return "grade unknown" if facts.grade is None else f"grade {facts.grade} not in {_some(self.grade)}"
        numbers: tuple[tuple[str, Range | None, int | None], ...] = (
            ("company_size", self.company_size, facts.company_size), ("score", self.score, facts.score))
        for number, bounds, amount in numbers:
            failed = None if bounds is None else bounds.failure(number, amount)
            if failed is not None:
                return failed
        return None

    def describe(self) -> str:
        parts = []
        for name in ("country", "region", "state", "industry", "source", "grade"):
            wanted = getattr(self, name)
            if wanted is not None:
                parts.append(f"{name} in {'/'.join(wanted)}")
        for name in ("company_size", "score"):
            bounds = getattr(self, name)
            if bounds is not None:
                parts.append(f"{name} {bounds}")
        return " and ".join(parts) or "any lead"


def _some(items: tuple[str, ...], shown: int = 6) -> str:
    """A rule's list for an explanation: all of a short one, the first few of a long one."""
    listed = "/".join(items[:shown])
    return listed if len(items) <= shown else f"{listed}/... ({len(items)} in all)"


@dataclass(frozen=True)
class RuleCheck:
    """One rule tried on a lead: whether it matched and, if not, the first condition that failed."""

    rule: str
    matched: bool
    failed: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "matched": self.matched, "failed": self.failed}

    def __str__(self) -> str:
        return f"{self.rule}: {'matched' if self.matched else self.failed}"


class Rule(PolicyModel):
    """When the lead matches ``when``, it goes to ``assign_to`` (or, with ``account_match``, to the owner
    of its company's account when they are available)."""

    name: Slug
    description: str | None = None
    when: When = When()
    assign_to: Target
    account_match: StrictBool = True
    sla_minutes: PositiveInt | None = None

    def check(self, facts: LeadFacts) -> RuleCheck:
        failed = self.when.first_failure(facts)
        return RuleCheck(self.name, failed is None, failed)

    @field_validator("name")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        if value in RESERVED_RULES:
            raise ValueError(f"{value!r} is reserved: decisions record it for leads no rule matched ('fallback') "
                             "or leads assigned by hand ('manual')")
        return value


class SlaSpec(PolicyModel):
    """Minutes of the owner's working time to accept a lead: the rule's ``sla_minutes``, else the most
    specific ``by_grade`` entry that matches the grade, else ``default_minutes``.

    At the deadline the lead is escalated; ``reassign_after_minutes`` (working time) later it is
    reassigned to the next eligible owner, at most ``max_reassignments`` times per cycle."""

    default_minutes: PositiveInt = 240
    by_grade: dict[GradePattern, PositiveInt] = Field(default_factory=dict)
    max_reassignments: NonNegativeInt = 2
    reassign_after_minutes: NonNegativeInt = 30


@dataclass(frozen=True)
class QueueSettings:
    """How long a lead waits on ``target`` and where it goes then; ``max_wait_minutes`` None: no limit
    (the target is the last stop, the lead waits until someone is available)."""

    target: Target
    max_wait_minutes: int | None
    fallback: Target | None

