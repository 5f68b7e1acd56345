"""The routing policy as a validated model; errors name the field path and the problem.

A policy is a reviewed, versioned file (``config/routing_policy.yaml``) that says
who can take leads (owners: time zone, working hours, weight, capacity, status,
out of office), how they are pooled (teams, each with a distribution strategy and
a queue for when nobody in it is available), which lead goes where (ordered rules
on territory, segment, source, score and grade; the first that matches wins), where
a lead goes when no rule matches (the fallback) and how long an owner has to accept
a lead (the SLA).

Every check that spans fields (ids unique, team members and targets that exist, a
queue fallback that does not loop) reports the exact path of the offending value,
e.g. ``teams.1.members.2: unknown owner 'zoe'``.

Conventions:

- Working hours are wall-clock intervals in the owner's own time zone, per weekday
  (``mon`` .. ``sun``), written ``["09:00", "17:00"]``: start included, end
  excluded, ``"24:00"`` allowed as an end. A shift across midnight is written as two
  intervals on two days. Days left out are days off.
- An owner without ``working_hours`` gets the policy's ``default_working_hours``;
  without either (or with ``working_hours: always``) they are always available.
- Out-of-office ranges are dates in the owner's time zone, both ends included.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from fnmatch import fnmatchcase
from functools import cached_property
from itertools import pairwise
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails

from shared.reviewed_documents import DocumentVersion, fail, load_yaml_document, parse_document, problem

WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
"""Weekday keys in ``date.weekday()`` order (Monday is 0)."""

Strategy = Literal["round_robin", "weighted_round_robin", "least_loaded"]
Status = Literal["active", "paused", "inactive"]

FALLBACK_RULE = "fallback"
"""The name a decision records when no rule matched; no rule may use it."""

DEFAULT_FREE_MAIL_DOMAINS: tuple[str, ...] = (
    "gmail.com", "googlemail.com", "yahoo.com", "yahoo.co.uk", "yahoo.fr", "yahoo.de", "ymail.com",
    "hotmail.com", "hotmail.co.uk", "hotmail.fr", "outlook.com", "live.com", "msn.com", "icloud.com",
    "me.com", "mac.com", "aol.com", "gmx.de", "gmx.net", "gmx.com", "web.de", "t-online.de",
    "proton.me", "protonmail.com", "mail.com", "zoho.com", "fastmail.com", "hey.com", "tutanota.com",
    "yandex.com", "yandex.ru", "mail.ru", "qq.com", "163.com", "orange.fr", "free.fr", "laposte.net",
    "libero.it", "btinternet.com", "uol.com.br", "bol.com.br",
)

_SLUG = r"^[a-z0-9][a-z0-9._-]*$"
_DOMAIN = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$")
_HHMM = re.compile(r"^(?:([01]\d|2[0-3]):([0-5]\d)|(24):(00))$")
_GRADE_PATTERN = r"^[A-Za-z0-9*]+$"

Slug = Annotated[str, StringConstraints(pattern=_SLUG, min_length=1, max_length=100)]


def _not_empty(value: tuple[Any, ...]) -> tuple[Any, ...]:
    # an after-validator rather than min_length: it stays quiet when the items themselves failed
    if not value:
        raise ValueError("needs at least one entry")
    return value


NonEmpty = AfterValidator(_not_empty)
GradePattern = Annotated[str, StringConstraints(pattern=_GRADE_PATTERN, min_length=1, max_length=20)]
PositiveInt = Annotated[StrictInt, Field(ge=1)]
NonNegativeInt = Annotated[StrictInt, Field(ge=0)]


class PolicyError(ValueError):
    """The policy is not valid; the message lists field paths and reasons."""




class _Model(BaseModel):
    # validators raise ValueError even for a wrong type: pydantic reports only that as a field error
    model_config = ConfigDict(extra="forbid", frozen=True)


# ---------------------------------------------------------------------------------------------
# owners and their time


def _minutes_of(text: Any) -> int:
    if isinstance(text, int) and not isinstance(text, bool):
        raise ValueError(f"times are written in quotes, like \"17:00\" (YAML reads 17:00 without quotes "  # noqa: TRY004
                         f"as the number {text})")
    if not isinstance(text, str) or not (m := _HHMM.match(text.strip())):
        raise ValueError(f"{text!r} is not a time of day like \"09:00\" (00:00 .. 24:00)")
    hours, minutes = (m.group(1), m.group(2)) if m.group(1) is not None else (m.group(3), m.group(4))
    return int(hours) * 60 + int(minutes)


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


class Interval(_Model):
    """Working time on one day, in minutes after local midnight: ``start`` included, ``end`` excluded."""

    start: int = Field(ge=0, le=24 * 60)
    end: int = Field(ge=0, le=24 * 60)

    @model_validator(mode="before")
    @classmethod
    def _from_pair(cls, value: Any) -> Any:
        if isinstance(value, list | tuple):
            if len(value) != 2:
                raise ValueError('needs two times, start and end, like ["09:00", "17:00"]')
            return {"start": _minutes_of(value[0]), "end": _minutes_of(value[1])}
        if isinstance(value, str):
            raise ValueError('needs two times, start and end, like ["09:00", "17:00"]')  # noqa: TRY004
        return value

    @model_validator(mode="after")
    def _start_before_end(self) -> Interval:
        if self.start >= self.end:
            raise ValueError(f"start {_hhmm(self.start)} must be before end {_hhmm(self.end)} (a shift across "
                             f"midnight is two intervals on two days)")
        return self

    def __str__(self) -> str:
        return f"{_hhmm(self.start)}-{_hhmm(self.end)}"


class WorkingHours(_Model):
    """Per weekday, the intervals of working time in the owner's time zone; days left out are off.

    ``always: true`` (written ``working_hours: always`` in the file) means available around the clock.
    """

    always: StrictBool = False
    mon: tuple[Interval, ...] = ()
    tue: tuple[Interval, ...] = ()
    wed: tuple[Interval, ...] = ()
    thu: tuple[Interval, ...] = ()
    fri: tuple[Interval, ...] = ()
    sat: tuple[Interval, ...] = ()
    sun: tuple[Interval, ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _always(cls, value: Any) -> Any:
        if value == "always":
            return {"always": True}
        if isinstance(value, str):
            raise ValueError(f"{value!r} is not working hours: give intervals per weekday "  # noqa: TRY004
                             f"({', '.join(WEEKDAYS)}) or 'always'")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> WorkingHours:
        problems = []
        days = {day: getattr(self, day) for day in WEEKDAYS}
        if self.always and any(days.values()):
            problems.append(problem((), "is either 'always' or intervals per weekday, not both", None))
        if not self.always and not any(days.values()):
            problems.append(problem((), "has no working time on any day; give intervals (e.g. mon: "
                                         "[[\"09:00\", \"17:00\"]]) or 'always'", None))
        for day, intervals in days.items():
            ordered = sorted(enumerate(intervals), key=lambda pair: pair[1].start)
            for (_, a), (j, b) in pairwise(ordered):
                if b.start < a.end:
                    problems.append(problem((day, j), f"{b} overlaps {a}", str(b)))
        fail("WorkingHours", problems)
        return self

    def day(self, weekday: int) -> tuple[Interval, ...]:
        """The intervals of ``weekday`` (0 is Monday), in time order."""
        return tuple(sorted(getattr(self, WEEKDAYS[weekday]), key=lambda i: i.start))

    def describe(self) -> str:
        if self.always:
            return "always"
        return ", ".join(f"{d} {' '.join(str(i) for i in self.day(n))}"
                         for n, d in enumerate(WEEKDAYS) if getattr(self, d))


class OutOfOffice(_Model):
    """Away from ``from`` to ``to``, both dates included, in the owner's time zone."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    start: date = Field(alias="from")
    end: date = Field(alias="to")
    note: str | None = None

    @model_validator(mode="after")
    def _ordered(self) -> OutOfOffice:
        if self.end < self.start:
            fail("OutOfOffice", [problem(("to",), f"{self.end} is before from ({self.start})", str(self.end))])
        return self

    def covers(self, day: date) -> bool:
        return self.start <= day <= self.end


