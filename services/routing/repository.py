"""All of routing's SQL: the leads it decides on, assignments with their SLA clock, the
queues, decision records, team strategy state, accounts, nurture records, the policy
versions, the CRM deliveries, and routing's outbox.

Routing transactions serialise on advisory locks: a consumer batch shares the routing lock
and takes the owners and teams its leads can go to (``lock_scope``, ``domain.scope``); the
clock, the queues and policy changes, which may touch anyone, take the routing lock alone
(``serialise_routing``). So replicas never exceed a cap and share one strategy state per
team, while batches for different teams run side by side. A batch's writes are gathered in
``RoutingWrites`` and written with one statement per table, all but two in one statement.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    DateTime,
    Executable,
    Integer,
    Row,
    Select,
    Table,
    and_,
    case,
    func,
    literal,
    or_,
    select,
    text,
    tuple_,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import UUID, insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.routing.domain.availability import OwnerLoad, loads_from_counts
from services.routing.domain.batch_writes import Condition, LeadCycle, RoutingWrites
from services.routing.domain.lead_facts import LeadFacts
from services.routing.domain.owners import Owner
from services.routing.domain.policy import RoutingPolicy, parse_policy
from services.routing.domain.preview import OpenLead, Placement
from services.routing.domain.snapshot import RoutingSnapshot
from services.routing.tables import (
    accounts,
    assignments,
    crm_deliveries,
    decisions,
    metadata,
    nurtured,
    owner_assignment_counts,
    owner_open_counts,
    policies,
    queued,
    routed_leads,
    strategy_states,
)
from shared.db.advisory import advisory_key
from shared.db.bulk import any_of, execute_together, insert_rows, rows_as_table
from shared.db.metadata import outbox_table
from shared.db.repository import Repository
from shared.db.versioned_store import VersionedStore
from shared.events.envelope import Envelope
from shared.outbox.writer import Outbox

PolicyStore = VersionedStore[RoutingPolicy]
POLICIES_LOCK = 0x20_0_7F
ROUTING_LOCK = 0x20_0_7E
LOAD_WINDOW = timedelta(days=8)  # the caps count a day and a week, in any zone


def policy_store(sessions: async_sessionmaker[AsyncSession], seed: RoutingPolicy,
                 seed_origin: str = "the policy file") -> PolicyStore:
    """Which routing policy is in force: versions in routing.policies, the active one cached."""
    return VersionedStore(sessions, policies, seed=seed, parse=parse_policy, lock_key=POLICIES_LOCK,
                          seed_origin=seed_origin, api="/policies")


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


def _open_lead(row: Row[Any]) -> OpenLead:
    facts = LeadFacts.from_attributes(row.lead_id, row.facts, email=row.email)
    if row.owner_id is not None:
        return OpenLead(facts, row.cycle, Placement("assigned", row.owner_id, row.team_id), row.via == "manual")
    return OpenLead(facts, row.cycle, Placement("queued", row.queued_owner, row.queued_team))


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
    by_hand: bool = False  # a person assigned it (the decision's via is "manual")
    status: str = "assigned"


def _open(row: Row[Any]) -> OpenAssignment:
    decision = row.decision or {}
    minutes = decision.get("sla_minutes")
    return OpenAssignment(row.id, row.lead_id, row.cycle, row.owner_id, row.assigned_at, row.sla_due_at,
                          row.sla_reassign_at, row.escalated_at, row.reassignments,
                          minutes if isinstance(minutes, int) else None, decision.get("via") == "manual",
                          row.status)


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


@dataclass(frozen=True)
class World:
    """What a batch reads under its locks before it decides."""

    decided: set[LeadCycle]
    nurtured: set[LeadCycle]
    loads: dict[str, OwnerLoad]
    states: dict[str, Mapping[str, Any] | None]
    policy_version: str | None = None  # the active routing policy's, read with the rest


def _pairs(lead_id: Any, cycle: Any) -> Any:
    return func.jsonb_agg(func.jsonb_build_array(lead_id, cycle))


def _object_agg(key: Any, value: Any) -> Any:
    return func.jsonb_object_agg(key, value)


def _lead_cycles(pairs: list[list[Any]] | None) -> list[LeadCycle]:
    return [(uuid.UUID(lead_id), int(cycle)) for lead_id, cycle in pairs or []]


def _inserts(table: Table, rows: Sequence[Mapping[str, Any]], conflict: list[str] | None = None) -> list[Executable]:
    if not rows:
        return []
    stmt = insert_rows(table, rows)
    return [stmt.on_conflict_do_nothing(index_elements=conflict) if conflict else stmt]


def _add_counts(table: Table, keys: list[str], counter: str, rows: Sequence[Mapping[str, Any]]) -> list[Executable]:
    """Add each row's ``counter`` to the stored one (inserting the row when there is none)."""
    if not rows:
        return []
    stmt = insert_rows(table, sorted(rows, key=lambda r: tuple(str(r[k]) for k in keys)))
    return [stmt.on_conflict_do_update(index_elements=keys,
                                       set_={counter: table.c[counter] + stmt.excluded[counter]})]


