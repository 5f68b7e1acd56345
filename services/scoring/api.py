"""Scoring's API: the lead definition's versions, publishing and simulating a candidate,
a lead's score and profile, and the calibration report from the closed loop."""

from __future__ import annotations

import uuid
from collections import defaultdict

from fastapi import APIRouter, HTTPException, Request, status
from sqlalchemy import or_, select

from services.scoring.definitions import DefinitionStore
from services.scoring.domain.calibration import CalibrationLead, calibrate
from services.scoring.domain.definition import LeadDefinition
from services.scoring.domain.scoring import Activity
from services.scoring.domain.simulation import StoredLead, simulate
from services.scoring.scorer import awaiting_new_interest
from services.scoring.tables import activities, lead_outcomes, leads, submissions
from shared.db.versioned_store import VersionExists
from shared.events.envelope import utcnow
from shared.service.admin import require_admin
from shared.service.app import runtime_of
from shared.service.documents import document_from_body

router = APIRouter(tags=["scoring"])


def _store(request: Request) -> DefinitionStore:
    return request.app.state.definitions


@router.get("/definitions")
async def definition_versions(request: Request) -> list[dict]:
    """Every published version, newest first; one is active."""
    return await _store(request).versions()


@router.get("/definitions/active")
async def active_definition(request: Request) -> dict:
    return _store(request).active.model_dump(mode="json")


@router.get("/definitions/{version}")
async def definition_version(version: str, request: Request) -> dict:
    body = await _store(request).get(version)
    if body is None:
        raise HTTPException(404, detail=f"no definition version {version!r} was published")
    return body


@router.post("/definitions", status_code=status.HTTP_201_CREATED)
async def publish_definition(request: Request) -> dict:
    """Validate and publish: it applies to new events at once, and every stored lead is re-scored."""
    published_by = require_admin(request)
    candidate = await document_from_body(request, LeadDefinition)
    try:
        await _store(request).publish(candidate, published_by)
    except VersionExists as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from None
    request.app.state.rescorer.wake()
    return {"version": candidate.version, "active": True}


@router.post("/definitions/simulate")
async def simulate_definition(request: Request, sample_size: int = 10) -> dict:
    """What a candidate would change over the stored leads, before anyone publishes it."""
    candidate = await document_from_body(request, LeadDefinition)
    now = utcnow()
    async with runtime_of(request).sessions() as session:
        rows = (await session.execute(select(leads))).all()
        counted = (await session.execute(
            select(activities.c.lead_id, activities.c.activity_type, activities.c.occurred_at)
            .join(leads, leads.c.lead_id == activities.c.lead_id)
            .where(or_(leads.c.engagement_since.is_(None), activities.c.occurred_at >= leads.c.engagement_since))
        )).all()
    by_lead: dict[uuid.UUID, list[Activity]] = defaultdict(list)
    for a in counted:
        by_lead[a.lead_id].append(Activity(a.activity_type, a.occurred_at))
    stored: list[StoredLead] = []
    held_back = 0
    for row in rows:
        found = by_lead.get(row.lead_id, [])
        if awaiting_new_interest(row.cycle, len(found)):
            held_back += 1  # below under any definition
            continue
        stored.append(StoredLead(lead_id=str(row.lead_id), email=row.email, source=row.source,
                                 campaign=row.campaign, profile=row.profile, activities=tuple(found)))
    report = simulate(_store(request).active, candidate, stored, now, sample_size=sample_size).to_dict()
    report["recycled_without_new_interest"] = held_back
    return report


@router.get("/leads/{lead_id}/score")
async def lead_score(lead_id: uuid.UUID, request: Request) -> dict:
    async with runtime_of(request).sessions() as session:
        row = (await session.execute(select(leads).where(leads.c.lead_id == lead_id))).first()
    if row is None:
        raise HTTPException(404, detail=f"no lead {lead_id} has been scored")
    return {
        "lead_id": str(row.lead_id), "email": row.email, "cycle": row.cycle,
        "fit_score": row.fit_score, "engagement_score": row.engagement_score, "score": row.score,
        "qualified": row.qualified, "stage": row.stage, "grade": row.grade,
        "rules_fired": row.rules_fired, "definition_version": row.definition_version,
        "rescored_at": row.rescored_at.isoformat() if row.rescored_at else None,
    }


@router.get("/leads/{lead_id}/profile")
async def lead_profile(lead_id: uuid.UUID, request: Request) -> dict:
    """The merged profile and every submission it was merged from, oldest first."""
    async with runtime_of(request).sessions() as session:
        row = (await session.execute(select(leads.c.email, leads.c.profile).where(leads.c.lead_id == lead_id))).first()
        history = (await session.execute(
            select(submissions).where(submissions.c.lead_id == lead_id).order_by(submissions.c.submitted_at)
        )).all()
    if row is None:
        raise HTTPException(404, detail=f"no lead {lead_id} is known")
    return {"lead_id": str(lead_id), "email": row.email, "profile": row.profile,
            "submissions": [{"source": h.source, "submitted_at": h.submitted_at.isoformat(), "fields": h.fields}
                            for h in history]}


@router.get("/calibration")
async def calibration(request: Request) -> dict:
    """Per rule: how leads that matched it converted against those that did not."""
    async with runtime_of(request).sessions() as session:
        outcome_rows = (await session.execute(select(lead_outcomes.c.lead_id, lead_outcomes.c.outcome))).all()
        outcomes: dict[uuid.UUID, set[str]] = defaultdict(set)
        for r in outcome_rows:
            outcomes[r.lead_id].add(r.outcome)
        rows = (await session.execute(
            select(leads.c.lead_id, leads.c.rules_fired).where(leads.c.lead_id.in_(list(outcomes)))
        )).all() if outcomes else []
    data = [CalibrationLead(lead_id=str(r.lead_id), rules_fired=frozenset(h["rule"] for h in r.rules_fired),
                            outcomes=frozenset(outcomes[r.lead_id])) for r in rows]
    definition = _store(request).active
    return {"definition_version": definition.version, "leads_with_outcomes": len(data),
            "rules": calibrate(definition, data)}

