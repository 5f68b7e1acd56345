"""Routing's handler: a qualified lead gets exactly one owner per cycle (or waits in a
pool's queue); the rest go to nurture; sales' outcomes stop the SLA clock."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.routing.router import Router, facts_of, routed_lead, serialise_routing
from services.routing.tables import assignments, nurtured, queued, routed_leads
from shared.events.codec import Event
from shared.events.envelope import Envelope, utcnow
from shared.events.payloads import LeadNurtured, LeadScored, Outcome, OutcomeRecorded
from shared.outbox.writer import Outbox


class RoutingHandlers:
    def __init__(self, router: Router, outbox: Outbox, clock: Callable[[], datetime] = utcnow) -> None:
        self.router = router
        self.outbox = outbox
        self.clock = clock

    async def handle(self, session: AsyncSession, events: Sequence[Event]) -> None:
        now = self.clock()
        emitted: list[Envelope] = []
        view = None
        for event in events:
            envelope, payload = event.envelope, event.payload
            if isinstance(payload, LeadScored):
                await self._remember(session, envelope, payload)
                if await self._decided(session, envelope, payload.cycle):
                    continue  # this cycle already has its owner, or waits in a queue
                if payload.qualified:
                    if view is None:  # the lock once per batch, then one read of loads and states
                        await serialise_routing(session)
                        await self.router.refresh()
                        view = await self.router.view(session, now)
                    lead = await routed_lead(session, envelope.lead_id)
                    decision = await self.router.decide(session, facts_of(lead), now, view=view)
                    out = await self.router.apply(session, decision, lead, kind="assigned", cause=envelope,
                                                  view=view)
                else:
                    out = await self._nurture(session, envelope, payload)
                if out is not None:
                    emitted.append(out)
            elif isinstance(payload, OutcomeRecorded):
                await self._stop_clock(session, envelope, payload)
        await self.outbox.emit(session, emitted)

    async def _remember(self, session: AsyncSession, envelope: Envelope, scored: LeadScored) -> None:
        facts = {**scored.attributes, "source": scored.source, "score": scored.score, "grade": scored.grade}
        facts = {k: v for k, v in facts.items() if v is not None}
        await session.execute(insert(routed_leads).values(
            lead_id=envelope.lead_id, email=scored.email, cycle=scored.cycle, facts=facts,
            correlation_id=envelope.correlation_id,
        ).on_conflict_do_update(index_elements=["lead_id"], set_={
            "email": scored.email, "cycle": scored.cycle, "facts": facts, "updated_at": envelope.occurred_at,
        }))

    @staticmethod
    async def _decided(session: AsyncSession, envelope: Envelope, cycle: int) -> bool:
        for table in (assignments, queued):
            found = (await session.execute(
                select(table.c.lead_id).where(table.c.lead_id == envelope.lead_id, table.c.cycle == cycle)
            )).first()
            if found is not None:
                return True
        return False

    @staticmethod
    async def _nurture(session: AsyncSession, envelope: Envelope, scored: LeadScored) -> Envelope | None:
        inserted = (await session.execute(
            insert(nurtured).values(lead_id=envelope.lead_id, cycle=scored.cycle)
            .on_conflict_do_nothing().returning(nurtured.c.lead_id)
        )).first()
        if inserted is None:
            return None  # already sent to nurture in this cycle
        return envelope.follow(
            type="lead.nurture", producer="routing",
            payload=LeadNurtured(
                email=scored.email, cycle=scored.cycle, score=scored.score,
                reason=f"below the qualification threshold: score {scored.score} < {scored.threshold}",
            ),
        )

    @staticmethod
    async def _stop_clock(session: AsyncSession, envelope: Envelope, outcome: OutcomeRecorded) -> None:
        """Accepted stops the SLA clock; any other outcome closes the assignment."""
        status = "accepted" if outcome.outcome == Outcome.ACCEPTED else "closed"
        await session.execute(assignments.update().where(
            assignments.c.lead_id == envelope.lead_id, assignments.c.cycle == outcome.cycle,
            assignments.c.status == "assigned",
        ).values(status=status, accepted_at=envelope.occurred_at if status == "accepted" else None,
                 sla_due_at=None))
