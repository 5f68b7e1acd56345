"""Routing's clock: leads waiting in a pool's queue are routed as soon as someone is
available (or go to the fallback when the wait is over), and SLA deadlines that pass
escalate, then reassign to the next eligible owner, up to the cap (``domain.sla``).

The rows are the work: a restart loses nothing, and the routing lock keeps replicas from
acting on the same lead twice. Each tick is one unit of work (this loop is the edge)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import get_args

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.routing.domain.batch_writes import RoutingWrites
from services.routing.domain.sla import SlaClock, due_action, next_due_at, working_deadline
from services.routing.domain.snapshot import RoutingSnapshot
from services.routing.repository import LOAD_WINDOW, OpenAssignment, RoutingRepository
from services.routing.use_cases.assignment import Router, reassign
from shared.db.engine import unit_of_work
from shared.events.envelope import Envelope, utcnow
from shared.events.payloads import SlaAction, SlaBreached
from shared.loops import repeat
from shared.observability.metrics import SLA_BREACHES

SLA_ACTIONS: tuple[SlaAction, ...] = get_args(SlaAction)
for _action in SLA_ACTIONS:
    SLA_BREACHES.labels(_action)  # every action shows from the start, at 0


class RoutingClock:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], router: Router, *,
                 on_emitted: Callable[[], None], interval_s: float, batch_size: int = 100,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self._sessions = sessions
        self._router = router
        self._on_emitted = on_emitted
        self._interval_s = interval_s
        self._batch_size = batch_size
        self._clock = clock

    async def run(self) -> None:
        async def round_() -> bool:
            await self.tick()
            return False  # a tick per interval

        await repeat(round_, what="routing clock tick", idle_s=self._interval_s)

    async def tick(self) -> int:
        now = self._clock()
        async with unit_of_work(self._sessions) as session:
            repository = RoutingRepository(session)
            snapshot = await self._router.locked_snapshot(repository, now)
            writes = RoutingWrites()
            await self._drain_queues(repository, writes, snapshot, now)
            await self._enforce_sla(repository, writes, snapshot, now)
            emitted = await repository.write(writes)
            await repository.forget_counts_before(now - LOAD_WINDOW)
        count_breaches(emitted)  # the tick committed: its breaches happened
        if emitted:
            self._on_emitted()
        return len(emitted)

    async def _drain_queues(self, repository: RoutingRepository, writes: RoutingWrites, snapshot: RoutingSnapshot,
                            now: datetime) -> None:
        waiting_leads = await repository.waiting(self._batch_size)
        leads = await repository.routed_leads(w.lead_id for w in waiting_leads)
        for waiting in waiting_leads:
            lead = leads.get(waiting.lead_id)
            if lead is None or lead.cycle != waiting.cycle:
                writes.queue[(waiting.lead_id, waiting.cycle)] = None
                continue
            decision = self._router.decide(lead.lead_facts(), snapshot, now, queued=waiting)
            if decision.outcome == "queued" and decision.queue and decision.queue.target == waiting.target:
                continue  # still nobody: keep waiting quietly, no new decision record
            self._router.record(writes, decision, lead, kind="assigned", cause=None, snapshot=snapshot)

    async def _enforce_sla(self, repository: RoutingRepository, writes: RoutingWrites, snapshot: RoutingSnapshot,
                           now: datetime) -> None:
        policy = self._router.policy
        for row in await repository.sla_due(now, self._batch_size):
            clock = self._clock_of(row)
            escalated = row.escalated_at is not None
            action: SlaAction | None = due_action(policy, clock, now, escalated=escalated,
                                                  reassignments_so_far=row.reassignments, by_hand=row.by_hand)
            if action is None:
                continue
            lead = await repository.routed_lead(row.lead_id)
            due_at = next_due_at(clock, escalated=escalated)
            breach = writes.step()  # the breach is said before the reassignment it causes
            rerouted: Envelope | None = None
            if action == "escalate":
                await repository.escalated(row.id, at=now, reassign_at=clock.reassign_at)
            elif action == "reassign" and lead is not None:
                earlier = await repository.earlier_owners(row.lead_id, row.cycle)
                rerouted = reassign(self._router, writes, lead, replacing=row, exclude=frozenset(earlier),
                                    snapshot=snapshot, now=now)
                if rerouted is None:
                    action = "no_one_to_reassign"
                    await repository.stop_clock(row.id)
            else:
                await repository.stop_clock(row.id)
            email = lead.email if lead is not None else ""
            breach.envelopes.append(Envelope.start(
                SlaBreached(email=email, cycle=row.cycle, owner_id=row.owner_id, due_at=due_at,
                            breaches=row.reassignments + 1, action=action),
                lead_id=row.lead_id, producer="routing",
                correlation_id=(lead.correlation_id if lead else None) or str(row.lead_id)))

    def _clock_of(self, row: OpenAssignment) -> SlaClock:
        """The assignment's clock as stored; a clock stored before both moments were kept gets
        its reassignment moment from the policy now."""
        accept_by = row.sla_due_at or row.assigned_at
        reassign_at = row.sla_reassign_at
        policy = self._router.policy
        if reassign_at is None:
            if policy.has_owner(row.owner_id):
                reassign_at = working_deadline(accept_by, policy.sla.reassign_after_minutes, policy.owner(row.owner_id))
            else:
                reassign_at = accept_by
        return SlaClock(row.owner_id, row.sla_minutes or 0, row.assigned_at, accept_by, reassign_at)


def count_breaches(emitted: Sequence[Envelope]) -> None:
    for envelope in emitted:
        if envelope.type == SlaBreached.event_type:
            SLA_BREACHES.labels(envelope.payload["action"]).inc()
