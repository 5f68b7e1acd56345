"""All of routing's SQL: the leads it decides on, assignments with their SLA clock, the
queues, decision records, team strategy state, accounts, nurture records, the policy
versions, the CRM deliveries, and routing's outbox.

Every routing transaction first takes one advisory lock (``serialise_routing``): replicas
never assign a lead twice, never exceed a cap, and share one strategy state per team.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, and_, func, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.routing.domain.availability import OwnerLoad, day_bounds, week_bounds
from services.routing.domain.lead_facts import LeadFacts
from services.routing.domain.owners import Owner
from services.routing.domain.policy import RoutingPolicy, parse_policy
from services.routing.domain.snapshot import RoutingSnapshot
from services.routing.tables import (
    accounts,
    assignments,
    crm_deliveries,
    decisions,
    metadata,
    nurtured,
    policies,
    queued,
    routed_leads,
    strategy_states,
)
from shared.db.repository import Repository
from shared.db.versioned_store import VersionedStore

PolicyStore = VersionedStore[RoutingPolicy]
POLICIES_LOCK = 0x20_0_7F
ROUTING_LOCK = 0x20_0_7E


def policy_store(sessions: async_sessionmaker[AsyncSession], seed: RoutingPolicy) -> PolicyStore:
    """Which routing policy is in force: versions in routing.policies, the active one cached."""
    return VersionedStore(sessions, policies, seed=seed, parse=parse_policy, lock_key=POLICIES_LOCK)


@dataclass(frozen=True)
class RoutedLead:
    """A lead as routing keeps it: its latest cycle and the facts it is decided on."""

    lead_id: uuid.UUID
    email: str
    cycle: int
    facts: dict[str, Any]
    correlation_id: str | None

    def lead_facts(self) -> LeadFacts:
        return LeadFacts.from_attributes(self.lead_id, self.facts, email=self.email)


def _routed(row: Row[Any]) -> RoutedLead:
    return RoutedLead(row.lead_id, row.email, row.cycle, row.facts, row.correlation_id)


@dataclass(frozen=True)
class OpenAssignment:
    id: int
    lead_id: uuid.UUID
    cycle: int
    owner_id: str
    assigned_at: datetime
    sla_due_at: datetime | None
    sla_reassign_at: datetime | None
    escalated_at: datetime | None
    reassignments: int
    sla_minutes: int | None


def _open(row: Row[Any]) -> OpenAssignment:
    minutes = (row.decision or {}).get("sla_minutes")
    return OpenAssignment(row.id, row.lead_id, row.cycle, row.owner_id, row.assigned_at, row.sla_due_at,
                          row.sla_reassign_at, row.escalated_at, row.reassignments,
                          minutes if isinstance(minutes, int) else None)


@dataclass(frozen=True)
class QueuedLead:
    lead_id: uuid.UUID
    cycle: int
    team_id: str | None
    owner_id: str | None
    rule: str
    queued_at: datetime

    @property
    def target(self) -> dict[str, str]:
        return {"team": self.team_id} if self.team_id else {"owner": self.owner_id or ""}


def _queued(row: Row[Any]) -> QueuedLead:
    return QueuedLead(row.lead_id, row.cycle, row.team_id, row.owner_id, row.rule, row.queued_at)


class RoutingRepository(Repository):
    metadata = metadata

    async def serialise_routing(self) -> None:
        """Held until the transaction ends; every routing transaction takes it first."""
        await self.session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": ROUTING_LOCK})

    # -- the leads routing decides on ---------------------------------------------------------

    async def remember(self, lead_id: uuid.UUID, *, email: str, cycle: int, facts: dict[str, Any],
                       correlation_id: str, at: datetime) -> None:
        await self.session.execute(insert(routed_leads).values(
            lead_id=lead_id, email=email, cycle=cycle, facts=facts, correlation_id=correlation_id,
        ).on_conflict_do_update(index_elements=["lead_id"], set_={
            "email": email, "cycle": cycle, "facts": facts, "updated_at": at,
        }))

    async def routed_lead(self, lead_id: uuid.UUID) -> RoutedLead | None:
        row = (await self.session.execute(select(routed_leads).where(routed_leads.c.lead_id == lead_id))).first()
        return None if row is None else _routed(row)

    async def routed_leads(self, lead_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, RoutedLead]:
        ids = list(lead_ids)
        if not ids:
            return {}
        rows = (await self.session.execute(select(routed_leads).where(routed_leads.c.lead_id.in_(ids)))).all()
        return {r.lead_id: _routed(r) for r in rows}

    async def all_routed_leads(self) -> list[RoutedLead]:
        """Every lead routing has seen, oldest change first (the policy preview's input)."""
        rows = (await self.session.execute(select(routed_leads).order_by(routed_leads.c.updated_at))).all()
        return [_routed(r) for r in rows]

    async def decided(self, lead_id: uuid.UUID, cycle: int) -> bool:
        """This cycle already has its owner, or waits in a queue."""
        for table in (assignments, queued):
            found = (await self.session.execute(
                select(table.c.lead_id).where(table.c.lead_id == lead_id, table.c.cycle == cycle)
            )).first()
            if found is not None:
                return True
        return False

    async def mark_nurtured(self, lead_id: uuid.UUID, cycle: int) -> bool:
        """True the first time this lead's cycle goes to nurture."""
        inserted = (await self.session.execute(
            insert(nurtured).values(lead_id=lead_id, cycle=cycle).on_conflict_do_nothing()
            .returning(nurtured.c.lead_id)
        )).first()
        return inserted is not None

    # -- what routing reads before it decides ---------------------------------------------

    async def snapshot(self, owners: Sequence[Owner], now: datetime) -> RoutingSnapshot:
        return RoutingSnapshot(loads=await self.owner_loads(owners, now), states=await self.strategy_states(),
                               accounts=await self.account_owners())

    async def owner_loads(self, owners: Sequence[Owner], now: datetime) -> dict[str, OwnerLoad]:
        """Assignments today and this week (each in the owner's own zone) and still open."""
        recent = (await self.session.execute(
            select(assignments.c.owner_id, assignments.c.assigned_at)
            .where(assignments.c.assigned_at >= now - timedelta(days=8))
        )).all()
        open_counts: dict[str, int] = {owner_id: n for owner_id, n in (await self.session.execute(
            select(assignments.c.owner_id, func.count()).where(assignments.c.status == "assigned")
            .group_by(assignments.c.owner_id)
        )).all()}
        loads: dict[str, OwnerLoad] = {}
        for owner in owners:
            day, week = day_bounds(owner, now)[0], week_bounds(owner, now)[0]
            mine = [at for who, at in recent if who == owner.id]
            loads[owner.id] = OwnerLoad(
                assigned_today=sum(at >= day for at in mine),
                assigned_this_week=sum(at >= week for at in mine),
                open_assignments=open_counts.get(owner.id, 0),
            )
        return loads

    async def strategy_states(self) -> dict[str, Mapping[str, Any] | None]:
        rows = (await self.session.execute(select(strategy_states.c.team_id, strategy_states.c.state))).all()
        return {team_id: state for team_id, state in rows}

    async def save_state(self, team_id: str, state: Mapping[str, Any]) -> None:
        await self.session.execute(
            insert(strategy_states).values(team_id=team_id, state=dict(state))
            .on_conflict_do_update(index_elements=["team_id"], set_={"state": dict(state), "updated_at": func.now()})
        )

    async def account_owners(self) -> dict[str, str]:
        rows = (await self.session.execute(select(accounts.c.domain, accounts.c.owner_id))).all()
        return {domain: owner_id for domain, owner_id in rows}

    # -- decisions, queues, assignments ----------------------------------------------------

    async def record_decision(self, lead_id: uuid.UUID, cycle: int, kind: str, record: dict[str, Any],
                              decided_at: datetime) -> None:
        await self.session.execute(decisions.insert().values(
            lead_id=lead_id, cycle=cycle, kind=kind, decision=record, decided_at=decided_at))

    async def enqueue(self, lead_id: uuid.UUID, cycle: int, *, target: Mapping[str, str], rule: str,
                      queued_at: datetime, record: dict[str, Any]) -> None:
        await self.session.execute(insert(queued).values(
            lead_id=lead_id, cycle=cycle, team_id=target.get("team"), owner_id=target.get("owner"),
            rule=rule, queued_at=queued_at, decision=record,
        ).on_conflict_do_update(index_elements=["lead_id", "cycle"], set_={"decision": record}))

    async def dequeue(self, lead_id: uuid.UUID, cycle: int) -> None:
        await self.session.execute(queued.delete().where(queued.c.lead_id == lead_id, queued.c.cycle == cycle))

    async def waiting(self, limit: int) -> list[QueuedLead]:
        rows = (await self.session.execute(select(queued).order_by(queued.c.queued_at).limit(limit))).all()
        return [_queued(r) for r in rows]

    async def assign(self, lead_id: uuid.UUID, cycle: int, values: dict[str, Any]) -> bool:
        """The cycle's first assignment; False when the cycle already has its owner."""
        inserted = (await self.session.execute(
            insert(assignments).values(lead_id=lead_id, cycle=cycle, **values)
            .on_conflict_do_nothing().returning(assignments.c.id)
        )).first()
        return inserted is not None

    async def reassign(self, lead_id: uuid.UUID, cycle: int, values: dict[str, Any]) -> None:
        await self.session.execute(assignments.update().where(
            assignments.c.lead_id == lead_id, assignments.c.cycle == cycle,
        ).values(**values, reassignments=assignments.c.reassignments + 1))

    async def open_assignments_of(self, owner_id: str) -> list[OpenAssignment]:
        rows = (await self.session.execute(
            select(assignments).where(assignments.c.owner_id == owner_id, assignments.c.status == "assigned")
        )).all()
        return [_open(r) for r in rows]

    async def sla_due(self, now: datetime, limit: int) -> list[OpenAssignment]:
        """Open assignments whose clock needs looking at: the deadline passed (not escalated yet),
        or the reassignment is due (escalated)."""
        t = assignments.c
        rows = (await self.session.execute(
            select(assignments).where(t.status == "assigned", or_(
                and_(t.escalated_at.is_(None), t.sla_due_at <= now),
                and_(t.escalated_at.is_not(None), t.sla_reassign_at <= now),
            )).order_by(func.coalesce(t.sla_reassign_at, t.sla_due_at)).limit(limit)
        )).all()
        return [_open(r) for r in rows]

    async def escalated(self, assignment_id: int, *, at: datetime, reassign_at: datetime) -> None:
        await self.session.execute(assignments.update().where(assignments.c.id == assignment_id).values(
            escalated_at=at, sla_reassign_at=reassign_at))

    async def stop_clock(self, assignment_id: int) -> None:
        """Nothing more happens automatically (the reassignment cap, or nobody to take it)."""
        await self.session.execute(assignments.update().where(assignments.c.id == assignment_id).values(
            sla_reassign_at=None))

    async def earlier_owners(self, lead_id: uuid.UUID, cycle: int) -> set[str]:
        """Everyone a decision gave this lead's cycle to."""
        owners = (await self.session.execute(
            select(decisions.c.decision["owner_id"].astext)
            .where(decisions.c.lead_id == lead_id, decisions.c.cycle == cycle)
        )).scalars()
        return {o for o in owners if o is not None}

    async def close(self, lead_id: uuid.UUID, cycle: int, *, accepted_at: datetime | None) -> None:
        """Sales acted: accepted stops the SLA clock; any other outcome closes the assignment."""
        await self.session.execute(assignments.update().where(
            assignments.c.lead_id == lead_id, assignments.c.cycle == cycle, assignments.c.status == "assigned",
        ).values(status="accepted" if accepted_at is not None else "closed", accepted_at=accepted_at,
                 sla_due_at=None, sla_reassign_at=None))

    # -- reads for the API -----------------------------------------------------------------

    async def assignments_of(self, lead_id: uuid.UUID) -> list[Row[Any]]:
        return list((await self.session.execute(
            select(assignments).where(assignments.c.lead_id == lead_id).order_by(assignments.c.cycle)
        )).all())

    async def decisions_of(self, lead_id: uuid.UUID) -> list[Row[Any]]:
        return list((await self.session.execute(
            select(decisions).where(decisions.c.lead_id == lead_id).order_by(decisions.c.id)
        )).all())

    async def queues(self) -> list[QueuedLead]:
        rows = (await self.session.execute(select(queued).order_by(queued.c.queued_at))).all()
        return [_queued(r) for r in rows]

    async def accounts(self) -> list[Row[Any]]:
        return list((await self.session.execute(select(accounts).order_by(accounts.c.domain))).all())

    async def put_account(self, domain: str, owner_id: str, name: str | None) -> None:
        await self.session.execute(
            insert(accounts).values(domain=domain, owner_id=owner_id, name=name)
            .on_conflict_do_update(index_elements=["domain"], set_={"owner_id": owner_id, "name": name}))

    # -- CRM deliveries ----------------------------------------------------------------------

    async def enqueue_delivery(self, event_id: uuid.UUID, lead_id: uuid.UUID, body: bytes) -> None:
        """Once per routed event, in the assignment's own transaction."""
        await self.session.execute(
            insert(crm_deliveries).values(event_id=event_id, lead_id=lead_id, body=body)
            .on_conflict_do_nothing(index_elements=["event_id"]))


class CrmDeliveryRepository(Repository):
    """The CRM push's rows: claimed under a lease, outcomes recorded in short transactions."""

    metadata = metadata

    async def claim(self, now: datetime, lease_until: datetime, limit: int) -> list[Row[Any]]:
        t = crm_deliveries
        due = (
            select(t.c.id)
            .where(t.c.delivered_at.is_(None), t.c.next_attempt_at <= now)
            .order_by(t.c.next_attempt_at, t.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
            .cte("due")
        )
        rows = (await self.session.execute(
            update(t).where(t.c.id == due.c.id)
            .values(attempts=t.c.attempts + 1, next_attempt_at=lease_until)
            .returning(t.c.id, t.c.event_id, t.c.body, t.c.attempts)
        )).all()
        return sorted(rows, key=lambda row: row.id)

    async def delivered(self, delivery_id: int, at: datetime) -> None:
        t = crm_deliveries
        await self.session.execute(update(t).where(t.c.id == delivery_id, t.c.delivered_at.is_(None))
                                   .values(delivered_at=at))

    async def failed(self, delivery_id: int, attempts: int, *, error: str, next_attempt_at: datetime) -> None:
        """Recorded only while our lease holds (``attempts`` is the fencing token)."""
        t = crm_deliveries
        await self.session.execute(
            update(t).where(t.c.id == delivery_id, t.c.attempts == attempts, t.c.delivered_at.is_(None))
            .values(last_error=error, next_attempt_at=next_attempt_at))

    async def backlog(self) -> tuple[int, datetime | None, int]:
        """Pending deliveries, the oldest one's creation, and how many have failed at least once."""
        t = crm_deliveries
        pending, oldest, failing = (await self.session.execute(
            select(func.count(), func.min(t.c.created_at), func.count().filter(t.c.last_error.is_not(None)))
            .where(t.c.delivered_at.is_(None))
        )).one()
        return pending, oldest, failing
