"""A judgement call from RevOps or sales: qualify or disqualify a lead by hand, with a reason.

The lead is scored again at once with the call in force (``trigger: "manual"``), so routing
routes it (qualified) or nurtures it (disqualified) as for any score, unless its cycle is
decided already. The call stands for the rest of the cycle: later activity, decay or a new
definition change the score but not the stage; a recycle starts a new cycle without it."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import datetime

from services.scoring.domain.definition import LeadDefinition
from services.scoring.domain.qualification import Judgement
from services.scoring.repository import LeadRow, ScoringRepository
from services.scoring.use_cases.rescore import rescored
from shared.errors import NotFound


async def judge_lead(repository: ScoringRepository, definition: LeadDefinition, lead_id: uuid.UUID, *,
                     qualified: bool, by: str, reason: str, now: datetime) -> LeadRow:
    """The lead as scored with the call; its lead.scored event is in the outbox with it."""
    found = (await repository.lock_leads([lead_id])).get(lead_id)
    if found is None:
        raise NotFound(f"no lead {lead_id} has been scored")
    call = Judgement(found.cycle, qualified, by, reason, now.isoformat())
    activities = (await repository.activities_of([lead_id])).get(lead_id, [])
    after, scored = rescored(definition, replace(found, judgement=call.to_dict()), activities, now=now,
                             trigger="manual", cause=None, always_emit=True)
    await repository.record(new_submissions=[], new_activities=[], new_outcomes=[], changed_leads=[after], now=now)
    await repository.emit([scored] if scored is not None else [])
    return after
