"""Owners and their time: working hours per weekday in their own time zone, out-of-office
dates, capacity caps, weight and status.

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
from datetime import date
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ConfigDict, Field, StrictBool, field_validator, model_validator

from services.routing.domain.document_fields import PolicyModel, PositiveInt, Slug, Status
from shared.reviewed_documents import fail, problem

WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
"""Weekday keys in ``date.weekday()`` order (Monday is 0)."""

_HHMM = re.compile(r"^(?:([01]\d|2[0-3]):([0-5]\d)|(24):(00))$")


def _minutes_of(text: Any) -> int:
    if isinstance(text, int) and not isinstance(text, bool):
        raise ValueError(f"times are written in quotes, like \"17:00\" (YAML reads 17:00 without quotes "
                         f"as the number {text})")
    if not isinstance(text, str) or not (m := _HHMM.match(text.strip())):
        raise ValueError(f"{text!r} is not a time of day like \"09:00\" (00:00 .. 24:00)")
    hours, minutes = (m.group(1), m.group(2)) if m.group(1) is not None else (m.group(3), m.group(4))
    return int(hours) * 60 + int(minutes)


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


class Interval(PolicyModel):
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
            raise ValueError('needs two times, start and end, like ["09:00", "17:00"]')
        return value

    @model_validator(mode="after")
    def _start_before_end(self) -> Interval:
        if self.start >= self.end:
            raise ValueError(f"start {_hhmm(self.start)} must be before end {_hhmm(self.end)} (a shift across "
                             f"midnight is two intervals on two days)")
        return self

    def __str__(self) -> str:
        return f"{_hhmm(self.start)}-{_hhmm(self.end)}"


class WorkingHours(PolicyModel):
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
            raise ValueError(f"{value!r} is not working hours: give intervals per weekday "
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


class OutOfOffice(PolicyModel):
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


class Capacity(PolicyModel):
    """At most ``per_day`` / ``per_week`` new leads, counted in the owner's time zone (weeks start Monday)."""

    per_day: PositiveInt | None = None
    per_week: PositiveInt | None = None

    @model_validator(mode="after")
    def _week_holds_a_day(self) -> Capacity:
        if self.per_day is not None and self.per_week is not None and self.per_week < self.per_day:
            fail("Capacity", [problem(("per_week",), f"{self.per_week} is below per_day ({self.per_day})",
                                        self.per_week)])
        return self


class Owner(PolicyModel):
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

