"""Routing's clock: leads waiting in a pool's queue are routed as soon as someone is
available (or go to the fallback when the wait is over), and SLA deadlines that pass
escalate, then reassign to the next eligible owner, up to the cap.

The rows are the work: a restart loses nothing, and the routing lock keeps replicas
from acting on the same lead twice."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import get_args

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.routing.domain.sla import BreachAction, breach_action, working_deadline
from services.routing.router import (
    Router,
    RoutingView,
    facts_of,
    routed_lead,
    serialise_routing,
)
from services.routing.tables import assignments, decisions, queued
from shared.db.engine import unit_of_work
from shared.events.envelope import Envelope, utcnow
from shared.events.payloads import SlaBreached
from shared.observability.metrics import SLA_BREACHES
from shared.outbox.writer import Outbox

log = logging.getLogger(__name__)

SLA_BREACHED = "lead.sla_breached"
NO_ONE_TO_REASSIGN = "no_one_to_reassign"  # a reassignment was due but nobody was eligible
SLA_ACTIONS = (*get_args(BreachAction), NO_ONE_TO_REASSIGN)
for _action in SLA_ACTIONS:
    SLA_BREACHES.labels(_action)  # every action shows from the start, at 0


class RoutingClock:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], router: Router, outbox: Outbox, *,
                 on_emitted: Callable[[], None], interval_s: float, batch_size: int = 100,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self._sessions = sessions
        self._router = router
        self._outbox = outbox
        self._on_emitted = on_emitted
        self._interval_s = interval_s
        self._batch_size = batch_size
        self._clock = clock

    async def run(self) -> None:
        while True:
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("routing clock tick failed; it is retried on the next tick")
            await asyncio.sleep(self._interval_s)

    async def tick(self) -> int:
        now = self._clock()
        async with unit_of_work(self._sessions) as session:
            await serialise_routing(session)
            await self._router.refresh()
            view = await self._router.view(session, now)
            emitted = await self._drain_queues(session, now, view) + await self._enforce_sla(session, now, view)
            await self._outbox.emit(session, emitted)
        count_breaches(emitted)  # the tick committed: its breaches happened
        if emitted:
            self._on_emitted()
        return len(emitted)

    async def _drain_queues(self, session: AsyncSession, now: datetime, view: RoutingView) -> list[Envelope]:
        emitted = []
        waiting = (await session.execute(
            select(queued).order_by(queued.c.queued_at).limit(self._batch_size)
        )).all()
        for row in waiting:
            lead = await routed_lead(session, row.lead_id)
            if lead is None or lead.cycle != row.cycle:
                await session.execute(queued.delete().where(queued.c.lead_id == row.lead_id,
                                                            queued.c.cycle == row.cycle))
                continue
            decision = await self._router.decide(session, facts_of(lead), now, queued_row=row, view=view)
            if decision.outcome == "queued" and decision.queue and decision.queue.target == _target_of(row):
                continue  # still nobody: keep waiting quietly, no new decision record
            out = await self._router.apply(session, decision, lead, kind="assigned", cause=None, view=view)
            if out is not None:
                emitted.append(out)
        return emitted

    async def _enforce_sla(self, session: AsyncSession, now: datetime, view: RoutingView) -> list[Envelope]:
        policy = self._router.policy
        emitted = []
        due = (await session.execute(
            select(assignments).where(assignments.c.status == "assigned", assignments.c.sla_due_at < now)
            .order_by(assignments.c.sla_due_at).limit(self._batch_size)
        )).all()
        for row in due:
            lead = await routed_lead(session, row.lead_id)
            rerouted: Envelope | None = None
            action = breach_action(policy, escalated=row.escalated_at is not None,
                                   reassignments_so_far=row.reassignments)
            if action == "escalate":
                owner = policy.owner(row.owner_id)
                await session.execute(assignments.update().where(assignments.c.id == row.id).values(
                    escalated_at=now,
                    sla_due_at=self._router.scaled(now, working_deadline(now, policy.sla.reassign_after_minutes, owner)),
                ))
            elif action == "reassign":
                earlier = set((await session.execute(
                    select(decisions.c.decision["owner_id"].astext)
                    .where(decisions.c.lead_id == row.lead_id, decisions.c.cycle == row.cycle)
                )).scalars()) - {None}
                decision = await self._router.decide(session, facts_of(lead), now, view=view,
                                                     exclude=frozenset(earlier | {row.owner_id}))
                if decision.outcome == "assigned":
                    rerouted = await self._router.apply(session, decision, lead, kind="reassigned", cause=None,
                                                        reassigned_from=row.owner_id, view=view)
                else:
                    action = NO_ONE_TO_REASSIGN
                    await session.execute(assignments.update().where(assignments.c.id == row.id)
                                          .values(sla_due_at=None))
            else:
                await session.execute(assignments.update().where(assignments.c.id == row.id).values(sla_due_at=None))
            emitted.append(Envelope(
                type=SLA_BREACHED, lead_id=row.lead_id, producer="routing",
                correlation_id=lead.correlation_id or str(row.lead_id),
                payload=SlaBreached(email=lead.email, cycle=row.cycle, owner_id=row.owner_id,
                                    due_at=row.sla_due_at, breaches=row.reassignments + 1,
                                    action=action).model_dump(mode="json"),
            ))
            if rerouted is not None:
                emitted.append(rerouted)
        return emitted


def count_breaches(emitted: Sequence[Envelope]) -> None:
    for envelope in emitted:
        if envelope.type == SLA_BREACHED:
            SLA_BREACHES.labels(envelope.payload["action"]).inc()


def _target_of(row) -> dict[str, str]:
    return {"team": row.team_id} if row.team_id else {"owner": row.owner_id}
