"""Effectively-once effects: an event's id is claimed in the same transaction as its effect."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.dml import ReturningInsert

from shared.db.bulk import insert_rows


async def claim_new(session: AsyncSession, processed: Table, consumer: str,
                    event_ids: Iterable[uuid.UUID]) -> set[uuid.UUID]:
    """Record the ids as processed by ``consumer``; return those not seen before."""
    unique = list(dict.fromkeys(event_ids))
    if not unique:
        return set()
    return set((await session.execute(claiming(processed, consumer, unique))).scalars())


def claiming(processed: Table, consumer: str, event_ids: list[uuid.UUID]) -> ReturningInsert[Any]:
    """The claim as a statement returning the ids not seen before, to run alone or as a CTE of
    a statement that reads something else on the same snapshot. One text whatever the number
    of ids (``shared.db.bulk``)."""
    return (insert_rows(processed, [{"consumer": consumer, "event_id": event_id} for event_id in event_ids])
            .on_conflict_do_nothing()
            .returning(processed.c.event_id))
