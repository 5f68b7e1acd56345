"""Re-scores leads nobody posted about: after a new definition is published, and as
engagement decays with time. The lead rows themselves are the work queue, so a restart
loses nothing; SKIP LOCKED lets replicas share the sweep. Each round is its own unit of
work (this loop is the edge that commits)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.scoring.repository import DefinitionStore, LeadRow, ScoringRepository
from services.scoring.use_cases.rescore import rescored
from shared.db.engine import unit_of_work
from shared.events.envelope import Envelope, utcnow
from shared.events.payloads import ScoreTrigger
from shared.loops import repeat


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

    def wake(self) -> None:
        """Look for work now (a definition was just published)."""
        self._wake.set()

    async def run(self) -> None:
        async def round_() -> bool:
            await self._store.refresh()
            return await self.sweep_once()

        await repeat(round_, what="re-scoring sweep", idle_s=self._interval_s, wake=self._wake)

    async def sweep_once(self) -> bool:
        """One batch of leads scored under an older definition, or due a decay check; True when
        the batch was full (there may be more)."""
        definition = self._store.active
        now = self._clock()
        async with unit_of_work(self._sessions) as session:
            repository = ScoringRepository(session)
            due = await repository.due_for_rescore(definition.version, now - self._decay_every, self._batch_size)
            found = await repository.activities_of([lead.lead_id for lead in due])
            emitted: list[Envelope] = []
            after: list[LeadRow] = []
            for lead in due:
                trigger: ScoreTrigger = "definition" if lead.definition_version != definition.version else "decay"
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
