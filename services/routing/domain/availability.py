"""Whether an owner can take a lead now, and if not, why and until when.

Everything is read in the owner's own time zone: working hours, out-of-office dates,
and the periods the capacity caps count. A day runs from local midnight to local
midnight; a week from Monday 00:00 to the next Monday 00:00 (ISO weeks). The caller
counts the loads (``OwnerLoad``) for those periods; ``day_bounds`` and ``week_bounds``
give the instants to count between.

``now`` is always passed in and must be time-zone aware; nothing here reads a clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal

from services.routing.domain.owners import Owner, WorkingHours

Reason = Literal["inactive", "paused", "out_of_office", "outside_working_hours", "daily_cap", "weekly_cap"]
REASONS: tuple[Reason, ...] = ("inactive", "paused", "out_of_office", "outside_working_hours", "daily_cap",
                               "weekly_cap")
"""Why an owner is unavailable, in the order they are checked (the first that applies is reported)."""


@dataclass(frozen=True)
class OwnerLoad:
    """What an owner already has: new leads today and this week (their time zone), and open ones."""

    assigned_today: int = 0
    assigned_this_week: int = 0
    open_assignments: int = 0

    def plus_one(self) -> OwnerLoad:
        """The load after one more assignment in the same day and week."""
        return OwnerLoad(self.assigned_today + 1, self.assigned_this_week + 1, self.open_assignments + 1)


NO_LOAD = OwnerLoad()


def loads_from_counts(owners: Iterable[Owner], assigned: Iterable[tuple[str, datetime, int]],
                      open_counts: Mapping[str, int], now: datetime) -> dict[str, OwnerLoad]:
    """Each owner's load from the counters kept with the assignments: ``assigned`` holds
    (owner id, bucket start, assignments in that 15-minute bucket); every local midnight and
    Monday starts on a bucket boundary, since zone offsets are multiples of 15 minutes."""
    by_owner: dict[str, list[tuple[datetime, int]]] = {}
    for owner_id, bucket, n in assigned:
        by_owner.setdefault(owner_id, []).append((bucket, n))
    loads: dict[str, OwnerLoad] = {}
    for owner in owners:
        day, week = day_bounds(owner, now)[0], week_bounds(owner, now)[0]
        mine = by_owner.get(owner.id, [])
        loads[owner.id] = OwnerLoad(assigned_today=sum(n for at, n in mine if at >= day),
                                    assigned_this_week=sum(n for at, n in mine if at >= week),
                                    open_assignments=open_counts.get(owner.id, 0))
    return loads


def require_aware(moment: datetime, name: str = "now") -> None:
    if not isinstance(moment, datetime) or moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be a time-zone aware datetime, got {moment!r}")


def local_midnight(owner: Owner, day: date) -> datetime:
    """The instant (UTC) the owner's local ``day`` starts."""
    return datetime.combine(day, time(0), tzinfo=owner.tz).astimezone(UTC)


def day_bounds(owner: Owner, now: datetime) -> tuple[datetime, datetime]:
    """``[start, end)`` in UTC of the owner's local day that contains ``now``."""
    require_aware(now)
    today = now.astimezone(owner.tz).date()
    return local_midnight(owner, today), local_midnight(owner, today + timedelta(days=1))


def week_bounds(owner: Owner, now: datetime) -> tuple[datetime, datetime]:
    """``[start, end)`` in UTC of the owner's local week (Monday 00:00 to Monday 00:00) containing ``now``."""
    require_aware(now)
    today = now.astimezone(owner.tz).date()
    monday = today - timedelta(days=today.weekday())
    return local_midnight(owner, monday), local_midnight(owner, monday + timedelta(days=7))


def is_out_of_office(owner: Owner, now: datetime) -> bool:
    require_aware(now)
    today = now.astimezone(owner.tz).date()
    return any(away.covers(today) for away in owner.out_of_office)


