"""Distribution inside a pool: pure choices among the available members, with explicit state.

Each strategy takes the pool's members in their policy order, the ids of those who are
available now and the pool's state, and returns ``(chosen id or None, new state)``.
Nobody available: ``(None, state)``, the state unchanged. States are small frozen
objects that serialise to and from plain JSON dicts (``to_dict`` / ``state_from_dict``)
so the caller can keep one per pool in a database row.

- **round robin**: the state is the position of the next member to consider. The first
  available member from there (in member order, wrapping around) is chosen and the
  position moves just past them; unavailable members are skipped, not queued for later.
- **weighted round robin**: nginx's smooth weighted round robin. The state holds each
  member's current weight. Every pick adds each *available* member's weight to their
  current weight, chooses the highest (ties: member order) and takes the total weight
  of the available members off the chosen one. With everyone available, every run of
  ``sum(weights)`` picks gives each member exactly their weight, spread out rather than
  in bursts. Unavailable members sit that round out: their current weight is left as is.
- **least loaded**: the available member with the fewest open assignments; ties go to
  the first of them from the round-robin position, which then moves past the chosen one.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from shared.events.payloads import Strategy

STRATEGY_NAMES: dict[str, str] = {
    "round_robin": "round robin",
    "weighted_round_robin": "weighted round robin",
    "least_loaded": "least loaded",
}


def _int(value: Any, default: int = 0) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


@dataclass(frozen=True)
class PositionState:
    """Round robin and least loaded: the index (in member order) of the next member to consider."""

    position: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"position": self.position}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> PositionState:
        position = _int((data or {}).get("position"))
        return cls(max(position, 0))


@dataclass(frozen=True)
class WeightedState:
    """Smooth weighted round robin: each member's current weight (missing members count 0)."""

    current: Mapping[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"current": dict(sorted(self.current.items()))}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> WeightedState:
        raw = (data or {}).get("current")
        if not isinstance(raw, Mapping):
            return cls({})
        return cls({str(k): _int(v) for k, v in raw.items()})


State = PositionState | WeightedState


def initial_state(strategy: Strategy) -> State:
    return WeightedState() if strategy == "weighted_round_robin" else PositionState()


def state_from_dict(strategy: Strategy, data: Mapping[str, Any] | None) -> State:
    """The state stored for a pool; missing or malformed parts start afresh rather than block routing."""
    if strategy == "weighted_round_robin":
        return WeightedState.from_dict(data)
    return PositionState.from_dict(data)


def _rotation(members: Sequence[str], position: int) -> list[int]:
    n = len(members)
    return [(position + i) % n for i in range(n)] if n else []


def round_robin(members: Sequence[str], available: Collection[str], state: PositionState
                ) -> tuple[str | None, PositionState]:
    for index in _rotation(members, state.position):
        if members[index] in available:
            return members[index], PositionState((index + 1) % len(members))
    return None, state


def weighted_round_robin(members: Sequence[str], weights: Mapping[str, int], available: Collection[str],
                         state: WeightedState) -> tuple[str | None, WeightedState]:
    in_play = [m for m in members if m in available]
    if not in_play:
        return None, state
    current = {m: state.current.get(m, 0) for m in members}  # members who left the pool are dropped
    total = 0
    for m in in_play:
        weight = weights.get(m, 1)
        if weight < 1:
            raise ValueError(f"weight of {m!r} must be >= 1, got {weight}")
        current[m] += weight
        total += weight
    chosen = max(in_play, key=lambda m: current[m])  # max keeps the first of equals: member order
    current[chosen] -= total
    return chosen, WeightedState(current)


def least_loaded(members: Sequence[str], open_assignments: Mapping[str, int], available: Collection[str],
                 state: PositionState) -> tuple[str | None, PositionState]:
    order = [i for i in _rotation(members, state.position) if members[i] in available]
    if not order:
        return None, state
    index = min(order, key=lambda i: open_assignments.get(members[i], 0))  # min keeps the first of equals
    return members[index], PositionState((index + 1) % len(members))


def choose(strategy: Strategy, members: Sequence[str], available: Collection[str], state: State, *,
           weights: Mapping[str, int] | None = None, open_assignments: Mapping[str, int] | None = None
           ) -> tuple[str | None, State]:
    """Dispatch to the pool's strategy; ``state`` must be of that strategy's kind."""
    expected = WeightedState if strategy == "weighted_round_robin" else PositionState
    if not isinstance(state, expected):
        raise TypeError(f"{strategy} needs a {expected.__name__}, got {type(state).__name__}")
    # the asserts only tell the type checker what the check above established
    if strategy == "round_robin":
        assert isinstance(state, PositionState)
        return round_robin(members, available, state)
    if strategy == "weighted_round_robin":
        assert isinstance(state, WeightedState)
        return weighted_round_robin(members, weights or {}, available, state)
    if strategy == "least_loaded":
        assert isinstance(state, PositionState)
        return least_loaded(members, open_assignments or {}, available, state)
    raise ValueError(f"unknown strategy {strategy!r}")
