"""Whether a scored lead is qualified in its cycle: the score's stage, except that a recycled
lead needs new interest (and waits for its ``retry_after`` date when sales gave one), that
a person's judgement call (qualified or disqualified by hand, with a reason) stands for the
rest of its cycle, and that a lead is *newly* qualified once per cycle (pure).

Used by re-scoring and by the simulation alike, so a preview tells what publishing does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from services.scoring.domain.definition import LeadDefinition
from services.scoring.domain.scoring import Activity, Score, score_lead
from shared.events.payloads import Stage


def awaiting_new_interest(cycle: int, activity_count: int) -> bool:
    """A recycled lead (cycle 2+) qualifies again only on new interest, not on fit alone."""
    return cycle > 1 and activity_count == 0


@dataclass(frozen=True)
class Judgement:
    """A person qualified (or disqualified) the lead by hand in ``cycle``: sales' judgement call
    outside the definition. It holds until the cycle ends (a recycle starts a new one)."""

    cycle: int
    qualified: bool
    by: str
    reason: str
    at: str  # ISO 8601, when the call was made

    def to_dict(self) -> dict[str, Any]:
        return {"cycle": self.cycle, "qualified": self.qualified, "by": self.by, "reason": self.reason,
                "at": self.at}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Judgement | None:
        if not data:
            return None
        return cls(int(data["cycle"]), bool(data["qualified"]), str(data["by"]), str(data["reason"]), str(data["at"]))

    def describe(self) -> str:
        return f"{'qualified' if self.qualified else 'disqualified'} by hand by {self.by}: {self.reason}"


@dataclass(frozen=True)
class Qualification:
    score: Score
    stage: Stage
    held_back: bool  # recycled, and no new interest yet (or before its date): below whatever the score says
    judgement: Judgement | None = None  # the person's call in this cycle, when there is one
    nurture_until: date | None = None  # recycled with a retry_after still ahead: held in nurture until then

    @property
    def qualified(self) -> bool:
        return self.stage != "below"

    @property
    def held_because(self) -> str | None:
        """Why a lead at or above the MQL line is not qualified (or any lead disqualified by hand); None
        when it is qualified, or is simply below."""
        if self.judgement is not None:
            return None if self.judgement.qualified else self.judgement.describe()
        if self.nurture_until is not None and self.score.stage != "below":
            return f"recycled: held in nurture until {self.nurture_until.isoformat()} (retry_after)"
        if self.held_back and self.score.stage != "below":
            return "recycled: waiting for new interest in this cycle"
        return self.score.held_because

    def newly_qualified(self, cycle: int, mql_cycle: int | None) -> bool:
        """True the first time the lead qualifies in ``cycle``."""
        return self.qualified and (mql_cycle is None or mql_cycle < cycle)


def qualify(definition: LeadDefinition, profile: Mapping[str, Any], activities: Iterable[Activity], now: datetime,
            *, cycle: int, judgement: Judgement | None = None, nurture_until: date | None = None) -> Qualification:
    """``activities``: those of the current cycle (since the last recycle). ``judgement``: the lead's
    judgement call, which decides the stage when it was made in ``cycle`` (qualified by hand: at least
    "mql"; disqualified: "below"), whatever the score says; the score itself is unchanged.
    ``nurture_until``: the recycle's retry_after; before that day the lead stays in nurture
    (its activity counts, its qualification waits)."""
    counted = tuple(activities)
    score = score_lead(definition, profile, counted, now)
    waiting = nurture_until if nurture_until is not None and now.date() < nurture_until else None
    held_back = awaiting_new_interest(cycle, len(counted)) or waiting is not None
    if judgement is not None and judgement.cycle == cycle:
        stage: Stage = ("mql" if score.stage == "below" else score.stage) if judgement.qualified else "below"
        return Qualification(score, stage, False, judgement)  # the person's call, not the wait for interest
    return Qualification(score, "below" if held_back else score.stage, held_back, nurture_until=waiting)
