"""A lead's assignments and decision records, and the leads waiting in queues."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from typing import Any

from services.routing.api.dependencies import Reads, RouterDep, Writes
from services.routing.api.models import (
    Assignment,
    ManualAssignmentIn,
    ManualAssignmentView,
    RecordedDecision,
    Waiting,
)
from services.routing.domain.manual import JudgementCall
from services.routing.use_cases.manual_assignment import assign_lead_by_hand
from shared.errors import NotFound
from shared.events.envelope import utcnow
from shared.service.access import READERS, RevOps, guarded_router
from shared.service.errors import error_responses

router = guarded_router(tags=["leads"])


@router.get("/leads/{lead_id}/assignments", response_model=list[Assignment], responses=error_responses(404, 422, 503),
            dependencies=[READERS],
            summary="Who owns the lead, per cycle, and why")
async def lead_assignments(lead_id: uuid.UUID, reads: Reads) -> list[Assignment]:
    rows = await reads.assignments_of(lead_id)
    if not rows:
        raise NotFound(f"lead {lead_id} has not been assigned")
    return [Assignment(lead_id=r.lead_id, cycle=r.cycle, owner_id=r.owner_id, team_id=r.team_id, rule=r.rule,
                       status=r.status, reason=r.reason, policy_version=r.policy_version, assigned_at=r.assigned_at,
                       sla_due_at=r.sla_due_at, escalated_at=r.escalated_at, reassignments=r.reassignments,
                       decision=r.decision) for r in rows]


@router.get("/leads/{lead_id}/decisions", dependencies=[READERS], response_model=list[RecordedDecision],
            responses=error_responses(404, 422, 503),
            summary="Every routing decision about the lead, oldest first: who was considered, who skipped, why")
async def lead_decisions(lead_id: uuid.UUID, reads: Reads) -> list[dict[str, Any]]:
    rows = await reads.decisions_of(lead_id)
    if not rows:
        raise NotFound(f"no routing decision about lead {lead_id}")
    return [{**r.decision, "cycle": r.cycle, "kind": r.kind, "decided_at": r.decided_at} for r in rows]


@router.post("/leads/{lead_id}/assignment", response_model=ManualAssignmentView,
             responses=error_responses(400, 401, 403, 404, 409, 413, 422, 503),
             summary="Assign or reassign a lead by hand (RevOps), with a reason: a judgement call the SLA clock "
                     "holds the new owner to")
async def assign_by_hand(lead_id: uuid.UUID, body: ManualAssignmentIn, actor: RevOps, router: RouterDep,
                         writes: Writes) -> ManualAssignmentView:
    """The lead may be waiting in a queue, assigned and not accepted yet, or nurtured in its cycle; 409 once
    it is accepted or closed, for an inactive owner, or for the owner it already has. 404 for a lead routing
    has not seen or an owner the policy does not know. The new owner's SLA clock starts now; at its deadline
    the lead is escalated, but the clock never moves a lead a person assigned."""
    done = await assign_lead_by_hand(router, writes, lead_id, body.owner_id, JudgementCall(actor, body.reason),
                                     now=utcnow())
    return ManualAssignmentView.model_validate(asdict(done))


@router.get("/queues", dependencies=[READERS], response_model=list[Waiting], responses=error_responses(503),
            summary="Leads waiting in a queue because nobody was available")
async def queues(reads: Reads) -> list[Waiting]:
    return [Waiting(lead_id=q.lead_id, cycle=q.cycle, team_id=q.team_id, owner_id=q.owner_id, rule=q.rule,
                    queued_at=q.queued_at) for q in await reads.queues()]
