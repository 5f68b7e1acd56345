"""Whether a scored lead is qualified in its cycle: the score's stage, except that a recycled
lead needs new interest, and that a lead is *newly* qualified once per cycle (pure).

Used by re-scoring and by the simulation alike, so a preview tells what publishing does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.scoring.domain.definition import LeadDefinition
from services.scoring.domain.scoring import Activity, Score, score_lead
from shared.events.payloads import Stage


def awaiting_new_interest(cycle: int, activity_count: int) -> bool:
    """A recycled lead (cycle 2+) qualifies again only on new interest, not on fit alone."""
    return cycle > 1 and activity_count == 0


@dataclass(frozen=True)
class Qualification:
    score: Score
    stage: Stage
    held_back: bool  # recycled, and no new interest yet: below whatever the score says

    @property
    def qualified(self) -> bool:
        return self.stage != "below"

    @property
    def held_because(self) -> str | None:
        """Why a lead at or above the MQL line is not qualified; None when it is, or is below."""
        if self.held_back and self.score.stage != "below":
            return "recycled: waiting for new interest in this cycle"
        return self.score.held_because

    def newly_qualified(self, cycle: int, mql_cycle: int | None) -> bool:
        """True the first time the lead qualifies in ``cycle``."""
        return self.qualified and (mql_cycle is None or mql_cycle < cycle)


def qualify(definition: LeadDefinition, profile: Mapping[str, Any], activities: Iterable[Activity], now: datetime,
            *, cycle: int) -> Qualification:
    """``activities``: those of the current cycle (since the last recycle)."""
    counted = tuple(activities)
    score = score_lead(definition, profile, counted, now)
    held_back = awaiting_new_interest(cycle, len(counted))
    return Qualification(score, "below" if held_back else score.stage, held_back)
