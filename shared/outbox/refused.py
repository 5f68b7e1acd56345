"""Outbox rows Kafka refused for good: set aside by the relay, replayed or discarded by an operator.

A refused row keeps all the relay would send (topic, key, value, headers) and when it was
written. A replay puts exactly those bytes back at the end of the outbox, so the event id
is unchanged: consumers that somehow have it already skip it, and it is sent after
whatever the service emitted since (like a replayed dead letter, it is applied now, not in
its original place).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table, delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.db.metadata import REFUSAL_REASON_MAX
from shared.kafka.producer import record_size

REPLAY_HEADER = "handoff-replay-of"  # on a replayed row: outbox_refused:<id>, as on a replayed dead letter


def refusal_reason(error: BaseException) -> str:
    """The error class and its message, bounded to what the column holds."""
    text = f"{type(error).__name__}: {error}"
    return text if len(text) <= REFUSAL_REASON_MAX else text[: REFUSAL_REASON_MAX - 1] + "…"


@dataclass(frozen=True)
class OutboxRow:
    """An outbox row as the relay claimed it."""

    id: int
    topic: str
    key: bytes | None
    value: bytes
    headers: dict[str, Any]
    created_at: datetime


@dataclass(frozen=True)
class RefusedRow:
    id: int
    outbox_id: int
    topic: str
    key: bytes | None
    value: bytes
    headers: dict[str, Any]
    created_at: datetime
    refused_at: datetime
    reason: str

    @property
    def size(self) -> int:
        """The record's size as the producer measures it (``shared.kafka.producer.record_size``)."""
        return record_size(self.topic, self.key, self.value, self.headers)


async def set_aside(session: AsyncSession, outbox: Table, refused: Table,
                    rows: Sequence[tuple[OutboxRow, BaseException]]) -> None:
    """Move refused rows from the outbox to ``outbox_refused``, in the caller's transaction."""
    if not rows:
        return
    await session.execute(insert(refused), [
        {"outbox_id": row.id, "topic": row.topic, "key": row.key, "value": row.value, "headers": row.headers,
         "created_at": row.created_at, "reason": refusal_reason(error)}
        for row, error in rows
    ])
    await session.execute(delete(outbox).where(outbox.c.id.in_([row.id for row, _ in rows])))


def _refused_row(row: Any) -> RefusedRow:
    return RefusedRow(id=row.id, outbox_id=row.outbox_id, topic=row.topic, key=row.key, value=row.value,
                      headers=dict(row.headers), created_at=row.created_at, refused_at=row.refused_at,
                      reason=row.reason)


async def list_refused(session: AsyncSession, refused: Table, *, limit: int | None = None,
                       ids: Sequence[int] | None = None) -> list[RefusedRow]:
    """Refused rows, oldest first (the order they were in the outbox)."""
    query = select(refused).order_by(refused.c.id)
    if ids is not None:
        query = query.where(refused.c.id.in_(list(ids)))
    if limit is not None:
        query = query.limit(limit)
    return [_refused_row(row) for row in (await session.execute(query)).all()]


async def count_refused(session: AsyncSession, refused: Table) -> int:
    return (await session.execute(select(func.count()).select_from(refused))).scalar_one()


async def replay(session: AsyncSession, outbox: Table, refused: Table, ids: Sequence[int]) -> dict[int, int]:
    """Put refused rows back at the end of the outbox; {refused id: new outbox id}.

    Deleting first (``RETURNING``) makes a replay happen once even when two operators run it
    at the same moment: the second finds nothing. Rows go back in their original order.
    """
    taken = (await session.execute(
        delete(refused).where(refused.c.id.in_(list(ids))).returning(*refused.c)
    )).all()
    placed: dict[int, int] = {}
    for row in sorted(taken, key=lambda r: r.id):
        headers = {**row.headers, REPLAY_HEADER: f"outbox_refused:{row.id}"}
        placed[row.id] = (await session.execute(
            insert(outbox).values(topic=row.topic, key=row.key, value=row.value, headers=headers)
            .returning(outbox.c.id)
        )).scalar_one()
    return placed


async def discard(session: AsyncSession, refused: Table, ids: Sequence[int]) -> list[int]:
    """Delete refused rows for good; the ids that were there."""
    gone = (await session.execute(
        delete(refused).where(refused.c.id.in_(list(ids))).returning(refused.c.id)
    )).scalars().all()
    return sorted(gone)
