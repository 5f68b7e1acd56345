"""Effectively-once effects: an event's id is claimed in the same transaction as its effect."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy import Table
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession


async def claim_new(session: AsyncSession, processed: Table, consumer: str,
                    event_ids: Iterable[uuid.UUID]) -> set[uuid.UUID]:
    """Record the ids as processed by ``consumer``; return those not seen before."""
    unique = list(dict.fromkeys(event_ids))
    if not unique:
        return set()
    stmt = (
        insert(processed)
        .values([{"consumer": consumer, "event_id": event_id} for event_id in unique])
        .on_conflict_do_nothing()
        .returning(processed.c.event_id)
    )
    return set((await session.execute(stmt)).scalars())
