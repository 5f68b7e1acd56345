"""Events a service emits are rows in its outbox, written in the effect's transaction."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Insert, Table
from sqlalchemy.ext.asyncio import AsyncSession

from shared.db.bulk import insert_rows
from shared.events.envelope import Envelope


class Outbox:
    def __init__(self, table: Table) -> None:
        self.table = table

    async def emit(self, session: AsyncSession, envelopes: Sequence[Envelope]) -> None:
        for statement in self.statements(envelopes):
            await session.execute(statement)

    def statements(self, envelopes: Sequence[Envelope]) -> list[Insert]:
        """One INSERT for the batch's events (in their order: unnest keeps the arrays' order and
        the ids follow it), not one per event."""
        rows = [outbox_row(e) for e in envelopes]
        return [insert_rows(self.table, rows)] if rows else []


def outbox_row(envelope: Envelope) -> dict[str, Any]:
    """The outbox columns of one event (the relay sends exactly these bytes)."""
    return {"topic": envelope.topic, "key": envelope.key, "value": envelope.to_bytes(),
            "headers": {"correlation_id": envelope.correlation_id, "type": envelope.type}}
