"""All of feedback's SQL: the timeline (every event about a lead), each lead's stage, the
outcomes sales reported, CRM contacts linked to leads, outcomes parked for review, and
feedback's outbox."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Executable, Row, func, select
from sqlalchemy.dialects.postgresql import insert

from services.feedback.domain.history import TimelineEvent, lead_cycles
from services.feedback.domain.latency import MEASURED_TYPES
from services.feedback.domain.reports import LeadCycle
from services.feedback.domain.stages import StageRow
from services.feedback.tables import (
    crm_contacts,
    lead_aliases,
    lead_stages,
    metadata,
    outcomes,
    parked_outcomes,
    timeline,
)
from shared.access.erasures import current_lead_ids
from shared.db.bulk import any_of, execute_together, insert_rows
from shared.db.repository import Repository
from shared.events.codec import Event


@dataclass(frozen=True)
class LeadStage:
    lead_id: uuid.UUID
    email: str
    cycle: int
    stage: str
    owner_id: str | None
    correlation_id: str | None


@dataclass(frozen=True)
class ParkedOutcome:
    id: int
    delivery_id: str
    source: str
    contact_ref: str | None
    lead_id: uuid.UUID | None
    received: dict[str, Any]
    problem: str
    status: str
    parked_at: datetime
    resolved_at: datetime | None
    resolved_by: str | None
    note: str | None


def _parked(row: Row[Any]) -> ParkedOutcome:
    return ParkedOutcome(id=row.id, delivery_id=row.delivery_id, source=row.source, contact_ref=row.contact_ref,
                         lead_id=row.lead_id, received=row.outcome, problem=row.problem, status=row.status,
                         parked_at=row.parked_at, resolved_at=row.resolved_at, resolved_by=row.resolved_by,
                         note=row.note)


class FeedbackRepository(Repository):
    metadata = metadata

    # -- the timeline and the stage it moves -------------------------------------------------

    async def lock_stages(self, lead_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, StageRow]:
        """The stored stages of these leads, locked in key order."""
        if not lead_ids:
            return {}
        rows = (await self.session.execute(
            select(lead_stages).where(any_of(lead_stages.c.lead_id, lead_ids)).order_by(lead_stages.c.lead_id)
            .with_for_update())).all()
        return {r.lead_id: StageRow(r.lead_id, r.email, r.cycle, r.stage, r.owner_id, r.correlation_id, r.updated_at)
                for r in rows}

    async def record(self, events: Sequence[Event], *, new_stages: Sequence[StageRow] = (),
                     moved_stages: Sequence[StageRow] = ()) -> None:
        """Every event once on the timeline, by its id (a redelivery changes nothing), and the
        stages they moved, in one statement. ``moved_stages`` were locked by ``lock_stages``;
        ``new_stages`` were not stored, and one another transaction stored meanwhile is kept."""
        rows = [{"event_id": e.envelope.event_id, "lead_id": e.envelope.lead_id, "type": e.envelope.type,
                 "occurred_at": e.envelope.occurred_at, "producer": e.envelope.producer,
                 "correlation_id": e.envelope.correlation_id, "causation_id": e.envelope.causation_id,
                 "payload": e.envelope.payload} for e in events]
        statements: list[Executable] = [
            insert_rows(timeline, rows).on_conflict_do_nothing(index_elements=["event_id"])] if rows else []
        if new_stages:
            statements.append(insert_rows(lead_stages, [asdict(s) for s in new_stages]).on_conflict_do_nothing())
        if moved_stages:
            stmt = insert_rows(lead_stages, [asdict(s) for s in moved_stages])
            statements.append(stmt.on_conflict_do_update(index_elements=["lead_id"], set_={
                name: stmt.excluded[name] for name in ("cycle", "stage", "owner_id", "updated_at")}))
        await execute_together(self.session, statements)

    async def latency_entries(self, lead_ids: Sequence[uuid.UUID]) -> list[Row[Any, Any, Any, Any]]:
        """The captured, scored and routed entries of these leads (for stage latencies)."""
        return list((await self.session.execute(
            select(timeline.c.event_id, timeline.c.type, timeline.c.occurred_at, timeline.c.causation_id)
            .where(any_of(timeline.c.lead_id, lead_ids), timeline.c.type.in_(MEASURED_TYPES))
        )).all())

    # -- outcomes ----------------------------------------------------------------------------

    async def delivery_seen(self, delivery_id: str) -> bool:
        return (await self.session.execute(
            select(outcomes.c.id).where(outcomes.c.delivery_id == delivery_id))).first() is not None

    async def lock_stage(self, lead_id: uuid.UUID) -> LeadStage | None:
        row = (await self.session.execute(
            select(lead_stages).where(lead_stages.c.lead_id == lead_id).with_for_update())).first()
        if row is None:
            return None
        return LeadStage(row.lead_id, row.email, row.cycle, row.stage, row.owner_id, row.correlation_id)

    async def add_outcome(self, *, delivery_id: str, lead_id: uuid.UUID, cycle: int, outcome: str,
                          reason: str | None, amount: Decimal | None, currency: str | None) -> bool:
        """False when a concurrent delivery with the same id got there first."""
        inserted = (await self.session.execute(
            insert(outcomes).values(delivery_id=delivery_id, lead_id=lead_id, cycle=cycle, outcome=outcome,
                                    reason=reason, amount=amount, currency=currency)
            .on_conflict_do_nothing().returning(outcomes.c.id)
        )).first()
        return inserted is not None

    async def move_stage(self, lead_id: uuid.UUID, *, stage: str, cycle: int, at: datetime) -> None:
        await self.session.execute(lead_stages.update().where(lead_stages.c.lead_id == lead_id).values(
            stage=stage, cycle=cycle, updated_at=at))

    # -- CRM contacts and parked outcomes ------------------------------------------------------

    async def link_contact(self, contact_ref: str, lead_id: uuid.UUID, email: str) -> None:
        stmt = insert(crm_contacts).values(contact_ref=contact_ref, lead_id=lead_id, email=email)
        await self.session.execute(stmt.on_conflict_do_update(
            index_elements=["contact_ref"], set_={"lead_id": lead_id, "email": email,
                                                  "linked_at": stmt.excluded.linked_at}))

    async def lead_for_contact(self, contact_ref: str) -> uuid.UUID | None:
        found: uuid.UUID | None = (await self.session.execute(
            select(crm_contacts.c.lead_id).where(crm_contacts.c.contact_ref == contact_ref))).scalar_one_or_none()
        return found

    async def park(self, *, source: str, delivery_id: str, contact_ref: str | None, lead_id: uuid.UUID | None,
                   received: dict[str, Any], problem: str) -> None:
        """Idempotent: the CRM's retry of a parked delivery updates its problem, not a second row."""
        stmt = insert(parked_outcomes).values(source=source, delivery_id=delivery_id, contact_ref=contact_ref,
                                              lead_id=lead_id, outcome=received, problem=problem)
        await self.session.execute(stmt.on_conflict_do_update(
            index_elements=["delivery_id"], set_={"problem": problem}, where=parked_outcomes.c.status == "parked"))

    async def parked(self, status: str, limit: int) -> list[ParkedOutcome]:
        rows = (await self.session.execute(
            select(parked_outcomes).where(parked_outcomes.c.status == status)
            .order_by(parked_outcomes.c.id).limit(limit))).all()
        return [_parked(r) for r in rows]

    async def lock_parked(self, parked_id: int) -> ParkedOutcome | None:
        row = (await self.session.execute(
            select(parked_outcomes).where(parked_outcomes.c.id == parked_id).with_for_update())).first()
        return _parked(row) if row else None

    async def parked_for_contact(self, contact_ref: str) -> list[ParkedOutcome]:
        rows = (await self.session.execute(
            select(parked_outcomes).where(parked_outcomes.c.contact_ref == contact_ref,
                                          parked_outcomes.c.status == "parked")
            .order_by(parked_outcomes.c.id).with_for_update())).all()
        return [_parked(r) for r in rows]

    async def resolve_parked(self, parked_id: int, **values: Any) -> bool:
        """Change a parked outcome that is still parked; False when it was resolved meanwhile."""
        result = await self.session.execute(
            parked_outcomes.update()
            .where(parked_outcomes.c.id == parked_id, parked_outcomes.c.status == "parked").values(**values))
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]

    async def parked_count(self) -> int:
        count: int = (await self.session.execute(
            select(func.count()).select_from(parked_outcomes).where(parked_outcomes.c.status == "parked")
        )).scalar_one()
        return count

    # -- reads: timelines, cycles, counts --------------------------------------------------

    async def current_lead_id(self, lead_id: uuid.UUID) -> uuid.UUID:
        """The id a lead has now, for an id it had before a re-key; any other id as it is."""
        current: uuid.UUID | None = (await self.session.execute(
            select(lead_aliases.c.lead_id).where(lead_aliases.c.old_lead_id == lead_id))).scalar_one_or_none()
        return current or lead_id

    async def lead_id_of_email(self, email: str) -> uuid.UUID:
        """The lead an address names now: after an erasure, the person's next generation."""
        return (await current_lead_ids(self.session, [email]))[email]

    async def timeline_of(self, lead_id: uuid.UUID) -> list[Row[Any]]:
        return list((await self.session.execute(
            select(timeline).where(timeline.c.lead_id == lead_id).order_by(timeline.c.occurred_at, timeline.c.seq)
        )).all())

    async def stage_of(self, lead_id: uuid.UUID) -> LeadStage | None:
        row = (await self.session.execute(select(lead_stages).where(lead_stages.c.lead_id == lead_id))).first()
        if row is None:
            return None
        return LeadStage(row.lead_id, row.email, row.cycle, row.stage, row.owner_id, row.correlation_id)

    async def cycles_active_since(self, since: datetime) -> list[LeadCycle]:
        """Every cycle of every lead that had an event since ``since`` (its whole history, so
        earlier stages count too), folded from the timeline."""
        active = select(timeline.c.lead_id).where(timeline.c.occurred_at >= since).distinct()
        rows = (await self.session.execute(
            select(timeline.c.lead_id, timeline.c.type, timeline.c.occurred_at, timeline.c.producer,
                   timeline.c.payload).where(timeline.c.lead_id.in_(active))
        )).all()
        return lead_cycles(TimelineEvent(str(r.lead_id), r.type, r.occurred_at, r.producer, r.payload) for r in rows)

    async def count_since(self, event_type: str, since: datetime) -> int:
        count: int = (await self.session.execute(
            select(func.count()).select_from(timeline)
            .where(timeline.c.type == event_type, timeline.c.occurred_at >= since))).scalar_one()
        return count

