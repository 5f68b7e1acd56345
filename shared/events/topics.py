"""Topic names. The suffix is the payload version: a new shape means a new topic."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Topic:
    name: str
    partitions: int = 6


LEAD_CAPTURED = Topic("lead.captured.v1")
LEAD_ACTIVITY = Topic("lead.activity.v1")
LEAD_SCORED = Topic("lead.scored.v2")
LEAD_SCORED_V1 = Topic("lead.scored.v1")
"""Read only: scores written before the typed profile (v2); consumers still drain it."""
LEAD_NURTURE = Topic("lead.nurture.v1")
LEAD_ROUTED = Topic("lead.routed.v1")
LEAD_OUTCOME = Topic("lead.outcome.v1")
LEAD_SLA = Topic("lead.sla.v1")
LEAD_ERASURE = Topic("lead.erasure.v1")
"""A person erased: every service erases what it holds (it carries ids only, no personal data)."""
DEAD_LETTER = Topic("handoff.deadletter.v1", partitions=1)

ALL_TOPICS: tuple[Topic, ...] = (
    LEAD_CAPTURED,
    LEAD_ACTIVITY,
    LEAD_SCORED_V1,
    LEAD_SCORED,
    LEAD_NURTURE,
    LEAD_ROUTED,
    LEAD_OUTCOME,
    LEAD_SLA,
    LEAD_ERASURE,
    DEAD_LETTER,
)

LEAD_TOPICS: tuple[Topic, ...] = tuple(t for t in ALL_TOPICS if t not in (DEAD_LETTER, LEAD_ERASURE))
"""Every topic that carries events about a lead (the timeline reads them all); an erasure is
not one: it ends the lead's timeline rather than adding to it."""
