"""What every service's repository has: the session of the current unit of work, the
service's outbox (events leave in the same transaction as the effect that caused them)
and a hook for what may only happen once that transaction committed (metrics)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import ClassVar

from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import AsyncSession

from shared.db.metadata import outbox_table
from shared.events.envelope import Envelope
from shared.observability.metrics import after_commit
from shared.outbox.writer import Outbox


class Repository:
    """Subclasses set ``metadata`` (their service's schema) and add their queries."""

    metadata: ClassVar[MetaData]

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def emit(self, envelopes: Sequence[Envelope]) -> None:
        await Outbox(outbox_table(self.metadata)).emit(self.session, envelopes)

    def after_commit(self, action: Callable[[], None]) -> None:
        after_commit(self.session, action)
