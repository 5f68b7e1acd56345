"""Events a service emits are rows in its outbox, written in the effect's transaction."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Insert, Table, insert
from sqlalchemy.ext.asyncio import AsyncSession

from shared.db.bulk import row_chunks
from shared.events.envelope import Envelope


class Outbox:
    def __init__(self, table: Table) -> None:
        self.table = table

    async def emit(self, session: AsyncSession, envelopes: Sequence[Envelope]) -> None:
        for statement in self.statements(envelopes):
            await session.execute(statement)

    def statements(self, envelopes: Sequence[Envelope]) -> list[Insert]:
        """One multi-row INSERT for the batch's events (in their order), not one per event."""
        rows = [{"topic": e.topic, "key": e.key, "value": e.to_bytes(),
                 "headers": {"correlation_id": e.correlation_id, "type": e.type}} for e in envelopes]
        return [insert(self.table).values(chunk) for chunk in row_chunks(rows)]
