"""Applies routing decisions: the pure policy decides, this records the assignment or
the queue entry, the decision record, the team's strategy state and the event.

All routing in one database serialises on one advisory lock, taken once per
transaction: replicas never assign a lead twice, never exceed a cap, and share
one strategy state per team. Routing is cheap, so one lock is not the bottleneck;
per-team locks are the next step if it ever is.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.routing.crm_push import enqueue_delivery
from services.routing.domain.availability import OwnerLoad
from services.routing.domain.decision import RoutingDecision, route, route_queued
from services.routing.domain.policy import LeadFacts, RoutingPolicy
from services.routing.policies import PolicyStore
from services.routing.store import account_owners, load_states, owner_loads, save_state
from services.routing.tables import assignments, decisions, queued, routed_leads
from shared.events.envelope import Envelope
from shared.events.payloads import LeadRouted

ROUTING_LOCK = 0x20_0_7E


async def serialise_routing(session: AsyncSession) -> None:
    await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": ROUTING_LOCK})


@dataclass
class RoutingView:
    """Loads, strategy states and accounts, read once per transaction under the routing
    lock and kept current as decisions are applied, so a batch costs one read."""

    loads: dict[str, OwnerLoad]
    states: dict[str, Any]
    accounts: dict[str, str]

    def assigned(self, decision: RoutingDecision) -> None:
        self.loads[decision.owner_id] = self.loads.get(decision.owner_id, OwnerLoad()).plus_one()
        if decision.team_id and decision.state_after is not None:
            self.states[decision.team_id] = decision.state_after


class Router:
    def __init__(self, store: PolicyStore, *, sla_time_scale: float = 1.0, crm_push: bool = False) -> None:
        self.store = store
        self.sla_time_scale = sla_time_scale
        self.crm_push = crm_push  # queue each assignment for the CRM webhook, in its own transaction

    @property
    def policy(self) -> RoutingPolicy:
        return self.store.active

    async def refresh(self) -> None:
        """Pick up a version another replica published; called under the routing lock."""
        await self.store.refresh()

    def scaled(self, start: datetime, deadline: datetime | None) -> datetime | None:
        """The deadline with the clock shrunk by ``sla_time_scale`` (1: unchanged)."""
        if deadline is None or self.sla_time_scale == 1.0:
            return deadline
        return start + (deadline - start) * self.sla_time_scale

    async def view(self, session: AsyncSession, now: datetime, policy: RoutingPolicy | None = None) -> RoutingView:
        return RoutingView(loads=await owner_loads(session, (policy or self.policy).owners, now),
                           states=await load_states(session), accounts=await account_owners(session))

    async def decide(self, session: AsyncSession, facts: LeadFacts, now: datetime, *,
                     exclude: frozenset[str] = frozenset(), queued_row: Any = None,
                     view: RoutingView | None = None) -> RoutingDecision:
        view = view or await self.view(session, now)
        if queued_row is not None:
            return route_queued(self.policy, facts, queued_on={k: v for k, v in (("team", queued_row.team_id),
                                ("owner", queued_row.owner_id)) if v}, queued_at=queued_row.queued_at,
                                rule=queued_row.rule, now=now, loads=view.loads, states=view.states,
                                exclude=exclude)
        return route(self.policy, facts, now=now, accounts=view.accounts, loads=view.loads, states=view.states,
                     exclude=exclude)

    async def apply(self, session: AsyncSession, decision: RoutingDecision, lead: Any, *,
                    kind: str, cause: Envelope | None, reassigned_from: str | None = None,
                    view: RoutingView | None = None) -> Envelope | None:
        """Record ``decision`` for ``lead`` (a routed_leads row); the lead.routed event if assigned."""
        if decision.team_id and decision.state_after is not None:
            await save_state(session, decision.team_id, decision.state_after)
        record = decision.to_dict()
        await session.execute(decisions.insert().values(
            lead_id=lead.lead_id, cycle=lead.cycle, kind=kind if decision.outcome == "assigned" else "queued",
            decision=record, decided_at=decision.decided_at,
        ))
        if decision.outcome == "queued":
            target = decision.queue.target if decision.queue else decision.target
            await session.execute(insert(queued).values(
                lead_id=lead.lead_id, cycle=lead.cycle, team_id=target.get("team"), owner_id=target.get("owner"),
                rule=decision.rule, queued_at=decision.queue.queued_at if decision.queue else decision.decided_at,
                decision=record,
            ).on_conflict_do_update(index_elements=["lead_id", "cycle"], set_={"decision": record}))
            return None
        await session.execute(queued.delete().where(queued.c.lead_id == lead.lead_id, queued.c.cycle == lead.cycle))
        values = dict(owner_id=decision.owner_id, policy_version=decision.policy_version, reason=decision.reason,
                      team_id=decision.team_id, rule=decision.rule,
                      sla_due_at=self.scaled(decision.decided_at, decision.accept_by),
                      assigned_at=decision.decided_at, decision=record, status="assigned", escalated_at=None)
        if reassigned_from is None:
            inserted = (await session.execute(
                insert(assignments).values(lead_id=lead.lead_id, cycle=lead.cycle, **values)
                .on_conflict_do_nothing().returning(assignments.c.id)
            )).first()
            if inserted is None:
                return None  # this cycle already has its owner
        else:
            await session.execute(assignments.update().where(
                assignments.c.lead_id == lead.lead_id, assignments.c.cycle == lead.cycle,
            ).values(**values, reassignments=assignments.c.reassignments + 1))
        if view is not None:
            view.assigned(decision)
        owner = self.policy.owner(decision.owner_id)
        payload = LeadRouted(
            email=lead.email, cycle=lead.cycle, owner_id=owner.id, owner_name=owner.name,
            policy_version=decision.policy_version, strategy=decision.strategy or decision.via,
            reason=decision.reason, score=lead.facts.get("score") or 0, team_id=decision.team_id,
            rule=decision.rule, sla_due_at=values["sla_due_at"], reassigned_from=reassigned_from, decision=record,
        )
        if cause is not None:
            routed = cause.follow(type="lead.routed", producer="routing", payload=payload)
        else:
            routed = Envelope(type="lead.routed", lead_id=lead.lead_id, producer="routing",
                              payload=payload.model_dump(mode="json"),
                              correlation_id=lead.correlation_id or str(uuid.uuid4()))
        if self.crm_push:
            await enqueue_delivery(session, routed)
        return routed


async def routed_lead(session: AsyncSession, lead_id: uuid.UUID) -> Any:
    return (await session.execute(select(routed_leads).where(routed_leads.c.lead_id == lead_id))).first()


def facts_of(lead: Any) -> LeadFacts:
    return LeadFacts.from_attributes(lead.lead_id, lead.facts, email=lead.email)
