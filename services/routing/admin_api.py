"""RevOps changes to routing: publish or preview a policy, and manage owners and teams.
Every change publishes a new policy version; deactivating an owner sends their
unaccepted leads back to routing."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, HTTPException, Request, status
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert

from services.routing.domain.accounts import is_free_mail, normalise_account_domain
from services.routing.domain.decision import route
from services.routing.domain.policy import RoutingPolicy
from services.routing.policies import derive, next_version
from services.routing.router import Router, facts_of, routed_lead, serialise_routing
from services.routing.store import owner_loads
from services.routing.tables import accounts, assignments, routed_leads
from shared.db.engine import unit_of_work
from shared.db.versioned_store import VersionExists
from shared.events.envelope import utcnow
from shared.service.admin import require_admin
from shared.service.app import runtime_of
from shared.service.documents import document_from_body
from shared.service.errors import field_errors

router = APIRouter(tags=["routing admin"])


def _router(request: Request) -> Router:
    return request.app.state.router


async def _publish(request: Request, policy: RoutingPolicy, published_by: str) -> dict:
    try:
        await _router(request).store.publish(policy, published_by)
    except VersionExists as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from None
    return {"version": policy.version, "active": True}


async def _change(request: Request, change) -> RoutingPolicy:
    """Publish the active policy with ``change`` applied, as the next version."""
    published_by = require_admin(request)
    store = _router(request).store
    await store.refresh()
    try:
        policy = derive(store.active, change, next_version(store.active, await store.count()))
    except ValidationError as exc:
        raise HTTPException(422, detail=field_errors(exc)) from None
    await _publish(request, policy, published_by)
    return policy


@router.get("/policies")
async def policy_versions(request: Request) -> list[dict]:
    return await _router(request).store.versions()


@router.get("/policies/{version}")
async def policy_version(version: str, request: Request) -> dict:
    body = await _router(request).store.get(version)
    if body is None:
        raise HTTPException(404, detail=f"no routing policy version {version!r} was published")
    return body


@router.post("/policies", status_code=status.HTTP_201_CREATED)
async def publish_policy(request: Request) -> dict:
    """Validate and publish a whole policy (JSON or YAML); it applies to the next decision."""
    published_by = require_admin(request)
    return await _publish(request, await document_from_body(request, RoutingPolicy), published_by)


@router.post("/policies/preview")
async def preview_policy(request: Request, sample_size: int = 20) -> dict:
    """Route every stored lead under a candidate policy, in order, without assigning anything:
    who would get what, and the resulting distribution per owner."""
    candidate = await document_from_body(request, RoutingPolicy)
    now = utcnow()
    async with runtime_of(request).sessions() as session:
        leads = (await session.execute(select(routed_leads).order_by(routed_leads.c.updated_at))).all()
        view = await _router(request).view(session, now, candidate)
    per_owner: dict[str, int] = {o.id: 0 for o in candidate.owners}
    per_rule: dict[str, int] = {}
    queued = 0
    samples = []
    for lead in leads:
        decision = route(candidate, facts_of(lead), now=now, accounts=view.accounts, loads=view.loads,
                         states=view.states)
        per_rule[decision.rule] = per_rule.get(decision.rule, 0) + 1
        if decision.outcome == "assigned":
            per_owner[decision.owner_id] += 1
            view.assigned(decision)
        else:
            queued += 1
        if len(samples) < sample_size:
            samples.append({"lead_id": str(lead.lead_id), "email": lead.email, "outcome": decision.outcome,
                            "owner_id": decision.owner_id, "rule": decision.rule, "reason": decision.reason})
    return {"policy_version": candidate.version, "leads": len(leads), "assigned_per_owner": per_owner,
            "queued": queued, "per_rule": per_rule, "samples": samples}


class OwnerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    name: str
    email: str
    timezone: str = "UTC"
    working_hours: Any = None
    weight: int = 1
    capacity: dict[str, int | None] | None = None
    status: str = "active"
    out_of_office: list[dict] = Field(default_factory=list)
    teams: list[str] = Field(default_factory=list, description="teams to join")


class OwnerChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    email: str | None = None
    timezone: str | None = None
    working_hours: Any = None
    weight: int | None = None
    capacity: dict[str, int | None] | None = None
    status: str | None = None
    out_of_office: list[dict] | None = None


class TeamIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    name: str
    members: list[str]
    strategy: str = "round_robin"
    queue: dict | None = None


class TeamChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    members: list[str] | None = None
    strategy: str | None = None
    queue: dict | None = None


def _owner_body(body: dict, owner_id: str) -> dict:
    for owner in body["owners"]:
        if owner["id"] == owner_id:
            return owner
    raise HTTPException(404, detail=f"no owner {owner_id!r} in the active policy")


def _team_body(body: dict, team_id: str) -> dict:
    for team in body["teams"]:
        if team["id"] == team_id:
            return team
    raise HTTPException(404, detail=f"no team {team_id!r} in the active policy")


@router.get("/owners")
async def owners(request: Request) -> list[dict]:
    policy = _router(request).policy
    async with runtime_of(request).sessions() as session:
        loads = await owner_loads(session, policy.owners, utcnow())
    return [{**o.model_dump(mode="json"), "load": asdict(loads[o.id]),
             "teams": [t.id for t in policy.teams if o.id in t.members]} for o in policy.owners]


@router.post("/owners", status_code=status.HTTP_201_CREATED)
async def create_owner(owner: OwnerIn, request: Request) -> dict:
    def change(body: dict) -> None:
        if any(o["id"] == owner.id for o in body["owners"]):
            raise HTTPException(409, detail=f"owner {owner.id!r} exists; change it with PATCH /owners/{owner.id}")
        body["owners"].append({k: v for k, v in owner.model_dump(exclude={"teams"}).items() if v is not None})
        for team_id in owner.teams:
            _team_body(body, team_id)["members"].append(owner.id)
    policy = await _change(request, change)
    return {"policy_version": policy.version, "owner": policy.owner(owner.id).model_dump(mode="json")}


@router.patch("/owners/{owner_id}")
async def change_owner(owner_id: str, changes: OwnerChange, request: Request) -> dict:
    """Weight, capacity, hours, time zone, status (active, paused, inactive), out of office."""
    if changes.status == "inactive":
        return await deactivate_owner(owner_id, request)
    policy = await _change(request, lambda body: _owner_body(body, owner_id).update(
        changes.model_dump(exclude_unset=True)))
    return {"policy_version": policy.version, "owner": policy.owner(owner_id).model_dump(mode="json")}


@router.post("/owners/{owner_id}/deactivate")
async def deactivate_owner(owner_id: str, request: Request) -> dict:
    """The owner takes no new leads, and their unaccepted leads are routed again now."""
    policy = await _change(request, lambda body: _owner_body(body, owner_id).update(status="inactive"))
    runtime = runtime_of(request)
    rerouted, stuck = [], []
    now = utcnow()
    async with unit_of_work(runtime.sessions) as session:
        await serialise_routing(session)
        await _router(request).refresh()
        open_ones = (await session.execute(
            select(assignments).where(assignments.c.owner_id == owner_id, assignments.c.status == "assigned")
        )).all()
        emitted = []
        view = await _router(request).view(session, now)
        for row in open_ones:
            lead = await routed_lead(session, row.lead_id)
            decision = await _router(request).decide(session, facts_of(lead), now, view=view,
                                                     exclude=frozenset({owner_id}))
            if decision.outcome != "assigned":
                stuck.append(str(row.lead_id))
                continue
            out = await _router(request).apply(session, decision, lead, kind="reassigned", cause=None,
                                               reassigned_from=owner_id, view=view)
            if out is not None:
                emitted.append(out)
                rerouted.append({"lead_id": str(row.lead_id), "owner_id": decision.owner_id})
        await runtime.outbox.emit(session, emitted)
    runtime.relay.wake()
    return {"policy_version": policy.version, "rerouted": rerouted, "not_rerouted_nobody_available": stuck}


@router.post("/teams", status_code=status.HTTP_201_CREATED)
async def create_team(team: TeamIn, request: Request) -> dict:
    def change(body: dict) -> None:
        if any(t["id"] == team.id for t in body["teams"]):
            raise HTTPException(409, detail=f"team {team.id!r} exists; change it with PATCH /teams/{team.id}")
        body["teams"].append({k: v for k, v in team.model_dump().items() if v is not None})
    policy = await _change(request, change)
    return {"policy_version": policy.version, "team": policy.team(team.id).model_dump(mode="json")}


@router.patch("/teams/{team_id}")
async def change_team(team_id: str, changes: TeamChange, request: Request) -> dict:
    policy = await _change(request, lambda body: _team_body(body, team_id).update(
        changes.model_dump(exclude_unset=True)))
    return {"policy_version": policy.version, "team": policy.team(team_id).model_dump(mode="json")}


class AccountIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    owner_id: str
    name: str | None = None


@router.get("/accounts")
async def list_accounts(request: Request) -> list[dict]:
    async with runtime_of(request).sessions() as session:
        rows = (await session.execute(select(accounts).order_by(accounts.c.domain))).all()
    return [{"domain": r.domain, "owner_id": r.owner_id, "name": r.name} for r in rows]


@router.put("/accounts/{domain:path}")
async def put_account(domain: str, account: AccountIn, request: Request) -> dict:
    """An account and its owner: leads from its domain (and subdomains) go to that owner."""
    require_admin(request)
    normalised = normalise_account_domain(domain)
    policy = _router(request).policy
    if normalised is None:
        raise HTTPException(422, detail=[{"field": "path.domain", "reason": "not a domain"}])
    if is_free_mail(normalised, policy.free_mail_domains):
        raise HTTPException(422, detail=[{"field": "path.domain",
                                          "reason": f"{normalised} is a free-mail domain; it never matches an account"}])
    if not policy.has_owner(account.owner_id):
        raise HTTPException(422, detail=[{"field": "owner_id", "reason": f"no owner {account.owner_id!r} in the policy"}])
    async with unit_of_work(runtime_of(request).sessions) as session:
        await session.execute(insert(accounts).values(domain=normalised, owner_id=account.owner_id, name=account.name)
                              .on_conflict_do_update(index_elements=["domain"],
                                                     set_={"owner_id": account.owner_id, "name": account.name}))
    return {"domain": normalised, "owner_id": account.owner_id, "name": account.name}
