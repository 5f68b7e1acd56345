"""Outcomes parked for review: what a CRM told us that could not be applied as sent.
Kept whole, with the problem, until someone retries or discards it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert

from services.feedback.tables import parked_outcomes
from shared.db.engine import unit_of_work
from shared.events.envelope import utcnow
from shared.service.runtime import ServiceRuntime

STATUSES = ("parked", "applied", "discarded")


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

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "delivery_id": self.delivery_id, "source": self.source, "contact_ref": self.contact_ref,
            "lead_id": str(self.lead_id) if self.lead_id else None, "received": self.received,
            "problem": self.problem, "status": self.status, "parked_at": self.parked_at.isoformat(),
            "resolved_at": self.resolved_at.isoformat() if self.resolved_at else None,
            "resolved_by": self.resolved_by, "note": self.note,
        }


def _from_row(row) -> ParkedOutcome:
    return ParkedOutcome(id=row.id, delivery_id=row.delivery_id, source=row.source, contact_ref=row.contact_ref,
                         lead_id=row.lead_id, received=row.outcome, problem=row.problem, status=row.status,
                         parked_at=row.parked_at, resolved_at=row.resolved_at, resolved_by=row.resolved_by,
                         note=row.note)


async def park(runtime: ServiceRuntime, *, source: str, delivery_id: str, contact_ref: str | None,
               lead_id: uuid.UUID | None, received: dict[str, Any], problem: str) -> None:
    """Idempotent: the CRM's retry of a parked delivery updates its problem, not a second row."""
    async with unit_of_work(runtime.sessions) as session:
        stmt = insert(parked_outcomes).values(source=source, delivery_id=delivery_id, contact_ref=contact_ref,
                                              lead_id=lead_id, outcome=received, problem=problem)
        await session.execute(stmt.on_conflict_do_update(
            index_elements=["delivery_id"], set_={"problem": problem},
            where=parked_outcomes.c.status == "parked"))


async def list_parked(runtime: ServiceRuntime, status: str, limit: int) -> list[ParkedOutcome]:
    async with runtime.sessions() as session:
        rows = (await session.execute(
            select(parked_outcomes).where(parked_outcomes.c.status == status)
            .order_by(parked_outcomes.c.id).limit(limit)
        )).all()
    return [_from_row(r) for r in rows]


async def get_parked(runtime: ServiceRuntime, parked_id: int) -> ParkedOutcome | None:
    async with runtime.sessions() as session:
        row = (await session.execute(select(parked_outcomes).where(parked_outcomes.c.id == parked_id))).first()
    return _from_row(row) if row else None


async def parked_for_contact(runtime: ServiceRuntime, contact_ref: str) -> list[ParkedOutcome]:
    async with runtime.sessions() as session:
        rows = (await session.execute(
            select(parked_outcomes).where(parked_outcomes.c.contact_ref == contact_ref,
                                          parked_outcomes.c.status == "parked")
            .order_by(parked_outcomes.c.id)
        )).all()
    return [_from_row(r) for r in rows]


async def _resolve(runtime: ServiceRuntime, parked_id: int, **values) -> bool:
    async with unit_of_work(runtime.sessions) as session:
        result = await session.execute(
            parked_outcomes.update()
            .where(parked_outcomes.c.id == parked_id, parked_outcomes.c.status == "parked")
            .values(**values))
    return result.rowcount == 1


async def mark_applied(runtime: ServiceRuntime, parked_id: int, actor: str, note: str | None = None,
                       lead_id: uuid.UUID | None = None) -> bool:
    extra = {"lead_id": lead_id} if lead_id else {}
    return await _resolve(runtime, parked_id, status="applied", resolved_at=utcnow(), resolved_by=actor, note=note,
                          **extra)


async def discard(runtime: ServiceRuntime, parked_id: int, actor: str, note: str) -> bool:
    return await _resolve(runtime, parked_id, status="discarded", resolved_at=utcnow(), resolved_by=actor,
                          note=note)


async def still_parked(runtime: ServiceRuntime, parked_id: int, problem: str) -> None:
    await _resolve(runtime, parked_id, problem=problem)