class RoutingRepository(Repository):
    metadata = metadata

    async def serialise_routing(self) -> None:
        """The routing lock, alone: nobody else routes until this transaction ends."""
        await self.session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": ROUTING_LOCK})

    async def lock_scope(self, names: Iterable[str], *, with_routing_lock: bool = True) -> None:
        """The routing lock shared, then each owner and team in ``names`` in key order (two batches
        never wait on each other in a circle); held until the transaction ends."""
        keys = sorted({advisory_key(f"routing {name}") for name in names})
        scoped = ("(SELECT count(pg_advisory_xact_lock(k)) FROM unnest(CAST(:keys AS bigint[])) "
                  "WITH ORDINALITY AS u(k, n))")
        if with_routing_lock:
            await self.session.execute(text(f"SELECT pg_advisory_xact_lock_shared(:g), {scoped}"),
                                       {"g": ROUTING_LOCK, "keys": keys})
        else:
            await self.session.execute(text(f"SELECT {scoped}"), {"keys": keys})

    # -- the leads routing decides on ---------------------------------------------------------

    async def routed_lead(self, lead_id: uuid.UUID) -> RoutedLead | None:
        row = (await self.session.execute(select(routed_leads).where(routed_leads.c.lead_id == lead_id))).first()
        return None if row is None else _routed(row)

    async def routed_leads(self, lead_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, RoutedLead]:
        ids = list(lead_ids)
        if not ids:
            return {}
        rows = (await self.session.execute(select(routed_leads).where(routed_leads.c.lead_id.in_(ids)))).all()
        return {r.lead_id: _routed(r) for r in rows}

    # -- the leads a policy preview routes again ----------------------------------------------

    def _open_leads(self) -> Select[Any]:
        """Leads open in their current cycle: assigned and not accepted, or waiting in a queue."""
        r, a, q = routed_leads.c, assignments.c, queued.c
        return (select(r.lead_id, r.email, r.cycle, r.facts, a.owner_id, a.team_id,
                       a.decision["via"].astext.label("via"), q.owner_id.label("queued_owner"),
                       q.team_id.label("queued_team"))
                .outerjoin(assignments, and_(a.lead_id == r.lead_id, a.cycle == r.cycle, a.status == "assigned"))
                .outerjoin(queued, and_(q.lead_id == r.lead_id, q.cycle == r.cycle))
                .where(or_(a.id.is_not(None), q.lead_id.is_not(None))))

    async def open_leads_load(self, owners: Sequence[Owner], now: datetime) -> tuple[int, dict[str, OwnerLoad]]:
        """How many leads are open, and the load they make on each owner (the open leads routing
        would move: not those assigned by hand), counted as the caps count it."""
        listed = self._open_leads().add_columns(assignments.c.assigned_at).subquery()
        total = (await self.session.execute(select(func.count()).select_from(listed))).scalar_one()
        bucket = func.to_timestamp(func.floor(func.extract("epoch", listed.c.assigned_at) / 900) * 900)
        rows = (await self.session.execute(
            select(listed.c.owner_id, bucket.label("bucket"), func.count())
            .where(listed.c.owner_id.is_not(None), listed.c.via.is_distinct_from("manual"))
            .group_by(listed.c.owner_id, bucket))).all()
        recent = [(owner_id, at, n) for owner_id, at, n in rows if at >= now - LOAD_WINDOW]
        open_counts: Counter[str] = Counter()
        for owner_id, _, n in rows:
            open_counts[owner_id] += n
        return total, loads_from_counts(owners, recent, open_counts, now)

    async def stream_open_leads(self, page: int) -> AsyncIterator[list[OpenLead]]:
        """The open leads, oldest change first, ``page`` at a time from a server-side cursor: one
        consistent read whatever the history's size, in memory one page at a time."""
        ordered = self._open_leads().order_by(routed_leads.c.updated_at, routed_leads.c.lead_id)
        result = await self.session.stream(ordered.execution_options(yield_per=page))
        async for rows in result.partitions(page):
            yield [_open_lead(row) for row in rows]

    # -- what routing reads before it decides ---------------------------------------------

    async def snapshot(self, owners: Sequence[Owner], now: datetime) -> RoutingSnapshot:
        """Everyone's load, every team's state, every account (the clock and policy changes)."""
        world = await self.read_world([], owners, None, now)
        return RoutingSnapshot(loads=world.loads, states=world.states, accounts=await self.account_owners())

    async def owner_loads(self, owners: Sequence[Owner], now: datetime) -> dict[str, OwnerLoad]:
        return (await self.read_world([], owners, (), now)).loads

    async def read_world(self, lead_ids: Sequence[uuid.UUID], owners: Sequence[Owner],
                         team_ids: Iterable[str] | None, now: datetime) -> World:
        """In one statement: which cycles of these leads are decided (assigned or queued) or
        nurtured, the owners' loads from their counters, and the teams' strategy states
        (``team_ids`` None: every team); and the active policy's version, so a batch learns of a
        new policy without a statement of its own."""
        owner_ids = [o.id for o in owners]
        a, q, n = assignments.c, queued.c, nurtured.c
        counts, opened, st = owner_assignment_counts.c, owner_open_counts.c, strategy_states.c
        states_query = select(_object_agg(st.team_id, st.state))
        if team_ids is not None:
            states_query = states_query.where(any_of(st.team_id, team_ids))
        row = (await self.session.execute(select(
            select(_pairs(a.lead_id, a.cycle)).where(any_of(a.lead_id, lead_ids)).scalar_subquery(),
            select(_pairs(q.lead_id, q.cycle)).where(any_of(q.lead_id, lead_ids)).scalar_subquery(),
            select(_pairs(n.lead_id, n.cycle)).where(any_of(n.lead_id, lead_ids)).scalar_subquery(),
            select(func.jsonb_agg(func.jsonb_build_array(counts.owner_id, counts.bucket, counts.assigned)))
            .where(any_of(counts.owner_id, owner_ids), counts.bucket >= now - LOAD_WINDOW).scalar_subquery(),
            select(_object_agg(opened.owner_id, opened.open)).where(any_of(opened.owner_id, owner_ids))
            .scalar_subquery(),
            states_query.scalar_subquery(),
            select(policies.c.version).where(policies.c.active).scalar_subquery(),
        ))).one()
        decided, queued_now, nurtured_now, buckets, open_counts, states, policy_version = row
        counted = [(owner_id, datetime.fromisoformat(bucket), n) for owner_id, bucket, n in buckets or []]
        return World(decided={*_lead_cycles(decided), *_lead_cycles(queued_now)},
                     nurtured=set(_lead_cycles(nurtured_now)),
                     loads=loads_from_counts(owners, counted, open_counts or {}, now),
                     states=dict(states or {}), policy_version=policy_version)

    async def account_owners(self) -> dict[str, str]:
        rows = (await self.session.execute(select(accounts.c.domain, accounts.c.owner_id))).all()
        return {domain: owner_id for domain, owner_id in rows}

    async def accounts_for(self, domains: Iterable[str]) -> dict[str, str]:
        """The owners of these normalised account domains (those a batch's leads come from)."""
        wanted = sorted(set(domains))
        if not wanted:
            return {}
        rows = (await self.session.execute(
            select(accounts.c.domain, accounts.c.owner_id).where(any_of(accounts.c.domain, wanted)))).all()
        return {domain: owner_id for domain, owner_id in rows}

    # -- writing a transaction's decisions -----------------------------------------------------

    async def write(self, writes: RoutingWrites) -> list[Envelope]:
        """Everything ``writes`` gathered: the new assignments and nurture records first (those a
        concurrent transaction took already are dropped with what depends on them), the closes,
        then every other table in one statement. Returns the events written to the outbox."""
        taken = await self._take(writes)
        for (lead_id, cycle), changed in writes.reassignments:  # the clock's and deactivations' only: rare
            await self.session.execute(assignments.update().where(
                assignments.c.lead_id == lead_id, assignments.c.cycle == cycle,
            ).values(**changed, reassignments=assignments.c.reassignments + 1))
        closed_owners = await self._close(writes.closes)
        steps = writes.taken(taken)
        assigned: Counter[tuple[str, datetime]] = Counter()
        opened: Counter[str] = Counter()
        for step in steps:
            assigned.update(step.assigned)
            opened.update(step.opened)
        opened.subtract(closed_owners)
        envelopes = [e for step in steps for e in step.envelopes]
        statements = [
            *self._upsert_leads(writes),
            *_inserts(decisions, [s.decision for s in steps if s.decision is not None]),
            *self._queue_changes(writes.queue),
            *self._states([s.state for s in steps if s.state is not None]),
            *_add_counts(owner_assignment_counts, ["owner_id", "bucket"], "assigned",
                         [{"owner_id": o, "bucket": b, "assigned": n} for (o, b), n in assigned.items() if n]),
            *_add_counts(owner_open_counts, ["owner_id"], "open",
                         [{"owner_id": o, "open": n} for o, n in opened.items() if n]),
            *_inserts(crm_deliveries, [s.delivery for s in steps if s.delivery is not None],
                      conflict=["event_id"]),
            *Outbox(outbox_table(self.metadata)).statements(envelopes),
        ]
        await execute_together(self.session, statements)
        return envelopes

    async def waiting(self, limit: int) -> list[QueuedLead]:
        rows = (await self.session.execute(select(queued).order_by(queued.c.queued_at).limit(limit))).all()
        return [_queued(r) for r in rows]

    async def open_assignments_of(self, owner_id: str) -> list[OpenAssignment]:
        rows = (await self.session.execute(
            select(assignments).where(assignments.c.owner_id == owner_id, assignments.c.status == "assigned")
        )).all()
        return [_open(r) for r in rows]

    async def assignment_of(self, lead_id: uuid.UUID, cycle: int) -> OpenAssignment | None:
        """The lead's assignment in ``cycle``, whatever its status (None: not assigned in it)."""
        row = (await self.session.execute(
            select(assignments).where(assignments.c.lead_id == lead_id, assignments.c.cycle == cycle)
        )).first()
        return None if row is None else _open(row)

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

    async def _take(self, writes: RoutingWrites) -> set[Condition]:
        """Insert the new assignments and nurture records in one statement; those inserted."""
        parts = []
        if writes.new_assignments:
            rows = [{"lead_id": lead_id, "cycle": cycle, **values}
                    for (lead_id, cycle), values in sorted(writes.new_assignments.items())]
            parts.append(insert_rows(assignments, rows).on_conflict_do_nothing()
                         .returning(literal("assigned").label("kind"), assignments.c.lead_id, assignments.c.cycle))
        if writes.new_nurtures:
            rows = [{"lead_id": lead_id, "cycle": cycle} for lead_id, cycle in sorted(writes.new_nurtures)]
            parts.append(insert_rows(nurtured, rows).on_conflict_do_nothing()
                         .returning(literal("nurtured").label("kind"), nurtured.c.lead_id, nurtured.c.cycle))
        if not parts:
            return set()
        ctes = [part.cte(f"taken_{i}") for i, part in enumerate(parts)]
        query = union_all(*(select(c.c.kind, c.c.lead_id, c.c.cycle) for c in ctes)) if len(ctes) > 1 \
            else select(ctes[0].c.kind, ctes[0].c.lead_id, ctes[0].c.cycle)
        return {(kind, lead_id, cycle) for kind, lead_id, cycle in (await self.session.execute(query)).all()}

    async def _close(self, closes: Mapping[LeadCycle, datetime | None]) -> list[str]:
        """Sales acted: accepted stops the SLA clock; any other outcome closes the assignment.
        Returns the owner of each assignment closed (their open count falls)."""
        if not closes:
            return []
        given = rows_as_table(
            {"lead_id": UUID(as_uuid=True), "cycle": Integer(), "accepted_at": DateTime(timezone=True)},
            [{"lead_id": lead_id, "cycle": cycle, "accepted_at": accepted_at}
             for (lead_id, cycle), accepted_at in sorted(closes.items())], name="outcome")
        t = assignments.c
        rows = (await self.session.execute(
            update(assignments)
            .where(t.lead_id == given.c.lead_id, t.cycle == given.c.cycle, t.status == "assigned")
            .values(status=case((given.c.accepted_at.is_not(None), "accepted"), else_="closed"),
                    accepted_at=given.c.accepted_at, sla_due_at=None, sla_reassign_at=None)
            .returning(t.owner_id)
        )).scalars().all()
        return list(rows)

    def _upsert_leads(self, writes: RoutingWrites) -> list[Executable]:
        if not writes.leads:
            return []
        stmt = insert_rows(routed_leads, [writes.leads[k] for k in sorted(writes.leads)])
        return [stmt.on_conflict_do_update(index_elements=["lead_id"], set_={
            name: stmt.excluded[name] for name in ("email", "cycle", "facts", "updated_at")})]

    def _queue_changes(self, changes: Mapping[LeadCycle, dict[str, Any] | None]) -> list[Executable]:
        put = [row for _, row in sorted(changes.items(), key=lambda item: item[0]) if row is not None]
        gone = [key for key, row in sorted(changes.items(), key=lambda item: item[0]) if row is None]
        statements: list[Executable] = []
        if put:
            stmt = insert_rows(queued, put)
            statements.append(stmt.on_conflict_do_update(index_elements=["lead_id", "cycle"],
                                                         set_={"decision": stmt.excluded.decision}))
        if gone:
            statements.append(queued.delete().where(tuple_(queued.c.lead_id, queued.c.cycle).in_(gone)))
        return statements

    def _states(self, changes: Sequence[tuple[str, dict[str, Any]]]) -> list[Executable]:
        latest = dict(changes)  # a team's last state in the batch wins
        if not latest:
            return []
        stmt = insert_rows(strategy_states, [{"team_id": t, "state": state} for t, state in sorted(latest.items())])
        return [stmt.on_conflict_do_update(index_elements=["team_id"],
                                           set_={"state": stmt.excluded.state, "updated_at": func.now()})]

    async def stop_for_erasure(self, lead_id: uuid.UUID) -> dict[str, int]:
        """Before a person's rows are anonymised: nothing may act on them afterwards (an SLA clock
        reassigning, a queue place filled, a CRM push of a scrubbed body). Open assignments are
        closed, their owners' open counts fall; queue places and pending pushes are dropped."""
        t = assignments.c
        owners = list((await self.session.execute(
            update(assignments).where(t.lead_id == lead_id, t.status == "assigned")
            .values(status="closed", sla_due_at=None, sla_reassign_at=None).returning(t.owner_id)
        )).scalars())
        falls = Counter(owners)
        for statement in _add_counts(owner_open_counts, ["owner_id"], "open",
                                     [{"owner_id": o, "open": -n} for o, n in sorted(falls.items())]):
            await self.session.execute(statement)
        unqueued = (await self.session.execute(queued.delete().where(queued.c.lead_id == lead_id)
                                               .returning(queued.c.cycle))).all()
        unpushed = (await self.session.execute(
            crm_deliveries.delete().where(crm_deliveries.c.lead_id == lead_id, crm_deliveries.c.delivered_at.is_(None))
            .returning(crm_deliveries.c.id))).all()
        return {"assignments closed": len(owners), "queued (deleted)": len(unqueued),
                "crm_deliveries pending (deleted)": len(unpushed)}

    async def forget_counts_before(self, moment: datetime) -> None:
        """Load counters no cap reads any more."""
        await self.session.execute(owner_assignment_counts.delete().where(owner_assignment_counts.c.bucket < moment))

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
