"""Re-scores leads nobody posted about: after a new definition is published, and as
engagement decays with time. The lead rows themselves are the work queue, so a restart
loses nothing; SKIP LOCKED lets replicas share the sweep. Each round is its own unit of
work (this loop is the edge that commits). While a definition's sweep runs, each round
says how many leads are left (log and metric), and its end is logged once."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.scoring.repository import DefinitionStore, LeadRow, ScoringRepository
from services.scoring.use_cases.rescore import rescored
from shared.db.engine import unit_of_work
from shared.events.envelope import Envelope, utcnow
from shared.events.payloads import ScoreTrigger
from shared.loops import repeat
from shared.observability import metrics

log = logging.getLogger(__name__)


class Rescorer:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], store: DefinitionStore, *,
                 on_emitted: Callable[[], None], interval_s: float, decay_every_s: float,
                 batch_size: int = 200, clock: Callable[[], datetime] = utcnow) -> None:
        self._sessions = sessions
        self._store = store
        self._on_emitted = on_emitted
        self._interval_s = interval_s
        self._decay_every = timedelta(seconds=decay_every_s)
        self._batch_size = batch_size
        self._clock = clock
        self._wake = asyncio.Event()
        self._sweeping: tuple[str, float] | None = None  # the version being swept, since (monotonic)

    def wake(self) -> None:
        """Look for work now (a definition was just published)."""
        self._sweeping = (self._store.active.version, time.monotonic())
        self._wake.set()

    async def run(self) -> None:
        async def round_() -> bool:
            if await self._store.refresh():  # another replica published: its sweep is ours too
                self._sweeping = (self._store.active.version, time.monotonic())
            more = await self.sweep_once()
            if self._sweeping is not None:
                await self._report_progress()
            return more

        await repeat(round_, what="re-scoring sweep", idle_s=self._interval_s, wake=self._wake)

    async def sweep_once(self) -> bool:
        """One batch of leads scored under an older definition, or due a decay check; True when
        the batch was full (there may be more)."""
        definition = self._store.active
        now = self._clock()
        async with unit_of_work(self._sessions) as session:
            repository = ScoringRepository(session)
            due = await repository.due_for_rescore(definition.version, now - self._decay_every, self._batch_size,
                                                   today=now.date())
            found = await repository.activities_of([lead.lead_id for lead in due])
            emitted: list[Envelope] = []
            after: list[LeadRow] = []
            for lead in due:
                trigger: ScoreTrigger = "definition" if lead.definition_version != definition.version else "decay"
                # (a retry_after that has come is re-scored as a decay check: time passed, nothing else)
                scored_lead, scored = rescored(definition, lead, found.get(lead.lead_id, ()), now=now,
                                               trigger=trigger, cause=None, always_emit=False)
                after.append(scored_lead)
                if scored is not None:
                    emitted.append(scored)
            await repository.save_leads(after, now)
            await repository.emit(emitted)
        if emitted:
            self._on_emitted()
        return len(due) == self._batch_size

    async def _report_progress(self) -> None:
        assert self._sweeping is not None
        version, began = self._sweeping
        async with self._sessions() as session:
            total, done = await ScoringRepository(session).scored_under(version)
        metrics.RESCORE_SWEEP_REMAINING.set(total - done)
        if done < total:
            log.info("re-scoring sweep for definition %s: %d of %d leads", version, done, total)
            return
        log.info("re-scoring sweep for definition %s finished: %d leads in %.1f s", version, total,
                 time.monotonic() - began)
        self._sweeping = None
