"""Every service's eraser: the consumer of ``lead.erasure.v1`` that erases what its schema holds
about the person (``shared.db.personal_data.erase_person``) and says so in the register.

The erasure request has already made the lead id dead (``shared.access.erasures``), so nothing
the other consumers read afterwards brings the person back; the eraser takes care of what was
kept before. It holds the lead's lock exclusive, so a write about the lead still under way
finishes first and is erased with the rest. A second delivery finds its progress recorded and
does nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence

from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import AsyncSession

from shared.access.erasures import hold, lead_lock, progress_of, record_progress
from shared.db.personal_data import erase_person
from shared.events import topics
from shared.events.codec import Event
from shared.events.payloads import LeadErased
from shared.kafka.consumer import ConsumerSpec

BeforeErasure = Callable[[AsyncSession, uuid.UUID], Awaitable[dict[str, int]]]
"""A service's own step before its rows are anonymised (routing stops the lead's SLA clocks
and drops its queue places and CRM pushes); returns what it did, as counts."""


def eraser(metadata: MetaData, service: str, before: Sequence[BeforeErasure] = ()) -> ConsumerSpec:
    async def handle(session: AsyncSession, events: Sequence[Event]) -> None:
        for event in sorted(events, key=lambda e: str(e.envelope.lead_id)):
            if not isinstance(event.payload, LeadErased):
                continue
            lead_id, erasure_id = event.envelope.lead_id, event.payload.erasure_id
            await hold(session, [lead_lock(lead_id)], exclusive=True)
            if service in await progress_of(session, erasure_id):
                continue
            done: dict[str, int] = {}
            for step in before:
                done.update(await step(session, lead_id))
            erased = await erase_person(session, metadata, lead_id)
            done.update(erased.rows)
            done.update({f"{table} (deleted)": n for table, n in erased.deleted.items()})
            await record_progress(session, erasure_id, service, erased.anonymous_id, done)

    return ConsumerSpec(name="eraser", topics=(topics.LEAD_ERASURE.name,), handler=handle, erases=True)
