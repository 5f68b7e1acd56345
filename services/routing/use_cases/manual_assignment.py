"""A judgement call from RevOps: give a lead to an owner by hand, with a reason, now.

Under the routing lock (like the clock and deactivations), so no automatic decision about
the same lead runs beside it. The lead may be waiting in a queue, assigned and not accepted
yet (it moves, the old owner's load falls), or nurtured in its cycle (a person judged it
worth a call); once accepted or closed it belongs to the sales process, not to routing."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.routing.domain.batch_writes import RoutingWrites
from services.routing.domain.manual import JudgementCall, ManualRefused, assign_by_hand
from services.routing.repository import RoutingRepository
from services.routing.use_cases.assignment import Router
from shared.errors import Conflict, NotFound


@dataclass(frozen=True)
class ManualAssignment:
    lead_id: uuid.UUID
    cycle: int
    owner_id: str
    previous_owner_id: str | None
    decision: dict[str, Any]


async def assign_lead_by_hand(router: Router, repository: RoutingRepository, lead_id: uuid.UUID, owner_id: str,
                              call: JudgementCall, *, now: datetime) -> ManualAssignment:
    snapshot = await router.locked_snapshot(repository, now)
    lead = await repository.routed_lead(lead_id)
    if lead is None:
        raise NotFound(f"routing has not seen lead {lead_id}: it has not been scored yet, or was erased")
    current = await repository.assignment_of(lead_id, lead.cycle)
    if current is not None and current.status != "assigned":
        raise Conflict(f"lead {lead_id} was {current.status} by {current.owner_id} in cycle {lead.cycle}: "
                       "it is in the sales process now; hand it over in the CRM")
    if current is not None and current.owner_id == owner_id:
        raise Conflict(f"lead {lead_id} is already assigned to {owner_id}")
    try:
        decision = assign_by_hand(router.policy, lead.lead_facts(), owner_id, call, now=now,
                                  load=snapshot.loads.get(owner_id))
    except ManualRefused as exc:
        raise (Conflict(str(exc)) if router.policy.has_owner(owner_id) else NotFound(str(exc))) from None
    writes = RoutingWrites()
    kind = "assigned" if current is None else "reassigned"
    router.record(writes, decision, lead, kind=kind, cause=None, snapshot=snapshot, replacing=current)
    if not await repository.write(writes):
        raise Conflict(f"lead {lead_id} was assigned by another decision at the same moment; look again")
    return ManualAssignment(lead_id, lead.cycle, owner_id, current.owner_id if current else None, decision.to_dict())
