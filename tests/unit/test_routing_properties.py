"""Properties of distribution and availability that must hold for any pool, any weights, any
availability and any time: fair shares, weights honoured exactly, caps never exceeded when the
caller feeds the loads back, and nobody unavailable (or excluded) ever chosen."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from services.routing.domain.availability import (
    OwnerLoad,
    day_bounds,
    unavailable_reason,
    week_bounds,
)
from services.routing.domain.decision import route
from services.routing.domain.lead_facts import LeadFacts
from services.routing.domain.policy import RoutingPolicy, parse_policy
from services.routing.domain.strategies import (
    PositionState,
    WeightedState,
    choose,
    initial_state,
    round_robin,
    weighted_round_robin,
)

STRATEGIES = ("round_robin", "weighted_round_robin", "least_loaded")
ZONES = ("UTC", "America/New_York", "Europe/Berlin", "Asia/Tokyo", "Australia/Sydney", "America/Los_Angeles")
HOURS = (
    "always",
    {d: [["09:00", "17:00"]] for d in ("mon", "tue", "wed", "thu", "fri")},
    {d: [["08:00", "12:00"], ["13:00", "20:00"]] for d in ("mon", "wed", "fri", "sat")},
    {"sun": [["00:00", "24:00"]], "tue": [["22:00", "24:00"]], "wed": [["00:00", "03:00"]]},
)
LEAD = LeadFacts(lead_id="lead")
NOWS = st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC))


def members_of(n: int) -> tuple[str, ...]:
    return tuple(f"o{i}" for i in range(n))


# ---------------------------------------------------------------------------------------------
# the strategies on their own


@settings(max_examples=200)
@given(st.lists(st.integers(1, 8), min_size=1, max_size=7), st.integers(1, 4))
def test_smooth_weighted_round_robin_gives_each_exactly_its_weight_per_cycle(weights, k):
    members = members_of(len(weights))
    weight = dict(zip(members, weights, strict=True))
    state, counts = WeightedState(), Counter()
    for pick in range(1, k * sum(weights) + 1):
        chosen, state = weighted_round_robin(members, weight, set(members), state)
        counts[chosen] += 1
        if pick % sum(weights) == 0:  # every full cycle ends where it started
            assert all(v == 0 for v in state.current.values())
    assert counts == {m: k * weight[m] for m in members}


def available_of(members: tuple[str, ...], mask: int) -> set[str]:
    """The members whose bit is set in ``mask``: a cheap way to draw who is available."""
    return {m for i, m in enumerate(members) if mask >> i & 1}


MASKS = st.lists(st.integers(0, 2**8 - 1), min_size=1, max_size=40)


@settings(max_examples=200)
@given(st.lists(st.integers(1, 6), min_size=1, max_size=6), MASKS)
def test_smooth_weighted_round_robin_never_chooses_an_unavailable_owner(weights, masks):
    members = members_of(len(weights))
    weight = dict(zip(members, weights, strict=True))
    state = WeightedState()
    for mask in masks:
        available = available_of(members, mask)
        chosen, after = weighted_round_robin(members, weight, available, state)
        if available:
            assert chosen in available
            assert sum(after.current.values()) == sum(state.current.get(m, 0) for m in members)
        else:
            assert chosen is None and after == state
        state = after


@settings(max_examples=200)
@given(st.integers(1, 12), st.integers(0, 10_000), st.integers(1, 200))
def test_round_robin_shares_never_differ_by_more_than_one(n, start, leads):
    members = members_of(n)
    state, counts = PositionState(start), Counter()
    for _ in range(leads):
        chosen, state = round_robin(members, set(members), state)
        counts[chosen] += 1
    shares = [counts[m] for m in members]
    assert max(shares) - min(shares) <= 1 and sum(shares) == leads


@settings(max_examples=300)
@given(st.sampled_from(STRATEGIES), st.lists(st.tuples(st.integers(1, 5), st.integers(0, 20), st.integers(-30, 30)),
                                             min_size=1, max_size=8), st.integers(0, 50), MASKS)
def test_no_strategy_ever_chooses_an_unavailable_owner(strategy, owners, position, masks):
    members = members_of(len(owners))
    weights = {m: w for m, (w, _, _) in zip(members, owners, strict=True)}
    opened = {m: o for m, (_, o, _) in zip(members, owners, strict=True)}
    state: Any = (WeightedState({m: c for m, (_, _, c) in zip(members, owners, strict=True)})
                  if strategy == "weighted_round_robin" else PositionState(position))
    for mask in masks:
        available = available_of(members, mask)
        chosen, state = choose(strategy, members, available, state, weights=weights, open_assignments=opened)
        assert (chosen in available) if available else chosen is None
        if strategy == "least_loaded" and chosen is not None:
            assert opened[chosen] == min(opened[m] for m in available)


# ---------------------------------------------------------------------------------------------
# route, with the loads and states fed back as the caller would


def owner_dict(oid: str, **fields: Any) -> dict[str, Any]:
    return {"id": oid, "name": oid, "email": f"{oid}@x.io", **fields}


def pool_policy(owners: list[dict[str, Any]], strategy: str) -> RoutingPolicy:
    return parse_policy({
        "version": "prop-1",
        "owners": owners,
        "teams": [{"id": "pool", "name": "Pool", "members": [o["id"] for o in owners], "strategy": strategy}],
        "fallback": {"team": "pool"},
    })


@st.composite
def random_owner(draw: st.DrawFn, oid: str) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "timezone": draw(st.sampled_from(ZONES)),
        "working_hours": draw(st.sampled_from(HOURS)),
        "weight": draw(st.integers(1, 4)),
        "status": draw(st.sampled_from(["active", "active", "active", "paused", "inactive"])),
    }
    per_day = draw(st.none() | st.integers(1, 4))
    per_week = draw(st.none() | st.integers(per_day or 1, 12))
    fields["capacity"] = {"per_day": per_day, "per_week": per_week}
    if draw(st.booleans()):
        start = draw(st.dates(min_value=datetime(2026, 1, 1).date(), max_value=datetime(2027, 12, 31).date()))
        fields["out_of_office"] = [{"from": start, "to": start + timedelta(days=draw(st.integers(0, 10)))}]
    return owner_dict(oid, **fields)


@st.composite
def random_pool(draw: st.DrawFn) -> RoutingPolicy:
    n = draw(st.integers(1, 6))
    owners = [draw(random_owner(f"o{i}")) for i in range(n)]
    return pool_policy(owners, draw(st.sampled_from(STRATEGIES)))


@settings(max_examples=150, deadline=None)
@given(random_pool(), NOWS, st.data())
def test_route_never_chooses_an_unavailable_or_excluded_owner(policy, now, data):
    ids = [o.id for o in policy.owners]
    loads = {oid: OwnerLoad(*(data.draw(st.integers(0, 12)) for _ in range(3))) for oid in ids}
    exclude = frozenset(data.draw(st.sets(st.sampled_from(ids))))
    decision = route(policy, LEAD, now=now, loads=loads, exclude=exclude)
    for candidate in decision.candidates:
        expected = "excluded" if candidate.owner_id in exclude else unavailable_reason(
            policy.owner(candidate.owner_id), loads[candidate.owner_id], now)
        assert candidate.skipped == expected and candidate.available == (expected is None)
    chosen = [c.owner_id for c in decision.candidates if c.chosen]
    if decision.outcome == "assigned":
        assert chosen == [decision.owner_id] and decision.owner_id not in exclude
        assert unavailable_reason(policy.owner(decision.owner_id), loads[decision.owner_id], now) is None
    else:
        assert chosen == [] and decision.owner_id is None
        assert not any(c.available for c in decision.candidates)


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 5), st.sampled_from(STRATEGIES), st.data())
def test_caps_are_never_exceeded_when_the_caller_feeds_back_the_loads(n, strategy, data):
    owners = []
    for i in range(n):
        per_day = data.draw(st.integers(1, 3))
        owners.append(owner_dict(f"o{i}", timezone=data.draw(st.sampled_from(ZONES)),
                                 working_hours=data.draw(st.sampled_from(HOURS)), weight=data.draw(st.integers(1, 3)),
                                 capacity={"per_day": per_day, "per_week": data.draw(st.integers(per_day, 8))}))
    policy = pool_policy(owners, strategy)
    now = data.draw(NOWS)
    log: dict[str, list[datetime]] = defaultdict(list)
    state: dict[str, Any] | None = None
    for _ in range(data.draw(st.integers(1, 80))):
        now += timedelta(minutes=data.draw(st.integers(0, 600)))

        def load(oid: str, now: datetime = now) -> OwnerLoad:
            owner = policy.owner(oid)
            (d0, d1), (w0, w1) = day_bounds(owner, now), week_bounds(owner, now)
            times = log.get(oid, [])
            return OwnerLoad(sum(d0 <= t < d1 for t in times), sum(w0 <= t < w1 for t in times), len(times))

        decision = route(policy, LEAD, now=now, loads={o.id: load(o.id) for o in policy.owners},
                         states={"pool": state})
        state = decision.state_after
        if decision.outcome == "assigned":
            log[decision.owner_id].append(now)
    for oid, times in log.items():
        owner = policy.owner(oid)
        per_day = Counter(day_bounds(owner, t)[0] for t in times)
        per_week = Counter(week_bounds(owner, t)[0] for t in times)
        assert max(per_day.values()) <= owner.capacity.per_day
        assert max(per_week.values()) <= owner.capacity.per_week


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 8), st.integers(0, 50), st.integers(1, 120), NOWS)
def test_round_robin_through_route_shares_evenly_when_everyone_is_available(n, start, leads, now):
    policy = pool_policy([owner_dict(f"o{i}") for i in range(n)], "round_robin")
    state: dict[str, Any] | None = {"position": start}
    counts: Counter[str] = Counter()
    for i in range(leads):
        decision = route(policy, LEAD, now=now + timedelta(minutes=i), states={"pool": state})
        assert decision.state_before == initial_state("round_robin").from_dict(state).to_dict()
        state = decision.state_after
        counts[decision.owner_id] += 1
    shares = [counts[f"o{i}"] for i in range(n)]
    assert max(shares) - min(shares) <= 1


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 8), st.integers(1, 100))
def test_least_loaded_keeps_open_work_level_when_everyone_is_available(n, leads):
    policy = pool_policy([owner_dict(f"o{i}") for i in range(n)], "least_loaded")
    opened = {f"o{i}": 0 for i in range(n)}
    state: dict[str, Any] | None = None
    for _ in range(leads):
        decision = route(policy, LEAD, now=datetime(2026, 6, 1, tzinfo=UTC),
                         loads={o: OwnerLoad(open_assignments=c) for o, c in opened.items()}, states={"pool": state})
        state = decision.state_after
        opened[decision.owner_id] += 1
        assert max(opened.values()) - min(opened.values()) <= 1
