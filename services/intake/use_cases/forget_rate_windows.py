"""Drop request counts of windows long past, so the rate-limit table stays a few rows per
busy subject: a loop of intake's, on every replica (the delete is idempotent)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.intake.repository import RateWindowRepository
from shared.db.engine import unit_of_work
from shared.loops import repeat

KEEP = timedelta(hours=1)  # longer than any window (at most 3600 s)


async def forget_rate_windows(sessions: async_sessionmaker[AsyncSession], now: datetime) -> int:
    async with unit_of_work(sessions) as session:
        return await RateWindowRepository(session).forget_before(now - KEEP)


async def run_forgetting(sessions: async_sessionmaker[AsyncSession], interval_s: float = 60.0) -> None:
    async def round_() -> bool:
        await forget_rate_windows(sessions, datetime.now(UTC))
        return False

    await repeat(round_, what="forgetting old rate-limit windows", idle_s=interval_s)
