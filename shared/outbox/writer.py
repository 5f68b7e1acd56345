"""Events a service emits are rows in its outbox, written in the effect's transaction."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Table, insert
from sqlalchemy.ext.asyncio import AsyncSession

from shared.events.envelope import Envelope


class Outbox:
    def __init__(self, table: Table) -> None:
        self.table = table

    async def emit(self, session: AsyncSession, envelopes: Sequence[Envelope]) -> None:
        if not envelopes:
            return
        await session.execute(
            insert(self.table),
            [
                {
                    "topic": e.topic,
                    "key": e.key,
                    "value": e.to_bytes(),
                    "headers": {"correlation_id": e.correlation_id, "type": e.type},
                }
                for e in envelopes
            ],
        )