def _at(owner: Owner, day: date, minutes: int) -> datetime:
    """The instant (UTC) of ``minutes`` after the owner's local midnight of ``day`` (1440 is the next midnight).

    Wall-clock times that a DST change skips or repeats are read as the first reading (fold=0).
    """
    moment = datetime.combine(day + timedelta(days=minutes // 1440), time(minutes % 1440 // 60, minutes % 60),
                              tzinfo=owner.tz)
    return moment.astimezone(UTC)


def day_intervals(owner: Owner, day: date) -> list[tuple[datetime, datetime]]:
    """The owner's working time on their local ``day`` as ``[start, end)`` instants in UTC, in order.

    Out-of-office and status are not considered here; an owner without hours works the whole day.
    """
    hours: WorkingHours | None = owner.hours
    if hours is None:
        return [(_at(owner, day, 0), _at(owner, day, 1440))]
    spans = [(_at(owner, day, i.start), _at(owner, day, i.end)) for i in hours.day(day.weekday())]
    return [(s, e) for s, e in spans if e > s]  # a DST gap can swallow an interval


def working_intervals(owner: Owner, start: datetime) -> Iterator[tuple[datetime, datetime]]:
    """The owner's working intervals from ``start`` on, in UTC, the first one clipped to ``start``; endless."""
    require_aware(start, "start")
    start = start.astimezone(UTC)
    day = start.astimezone(owner.tz).date() - timedelta(days=1)  # an interval may end after local midnight
    while True:
        for s, e in day_intervals(owner, day):
            if e > start:
                yield max(s, start), e
        day += timedelta(days=1)


def in_working_hours(owner: Owner, now: datetime) -> bool:
    require_aware(now)
    if owner.hours is None:
        return True
    instant = now.astimezone(UTC)
    today = now.astimezone(owner.tz).date()
    return any(s <= instant < e for day in (today - timedelta(days=1), today)
               for s, e in day_intervals(owner, day))


def unavailable_reason(owner: Owner, load: OwnerLoad | None, now: datetime) -> Reason | None:
    """Why ``owner`` cannot take a new lead at ``now``, or None when they can.

    Checked in this order: inactive, paused, out_of_office, outside_working_hours, daily_cap,
    weekly_cap. ``load`` counts the owner's local day and week (None: nothing yet).
    """
    require_aware(now)
    load = load or NO_LOAD
    if owner.status == "inactive":
        return "inactive"
    if owner.status == "paused":
        return "paused"
    if is_out_of_office(owner, now):
        return "out_of_office"
    if not in_working_hours(owner, now):
        return "outside_working_hours"
    if owner.capacity.per_day is not None and load.assigned_today >= owner.capacity.per_day:
        return "daily_cap"
    if owner.capacity.per_week is not None and load.assigned_this_week >= owner.capacity.per_week:
        return "weekly_cap"
    return None


def next_available_at(owner: Owner, now: datetime, load: OwnerLoad | None = None, *,
                      horizon_days: int = 14) -> datetime | None:
    """The first moment from ``now`` on when the owner can take a lead, within ``horizon_days``; None
    when that is not within the horizon or cannot be known (inactive, paused).

    With ``load``, a reached daily cap waits for the next local day and a reached weekly cap for the
    next local Monday (assuming the counts start afresh there). The result is in ``now``'s time zone.
    """
    require_aware(now)
    if owner.status != "active":
        return None
    load = load or NO_LOAD
    floor = now.astimezone(UTC)
    if owner.capacity.per_week is not None and load.assigned_this_week >= owner.capacity.per_week:
        floor = week_bounds(owner, now)[1]
    elif owner.capacity.per_day is not None and load.assigned_today >= owner.capacity.per_day:
        floor = day_bounds(owner, now)[1]
    limit = now.astimezone(UTC) + timedelta(days=horizon_days)
    day = floor.astimezone(owner.tz).date() - timedelta(days=1)
    while local_midnight(owner, day) <= limit:
        if not any(away.covers(day) for away in owner.out_of_office):
            for s, e in day_intervals(owner, day):
                if e > floor:
                    moment = max(s, floor)
                    return moment.astimezone(now.tzinfo) if moment <= limit else None
        day += timedelta(days=1)
    return None
