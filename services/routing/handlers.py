"""Routing's handler: a qualified lead gets exactly one owner per cycle; the rest nurture."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.routing.domain.policy import RoutingPolicy, round_robin
from services.routing.tables import assignments, nurtured, pool_pointers
from shared.events.codec import Event
from shared.events.envelope import Envelope
from shared.events.payloads import LeadNurtured, LeadRouted, LeadScored
from shared.outbox.writer import Outbox

POOL = "default"


class RoutingHandlers:
    def __init__(self, policy: RoutingPolicy, outbox: Outbox) -> None:
        self.policy = policy
        self.outbox = outbox

    async def handle(self, session: AsyncSession, events: Sequence[Event]) -> None:
        emitted: list[Envelope] = []
        for event in events:
            if isinstance(event.payload, LeadScored):
                out = await self._scored(session, event.envelope, event.payload)
                if out is not None:
                    emitted.append(out)
        await self.outbox.emit(session, emitted)

    async def _scored(self, session: AsyncSession, envelope: Envelope, scored: LeadScored) -> Envelope | None:
        assigned = (await session.execute(
            select(assignments.c.owner_id)
            .where(assignments.c.lead_id == envelope.lead_id, assignments.c.cycle == scored.cycle)
        )).first()
        if assigned is not None:
            return None  # this cycle already has its owner; a re-score changes nothing here
        if scored.qualified:
            return await self._assign(session, envelope, scored)
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

    async def _assign(self, session: AsyncSession, envelope: Envelope, scored: LeadScored) -> Envelope | None:
        # the pointer row lock serialises replicas: no two take the same turn
        await session.execute(insert(pool_pointers).values(pool=POOL, position=0).on_conflict_do_nothing())
        position = (await session.execute(
            select(pool_pointers.c.position).where(pool_pointers.c.pool == POOL).with_for_update()
        )).scalar_one()
        owner, next_position = round_robin(self.policy.owners, position)
        reason = (f"qualified (score {scored.score} >= {scored.threshold}); round robin over "
                  f"{len(self.policy.owners)} owners, turn {position % len(self.policy.owners) + 1}")
        inserted = (await session.execute(
            insert(assignments).values(
                lead_id=envelope.lead_id, cycle=scored.cycle, owner_id=owner.id,
                policy_version=self.policy.version, reason=reason,
            ).on_conflict_do_nothing().returning(assignments.c.id)
        )).first()
        if inserted is None:
            return None  # a concurrent replica assigned this cycle first
        await session.execute(
            pool_pointers.update().where(pool_pointers.c.pool == POOL).values(position=next_position)
        )
        return envelope.follow(
            type="lead.routed", producer="routing",
            payload=LeadRouted(
                email=scored.email, cycle=scored.cycle, owner_id=owner.id, owner_name=owner.name,
                policy_version=self.policy.version, strategy=self.policy.strategy, reason=reason,
                score=scored.score,
            ),
        )