class Capacity(_Model):
    """At most ``per_day`` / ``per_week`` new leads, counted in the owner's time zone (weeks start Monday)."""

    per_day: PositiveInt | None = None
    per_week: PositiveInt | None = None

    @model_validator(mode="after")
    def _week_holds_a_day(self) -> Capacity:
        if self.per_day is not None and self.per_week is not None and self.per_week < self.per_day:
            fail("Capacity", [problem(("per_week",), f"{self.per_week} is below per_day ({self.per_day})",
                                        self.per_week)])
        return self


class Owner(_Model):
    """Someone who can take leads."""

    id: Slug
    name: str = Field(min_length=1, max_length=200)
    email: str = Field(min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")
    timezone: str = "UTC"
    working_hours: WorkingHours | None = None
    weight: PositiveInt = 1
    capacity: Capacity = Capacity()
    status: Status = "active"
    out_of_office: tuple[OutOfOffice, ...] = ()

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (use an IANA name like Europe/Berlin)") from None
        return value

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)  # ZoneInfo caches its instances

    @property
    def hours(self) -> WorkingHours | None:
        """The owner's working hours, or None when they are available around the clock."""
        if self.working_hours is None or self.working_hours.always:
            return None
        return self.working_hours


# ---------------------------------------------------------------------------------------------
# targets, teams, rules


