"""RevOps changes to routing: publish a whole policy, bring an earlier one back, or publish
the active one with an owner or a team changed (each change is a new version); deactivating
an owner sends their unaccepted leads back to routing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from services.routing.domain.batch_writes import RoutingWrites
from services.routing.domain.policy import RoutingPolicy
from services.routing.domain.revisions import derive, next_version
from services.routing.repository import RoutingRepository
from services.routing.use_cases.assignment import Router, reassign
from shared.db.versioned_store import CannotActivate, VersionExists
from shared.errors import Conflict, InvalidInput, NotFound
from shared.service.errors import field_errors

Change = Callable[[dict[str, Any]], None]


async def publish_policy(router: Router, policy: RoutingPolicy, *, published_by: str) -> RoutingPolicy:
    try:
        await router.store.publish(policy, published_by)
    except VersionExists as exc:
        raise Conflict(str(exc)) from None
    return policy


async def activate_policy(router: Router, version: str, *, published_by: str) -> RoutingPolicy:
    """A rollback: ``version``'s text in force again as a new version, for the next decision."""
    try:
        return await router.store.activate(version, published_by)
    except LookupError:
        raise NotFound(f"no routing policy version {version!r} was published") from None
    except CannotActivate as exc:
        raise Conflict(str(exc)) from None


async def change_policy(router: Router, change: Change, *, published_by: str) -> RoutingPolicy:
    """Publish the active policy with ``change`` applied to its document, as the next version.
    ``change`` raises NotFound or Conflict for what it cannot find or would duplicate."""
    store = router.store
    await store.refresh()
    try:
        policy = derive(store.active, change, next_version(store.active, await store.count()))
    except ValidationError as exc:
        raise InvalidInput([(p["field"], p["reason"]) for p in field_errors(exc)]) from None
    return await publish_policy(router, policy, published_by=published_by)


def owner_in(body: dict[str, Any], owner_id: str) -> dict[str, Any]:
    for owner in body["owners"]:
        if owner["id"] == owner_id:
            return owner  # type: ignore[no-any-return]
    raise NotFound(f"no owner {owner_id!r} in the active policy")


def team_in(body: dict[str, Any], team_id: str) -> dict[str, Any]:
    for team in body["teams"]:
        if team["id"] == team_id:
            return team  # type: ignore[no-any-return]
    raise NotFound(f"no team {team_id!r} in the active policy")


@dataclass(frozen=True)
class Deactivated:
    policy_version: str
    rerouted: list[dict[str, str]]
    not_rerouted_nobody_available: list[str]


async def deactivate_owner(router: Router, repository: RoutingRepository, owner_id: str, *, published_by: str,
                           now: datetime) -> Deactivated:
    """The owner takes no new leads, and their unaccepted leads are routed again now (in the
    caller's transaction, under the routing lock)."""
    policy = await change_policy(router, lambda body: owner_in(body, owner_id).update(status="inactive"),
                                 published_by=published_by)
    snapshot = await router.locked_snapshot(repository, now)
    rerouted: list[dict[str, str]] = []
    stuck: list[str] = []
    writes = RoutingWrites()
    open_ones = await repository.open_assignments_of(owner_id)
    leads = await repository.routed_leads(a.lead_id for a in open_ones)
    for assignment in open_ones:
        lead = leads.get(assignment.lead_id)
        out = None if lead is None else reassign(router, writes, lead, replacing=assignment, exclude=frozenset(),
                                                  snapshot=snapshot, now=now)
        if out is None:
            stuck.append(str(assignment.lead_id))
            continue
        rerouted.append({"lead_id": str(assignment.lead_id), "owner_id": out.payload["owner_id"]})
    await repository.write(writes)
    return Deactivated(policy.version, rerouted, stuck)
