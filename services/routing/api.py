"""Routing's API: the policy in force, a lead's assignments and decision records, the
queues, and a dry run that decides without assigning."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, ConfigDict
from sqlalchemy import select

from services.routing.domain.policy import LeadFacts
from services.routing.router import Router
from services.routing.tables import assignments, decisions, queued
from shared.events.envelope import utcnow
from shared.service.app import runtime_of

router = APIRouter(tags=["routing"])


def _router(request: Request) -> Router:
    return request.app.state.router


@router.get("/policy")
async def active_policy(request: Request) -> dict:
    return _router(request).policy.model_dump(mode="json")


@router.get("/leads/{lead_id}/assignments")
async def lead_assignments(lead_id: uuid.UUID, request: Request) -> list[dict]:
    async with runtime_of(request).sessions() as session:
        rows = (await session.execute(
            select(assignments).where(assignments.c.lead_id == lead_id).order_by(assignments.c.cycle)
        )).all()
    if not rows:
        raise HTTPException(404, detail=f"lead {lead_id} has not been assigned")
    return [
        {"lead_id": str(r.lead_id), "cycle": r.cycle, "owner_id": r.owner_id, "team_id": r.team_id,
         "rule": r.rule, "status": r.status, "reason": r.reason, "policy_version": r.policy_version,
         "assigned_at": r.assigned_at.isoformat(),
         "sla_due_at": r.sla_due_at.isoformat() if r.sla_due_at else None,
         "escalated_at": r.escalated_at.isoformat() if r.escalated_at else None,
         "reassignments": r.reassignments, "decision": r.decision}
        for r in rows
    ]


@router.get("/leads/{lead_id}/decisions")
async def lead_decisions(lead_id: uuid.UUID, request: Request) -> list[dict]:
    """Every routing decision about the lead, oldest first: who was considered, who skipped, why."""
    async with runtime_of(request).sessions() as session:
        rows = (await session.execute(
            select(decisions).where(decisions.c.lead_id == lead_id).order_by(decisions.c.id)
        )).all()
    if not rows:
        raise HTTPException(404, detail=f"no routing decision about lead {lead_id}")
    return [{"cycle": r.cycle, "kind": r.kind, "decided_at": r.decided_at.isoformat(), **r.decision} for r in rows]


@router.get("/queues")
async def queues(request: Request) -> list[dict]:
    async with runtime_of(request).sessions() as session:
        rows = (await session.execute(select(queued).order_by(queued.c.queued_at))).all()
    return [{"lead_id": str(r.lead_id), "cycle": r.cycle, "team_id": r.team_id, "owner_id": r.owner_id,
             "rule": r.rule, "queued_at": r.queued_at.isoformat()} for r in rows]


class PreviewLead(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str | None = None
    company_domain: str | None = None
    country: str | None = None
    region: str | None = None
    state: str | None = None
    industry: str | None = None
    company_size: int | None = None
    source: str | None = None
    score: int | None = None
    grade: str | None = None


@router.post("/preview")
async def preview(lead: PreviewLead, request: Request) -> dict:
    """Who would get this lead now, and why: the full decision, nothing assigned."""
    facts = LeadFacts.from_attributes("preview", lead.model_dump(exclude_none=True))
    async with runtime_of(request).sessions() as session:
        decision = await _router(request).decide(session, facts, utcnow())
    return decision.to_dict()
