"""Owners and teams (RevOps): every change publishes a new policy version; deactivating an
owner sends their unaccepted leads back to routing at once."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import Path, Request, status

from services.routing.api.dependencies import Reads, RouterDep, Writes
from services.routing.api.models import (
    DeactivatedView,
    OwnerChange,
    OwnerChanged,
    OwnerIn,
    OwnerView,
    TeamChange,
    TeamChanged,
    TeamIn,
)
from services.routing.use_cases.policy_changes import change_policy, deactivate_owner, owner_in, team_in
from shared.errors import Conflict
from shared.events.envelope import utcnow
from shared.service.access import READERS, RevOps, guarded_router, record_before
from shared.service.errors import error_responses

router = guarded_router(tags=["owners and teams"])

Id = Annotated[str, Path(min_length=1, max_length=100, pattern=r"^[a-z0-9][a-z0-9._-]*$", examples=["ana.silva"])]
CHANGE = error_responses(400, 401, 403, 404, 409, 413, 422, 503)


def _before(request: Request, router: Any, *, owner_id: str | None = None, team_id: str | None = None) -> None:
    """For the audit log: the policy version the change starts from, and the owner or team in it."""
    policy = router.store.active
    state: dict[str, Any] = {"policy_version": policy.version}
    if owner_id is not None and policy.has_owner(owner_id):
        state["owner"] = policy.owner(owner_id).model_dump(mode="json")
    if team_id is not None and any(t.id == team_id for t in policy.teams):
        state["team"] = policy.team(team_id).model_dump(mode="json")
    record_before(request, state)


@router.get("/owners", dependencies=[READERS], response_model=list[OwnerView], responses=error_responses(503),
            summary="Every owner with today's load and their teams")
async def owners(router: RouterDep, reads: Reads) -> list[dict[str, Any]]:
    policy = router.policy
    loads = await reads.owner_loads(policy.owners, utcnow())
    return [{**o.model_dump(mode="json"), "load": asdict(loads[o.id]),
             "teams": [t.id for t in policy.teams if o.id in t.members]} for o in policy.owners]


@router.post("/owners", status_code=status.HTTP_201_CREATED, response_model=OwnerChanged, responses=CHANGE,
             summary="Add an owner (RevOps), optionally to teams")
async def create_owner(owner: OwnerIn, actor: RevOps, router: RouterDep, request: Request) -> OwnerChanged:
    _before(request, router)
    def change(body: dict[str, Any]) -> None:
        if any(o["id"] == owner.id for o in body["owners"]):
            raise Conflict(f"owner {owner.id!r} exists; change it with PATCH /owners/{owner.id}")
        body["owners"].append({k: v for k, v in owner.model_dump(mode="json", exclude={"teams"}).items()
                               if v is not None})
        for team_id in owner.teams:
            team_in(body, team_id)["members"].append(owner.id)
    policy = await change_policy(router, change, published_by=actor)
    return OwnerChanged(policy_version=policy.version, owner=policy.owner(owner.id))


@router.patch("/owners/{owner_id}", response_model=OwnerChanged | DeactivatedView, responses=CHANGE,
              summary="Change an owner (RevOps): weight, capacity, hours, time zone, status, out of office")
async def change_owner(owner_id: Id, changes: OwnerChange, actor: RevOps, router: RouterDep,
                       writes: Writes, request: Request) -> OwnerChanged | DeactivatedView:
    """Setting the status to inactive deactivates the owner (see POST /owners/{owner_id}/deactivate)."""
    if changes.status == "inactive":
        return await deactivate(owner_id, actor, router, writes, request)
    _before(request, router, owner_id=owner_id)
    updates = changes.model_dump(mode="json", exclude_unset=True)
    policy = await change_policy(router, lambda body: owner_in(body, owner_id).update(updates), published_by=actor)
    return OwnerChanged(policy_version=policy.version, owner=policy.owner(owner_id))


@router.post("/owners/{owner_id}/deactivate", response_model=DeactivatedView, responses=CHANGE,
             summary="Deactivate an owner (RevOps): no new leads, and their open leads are routed again now")
async def deactivate(owner_id: Id, actor: RevOps, router: RouterDep, writes: Writes,
                     request: Request) -> DeactivatedView:
    _before(request, router, owner_id=owner_id)
    done = await deactivate_owner(router, writes, owner_id, published_by=actor, now=utcnow())
    return DeactivatedView.model_validate(asdict(done))


@router.post("/teams", status_code=status.HTTP_201_CREATED, response_model=TeamChanged, responses=CHANGE,
             summary="Add a team (RevOps)")
async def create_team(team: TeamIn, actor: RevOps, router: RouterDep, request: Request) -> TeamChanged:
    _before(request, router)
    def change(body: dict[str, Any]) -> None:
        if any(t["id"] == team.id for t in body["teams"]):
            raise Conflict(f"team {team.id!r} exists; change it with PATCH /teams/{team.id}")
        body["teams"].append({k: v for k, v in team.model_dump(mode="json").items() if v is not None})
    policy = await change_policy(router, change, published_by=actor)
    return TeamChanged(policy_version=policy.version, team=policy.team(team.id))


@router.patch("/teams/{team_id}", response_model=TeamChanged, responses=CHANGE,
              summary="Change a team (RevOps): name, members, strategy, queue")
async def change_team(team_id: Id, changes: TeamChange, actor: RevOps, router: RouterDep,
                      request: Request) -> TeamChanged:
    _before(request, router, team_id=team_id)
    updates = changes.model_dump(mode="json", exclude_unset=True)
    policy = await change_policy(router, lambda body: team_in(body, team_id).update(updates), published_by=actor)
    return TeamChanged(policy_version=policy.version, team=policy.team(team_id))
