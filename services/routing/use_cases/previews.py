"""Dry runs that decide without assigning: who would get this lead now, and what a candidate
policy would do with the leads open now, lead by lead, streamed from the database."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime

from services.routing.domain.decision import RoutingDecision, route
from services.routing.domain.lead_facts import LeadFacts
from services.routing.domain.policy import RoutingPolicy
from services.routing.domain.preview import LeadMove, PolicyPreview, PreviewRun, released
from services.routing.domain.snapshot import RoutingSnapshot
from services.routing.repository import RoutingRepository
from services.routing.use_cases.assignment import Router

log = logging.getLogger(__name__)

PAGE = 500
"""Leads read and routed per page: the preview's memory is one page plus its totals."""


@dataclass(frozen=True)
class Progress:
    done: int
    total: int

    def to_dict(self) -> dict[str, int]:
        return {"done": self.done, "total": self.total}


async def preview_lead(router: Router, repository: RoutingRepository, facts: LeadFacts,
                       now: datetime) -> RoutingDecision:
    snapshot = await repository.snapshot(router.policy.owners, now)
    return route(router.policy, facts, now=now, accounts=snapshot.accounts, loads=snapshot.loads,
                 states=snapshot.states)


class CandidatePreview:
    """One preview of ``candidate`` over the open leads: ``start`` (reads the totals and today's
    loads, so a database that is down fails here, before any answer), iterate ``moves`` (each
    lead's move, and a ``Progress`` after each page), then read ``result``."""

    def __init__(self, repository: RoutingRepository, candidate: RoutingPolicy, *, now: datetime,
                 sample_size: int) -> None:
        self._repository, self._candidate, self._now, self._sample_size = repository, candidate, now, sample_size
        self._run: PreviewRun | None = None
        self._total = 0

    async def start(self) -> None:
        self._total, moving = await self._repository.open_leads_load(self._candidate.owners, self._now)
        snapshot = await self._repository.snapshot(self._candidate.owners, self._now)
        self._run = PreviewRun(self._candidate, RoutingSnapshot(released(snapshot.loads, moving), snapshot.states,
                                                                snapshot.accounts),
                               now=self._now, sample_size=self._sample_size)

    async def moves(self) -> AsyncIterator[LeadMove | Progress]:
        run = self._started()
        done = 0
        async for page in self._repository.stream_open_leads(PAGE):
            for lead in page:
                yield run.add(lead)
            done += len(page)
            log.info("policy preview %s: %d of %d open leads routed", self._candidate.version, done, self._total)
            yield Progress(done, max(self._total, done))

    @property
    def result(self) -> PolicyPreview:
        return self._started().result()

    def _started(self) -> PreviewRun:
        if self._run is None:
            raise RuntimeError("start the preview first")
        return self._run


async def preview_candidate(repository: RoutingRepository, candidate: RoutingPolicy, *, now: datetime,
                            sample_size: int) -> PolicyPreview:
    preview = CandidatePreview(repository, candidate, now=now, sample_size=sample_size)
    await preview.start()
    async for _ in preview.moves():
        pass
    return preview.result
