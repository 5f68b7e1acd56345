"""Re-scores leads nobody posted about: after a new definition is published, and as
engagement decays with time. The lead rows themselves are the work queue, so a
restart loses nothing; SKIP LOCKED lets replicas share the sweep."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.scoring.definitions import DefinitionStore
from services.scoring.scorer import rescore
from services.scoring.tables import leads
from shared.db.engine import unit_of_work
from shared.events.envelope import utcnow
from shared.outbox.writer import Outbox

log = logging.getLogger(__name__)


class Rescorer:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], store: DefinitionStore, outbox: Outbox,
                 *, on_emitted: Callable[[], None], interval_s: float, decay_every_s: float,
                 batch_size: int = 200, clock: Callable[[], datetime] = utcnow) -> None:
        self._sessions = sessions
        self._store = store
        self._outbox = outbox
        self._on_emitted = on_emitted
        self._interval_s = interval_s
        self._decay_every = timedelta(seconds=decay_every_s)
        self._batch_size = batch_size
        self._clock = clock
        self._wake = asyncio.Event()
        self.rescored = 0

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self._store.refresh()
                busy = await self.sweep_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("re-scoring sweep failed; it is retried on the next round")
                busy = False
            if busy:
                continue
            try:
                await asyncio.wait_for(self._wake.wait(), self._interval_s)
            except TimeoutError:
                pass

    async def sweep_once(self) -> bool:
        """One batch of leads scored under an older definition, or due a decay check."""
        definition = self._store.active
        now = self._clock()
        async with unit_of_work(self._sessions) as session:
            rows = (await session.execute(
                select(leads)
                .where(or_(
                    leads.c.definition_version.is_distinct_from(definition.version),
                    (leads.c.engagement_score != 0) & (leads.c.rescored_at < now - self._decay_every),
                ))
                .order_by(leads.c.rescored_at.nulls_first())
                .limit(self._batch_size)
                .with_for_update(skip_locked=True)
            )).all()
            emitted = []
            for row in rows:
                trigger = "definition" if row.definition_version != definition.version else "decay"
                scored = await rescore(session, definition, row, now=now, trigger=trigger, cause=None,
                                       always_emit=False)
                if scored is not None:
                    emitted.append(scored)
            await self._outbox.emit(session, emitted)
        self.rescored += len(rows)
        if emitted:
            self._on_emitted()
        return len(rows) == self._batch_size
