"""Everything one routing transaction writes, gathered in memory and written once.

Deciding a batch changes many tables (decisions, assignments, queues, strategy state, the
owners' load counters, nurture records, CRM deliveries, the outbox). The use cases record
each change here as they decide, in order, and the repository writes each table with one
multi-row statement (``RoutingRepository.write``): the statements a batch costs do not
grow with its size.

A new assignment or nurture record is taken only if its lead's cycle has none yet (a
replica that lost its partitions may still finish a batch the new owner also handles):
the rows that depend on one (its decision record, the owner's counters, the team's state,
the events and the CRM delivery) are written only if it was taken. Pure: no I/O.
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.events.envelope import Envelope

LeadCycle = tuple[uuid.UUID, int]
Condition = tuple[str, uuid.UUID, int]  # ("assigned" | "nurtured", lead id, cycle)
BUCKET = timedelta(minutes=15)  # every time zone's offset is a multiple of 15 minutes
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def load_bucket(at: datetime) -> datetime:
    """The 15-minute bucket an assignment at ``at`` counts in (UTC)."""
    return _EPOCH + BUCKET * ((at - _EPOCH) // BUCKET)


@dataclass
class Dependent:
    """Writes that stand or fall with one new assignment or nurture record (``condition``)."""

    condition: Condition | None = None
    decision: dict[str, Any] | None = None
    state: tuple[str, dict[str, Any]] | None = None
    assigned: Counter[tuple[str, datetime]] = field(default_factory=Counter)
    opened: Counter[str] = field(default_factory=Counter)
    envelopes: list[Envelope] = field(default_factory=list)
    delivery: dict[str, Any] | None = None


@dataclass
class RoutingWrites:
    leads: dict[uuid.UUID, dict[str, Any]] = field(default_factory=dict)  # routed_leads rows, last one wins
    new_assignments: dict[LeadCycle, dict[str, Any]] = field(default_factory=dict)
    new_nurtures: set[LeadCycle] = field(default_factory=set)
    reassignments: list[tuple[LeadCycle, dict[str, Any]]] = field(default_factory=list)
    queue: dict[LeadCycle, dict[str, Any] | None] = field(default_factory=dict)  # a row, or None: dequeue
    closes: dict[LeadCycle, datetime | None] = field(default_factory=dict)  # accepted at, or None: closed
    steps: list[Dependent] = field(default_factory=list)  # in the order they were decided

    def step(self, condition: Condition | None = None) -> Dependent:
        dependent = Dependent(condition)
        self.steps.append(dependent)
        return dependent

    def emit(self, envelope: Envelope) -> None:
        """An event that depends on nothing (an SLA breach)."""
        self.step().envelopes.append(envelope)

    def taken(self, taken: set[Condition]) -> list[Dependent]:
        """The steps that stand, given which new assignments and nurture records were taken."""
        return [s for s in self.steps if s.condition is None or s.condition in taken]