class Target(_Model):
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


class QueueSpec(_Model):
    """What happens when nobody in a target is available: the lead waits up to ``max_wait_minutes``
    (wall-clock) and then goes to ``fallback`` (the policy's fallback when not given)."""

    max_wait_minutes: NonNegativeInt = 60
    fallback: Target | None = None


class Team(_Model):
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


class Range(_Model):
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

    def __str__(self) -> str:
        if self.gte is not None and self.lte is not None:
            return f"{self.gte:g}..{self.lte:g}"
        return f">= {self.gte:g}" if self.gte is not None else f"<= {self.lte:g}"


def grade_matches(grade: str | None, pattern: str) -> bool:
    """``A1`` matches ``A1``, ``A*`` and ``*1``; case does not matter; no grade matches nothing."""
    return grade is not None and fnmatchcase(grade.strip().upper(), pattern.upper())


def _text_item(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("YAML reads NO, no, off, yes and on as true/false: write such a value in quotes, "  # noqa: TRY004
                         "like \"NO\" for Norway")
    if isinstance(value, int | float):
        return str(value)  # a numeric region or state code
    return value


TextItem = Annotated[str, BeforeValidator(_text_item), StringConstraints(strip_whitespace=True, min_length=1)]
TextList = Annotated[tuple[TextItem, ...], NonEmpty]


class When(_Model):
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
        for name in ("country", "region", "state", "industry", "source"):
            wanted = getattr(self, name)
            if wanted is not None and _casefold(getattr(facts, name)) not in {w.casefold() for w in wanted}:
                return False
        if self.grade is not None and not any(grade_matches(facts.grade, p) for p in self.grade):
            return False
        if self.company_size is not None and not self.company_size.holds(facts.company_size):
            return False
        return self.score is None or self.score.holds(facts.score)

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


class Rule(_Model):
    """When the lead matches ``when``, it goes to ``assign_to`` (or, with ``account_match``, to the owner
    of its company's account when they are available)."""

    name: Slug
    description: str | None = None
    when: When = When()
    assign_to: Target
    account_match: StrictBool = True
    sla_minutes: PositiveInt | None = None

    @field_validator("name")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        if value == FALLBACK_RULE:
            raise ValueError(f"{FALLBACK_RULE!r} is reserved for leads no rule matched")
        return value


class SlaSpec(_Model):
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


# ---------------------------------------------------------------------------------------------
# the lead as routing sees it


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _int(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    try:
        return int(str(value).strip())
    except ValueError:
        return None


@dataclass(frozen=True)
class LeadFacts:
    """What routing knows about a lead; everything but the id may be missing."""

    lead_id: str
    email: str | None = None
    email_domain: str | None = None
    company_domain: str | None = None
    country: str | None = None
    region: str | None = None
    state: str | None = None
    industry: str | None = None
    company_size: int | None = None
    source: str | None = None
    score: int | None = None
    grade: str | None = None

    @classmethod
    def from_attributes(cls, lead_id: Any, attributes: dict[str, Any] | None = None, **overrides: Any
                        ) -> LeadFacts:
        """From a profile or event attributes dict; keyword arguments win over the dict.

        ``email_domain`` defaults to the part of ``email`` after the @; ``company_domain`` may also be
        given as ``domain`` or ``website``; countries are upper-cased; numbers given as text are read.
        """
        data = {**(attributes or {}), **{k: v for k, v in overrides.items() if v is not None}}
        unknown = set(overrides) - set(cls.__dataclass_fields__)
        if unknown:
            raise TypeError(f"unknown lead facts: {', '.join(sorted(unknown))}")
        email = _text(data.get("email"))
        email_domain = _text(data.get("email_domain"))
        if email_domain is None and email and "@" in email:
            email_domain = email.rsplit("@", 1)[1]
        country = _text(data.get("country"))
        return cls(
            lead_id=str(lead_id),
            email=email,
            email_domain=email_domain.lower() if email_domain else None,
            company_domain=_text(data.get("company_domain") or data.get("domain") or data.get("website")),
            country=country.upper() if country else None,
            region=_text(data.get("region")),
            state=_text(data.get("state")),
            industry=_text(data.get("industry")),
            company_size=_int(data.get("company_size")),
            source=_text(data.get("source")),
            score=_int(data.get("score")),
            grade=_text(data.get("grade")),
        )


# ---------------------------------------------------------------------------------------------
# the policy


class RoutingPolicy(_Model):
    version: DocumentVersion
    description: str | None = None
    free_mail_domains: tuple[str, ...] = DEFAULT_FREE_MAIL_DOMAINS
    default_working_hours: WorkingHours | None = None
    owners: Annotated[tuple[Owner, ...], NonEmpty]
    teams: tuple[Team, ...] = ()
    rules: tuple[Rule, ...] = ()
    fallback: Fallback
    owner_queue: QueueSpec = QueueSpec()
    sla: SlaSpec = SlaSpec()

    @field_validator("free_mail_domains", mode="before")
    @classmethod
    def _lower_case_domains(cls, value: Any) -> Any:
        if isinstance(value, list | tuple):
            return [d.strip().lower() if isinstance(d, str) else d for d in value]
        return value

    @field_validator("free_mail_domains")
    @classmethod
    def _domains_are_domains(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        fail("free_mail_domains", [problem((i, ), f"{d!r} is not a domain name (like example.com)", d)
                                    for i, d in enumerate(value) if not _DOMAIN.match(d)])
        return value

    # Cross-references are field validators (not one model validator) so that they run, and
    # report, even when another section has errors of its own.
    @field_validator("owners")
    @classmethod
    def _unique_owner_ids(cls, owners: tuple[Owner, ...]) -> tuple[Owner, ...]:
        fail("owners", _repeated(owners, "owners", "id"))
        return owners

    @field_validator("teams")
    @classmethod
    def _teams_refer_to_owners(cls, teams: tuple[Team, ...], info: ValidationInfo) -> tuple[Team, ...]:
        problems = _repeated(teams, "teams", "id")
        owner_ids = _ids(info.data.get("owners"))
        team_ids = {t.id for t in teams}
        for i, team in enumerate(teams):
            seen: set[str] = set()
            for j, member in enumerate(team.members):
                if member in seen:
                    problems.append(problem((i, "members", j), f"{member!r} is listed twice", member))
                seen.add(member)
                if owner_ids is not None and member not in owner_ids:
                    problems.append(problem((i, "members", j), f"unknown owner {member!r}", member))
            queue_fallback = team.queue.fallback
            if queue_fallback is not None:
                if queue_fallback.key == ("team", team.id):
                    problems.append(problem((i, "queue", "fallback"), "must not be the team itself",
                                             queue_fallback.to_dict()))
                else:
                    unknown = _unknown_target(queue_fallback, owner_ids, team_ids)
                    if unknown:
                        problems.append(problem((i, "queue", "fallback", queue_fallback.kind), unknown,
                                                 queue_fallback.id))
        fail("teams", problems)
        return teams

    @field_validator("rules")
    @classmethod
    def _rules_refer_to_targets(cls, rules: tuple[Rule, ...], info: ValidationInfo) -> tuple[Rule, ...]:
        problems = _repeated(rules, "rules", "name")
        owner_ids, team_ids = _ids(info.data.get("owners")), _ids(info.data.get("teams"))
        for i, rule in enumerate(rules):
            unknown = _unknown_target(rule.assign_to, owner_ids, team_ids)
            if unknown:
                problems.append(problem((i, "assign_to", rule.assign_to.kind), unknown, rule.assign_to.id))
        fail("rules", problems)
        return rules

    @field_validator("fallback")
    @classmethod
    def _fallback_exists(cls, fallback: Fallback, info: ValidationInfo) -> Fallback:
        owner_ids, team_ids = _ids(info.data.get("owners")), _ids(info.data.get("teams"))
        unknown = _unknown_target(fallback, owner_ids, team_ids)
        fail("fallback", [problem((fallback.kind,), unknown, fallback.id)] if unknown else [])
        return fallback

    @field_validator("owner_queue")
    @classmethod
    def _owner_queue_fallback_exists(cls, queue: QueueSpec, info: ValidationInfo) -> QueueSpec:
        if queue.fallback is not None:
            owner_ids, team_ids = _ids(info.data.get("owners")), _ids(info.data.get("teams"))
            unknown = _unknown_target(queue.fallback, owner_ids, team_ids)
            fail("owner_queue", [problem(("fallback", queue.fallback.kind), unknown, queue.fallback.id)]
                  if unknown else [])
        return queue

    @model_validator(mode="after")
    def _queues_do_not_loop(self) -> RoutingPolicy:
        fail("RoutingPolicy", _queue_loops(self.teams, self.fallback.target))
        return self

    @model_validator(mode="after")
    def _default_hours(self) -> RoutingPolicy:
        # owners without hours of their own work the default hours; the model is frozen, and
        # this is still part of its construction
        if self.default_working_hours is not None:
            owners = tuple(o.model_copy(update={"working_hours": self.default_working_hours})
                           if o.working_hours is None else o for o in self.owners)
            object.__setattr__(self, "owners", owners)
        return self

    # -- lookups ---------------------------------------------------------------------------------

    @cached_property
    def _owners(self) -> dict[str, Owner]:
        return {o.id: o for o in self.owners}

    @cached_property
    def _teams(self) -> dict[str, Team]:
        return {t.id: t for t in self.teams}

    def owner(self, owner_id: str) -> Owner:
        return self._owners[owner_id]

    def has_owner(self, owner_id: str) -> bool:
        return owner_id in self._owners

    def team(self, team_id: str) -> Team:
        return self._teams[team_id]

    def rule(self, name: str) -> Rule | None:
        return next((r for r in self.rules if r.name == name), None)

    def match_rule(self, facts: LeadFacts) -> Rule | None:
        """The first rule, in file order, whose conditions the lead meets."""
        return next((r for r in self.rules if r.when.matches(facts)), None)

    def queue_for(self, where: Target | dict[str, str]) -> QueueSettings:
        """The queue of a team (its ``queue``) or of a named owner (``owner_queue``)."""
        where = target(where)
        spec = self._teams[where.id].queue if where.kind == "team" else self.owner_queue
        fallback = spec.fallback if spec.fallback is not None else self.fallback.target
        if fallback.key == where.key:
            return QueueSettings(where, None, None)
        return QueueSettings(where, spec.max_wait_minutes, fallback)


def _ids(items: Any) -> set[str] | None:
    """The ids of a section that validated, or None when it did not (its references are not checked)."""
    return None if items is None else {item.id for item in items}


def _repeated(items: tuple[Any, ...], section: str, key: str) -> list[InitErrorDetails]:
    seen: dict[str, int] = {}
    problems = []
    for i, item in enumerate(items):
        value = getattr(item, key)
        if value in seen:
            problems.append(problem((i, key), f"{key}s must be unique: {value!r} is already "
                                               f"{section}.{seen[value]}", value))
        else:
            seen[value] = i
    return problems


def _unknown_target(where: Target, owner_ids: set[str] | None, team_ids: set[str] | None) -> str | None:
    known = owner_ids if where.kind == "owner" else team_ids
    if known is not None and where.id not in known:
        return f"unknown {where.kind} {where.id!r}"
    return None


def _queue_loops(teams: tuple[Team, ...], policy_fallback: Target) -> list[InitErrorDetails]:
    """A problem for each team whose queue fallbacks lead back to itself (the lead would circle)."""
    by_id = {t.id: (i, t) for i, t in enumerate(teams)}

    def next_of(team: Team) -> Target | None:
        nxt = team.queue.fallback if team.queue.fallback is not None else policy_fallback
        return None if nxt.key == ("team", team.id) else nxt

    problems = []
    for i, team in enumerate(teams):
        path, current = [team.id], next_of(team)
        while current is not None and current.kind == "team" and current.id in by_id:
            if current.id == team.id:
                problems.append(problem(("teams", i, "queue", "fallback"),
                                         f"queue fallbacks go round in a loop: {' -> '.join(path + [team.id])}",
                                         team.queue.fallback.to_dict() if team.queue.fallback else None))
                break
            if current.id in path:
                break  # a loop that does not pass through this team; reported at its own teams
            path.append(current.id)
            current = next_of(by_id[current.id][1])
    return problems


def parse_policy(data: Any, origin: str = "routing policy") -> RoutingPolicy:
    """Validate plain data (a parsed YAML or JSON document); PolicyError names every problem."""
    return parse_document(RoutingPolicy, data, origin, PolicyError)


def load_policy(path: Path | str) -> RoutingPolicy:
    return load_yaml_document(RoutingPolicy, path, PolicyError)


__all__ = [
    "DEFAULT_FREE_MAIL_DOMAINS",
    "FALLBACK_RULE",
    "WEEKDAYS",
    "Capacity",
    "Fallback",
    "Interval",
    "LeadFacts",
    "OutOfOffice",
    "Owner",
    "PolicyError",
    "QueueSettings",
    "QueueSpec",
    "Range",
    "RoutingPolicy",
    "Rule",
    "SlaSpec",
    "Strategy",
    "Target",
    "Team",
    "When",
    "WorkingHours",
    "grade_matches",
    "load_policy",
    "parse_policy",
    "target",
]
