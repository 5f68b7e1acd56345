"""Engine and the unit of work: one session per request or per batch, committed at the edge."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from shared.observability.metrics import count_sql_statement


def make_engine(database_url: str, *, pool_size: int = 5, max_overflow: int = 5,
                timeout_s: float = 10.0) -> AsyncEngine:
    """``timeout_s`` bounds connecting, waiting for a pooled connection and every statement, so a
    database that is frozen or gone is an error (a 503, a retried batch) in seconds, not a hang.

    No pre-ping: it cost a round trip on every checkout, on every request and batch. A pooled
    connection the database dropped fails its first statement instead; SQLAlchemy then
    invalidates the pool, and that one request answers 503 with Retry-After, or that one
    batch is retried (``shared.db.errors``)."""
    engine = create_async_engine(database_url, pool_size=pool_size, max_overflow=max_overflow, pool_pre_ping=False,
                                 pool_timeout=timeout_s, hide_parameters=True,  # errors carry no lead's data
                                 connect_args={"timeout": timeout_s, "command_timeout": timeout_s})
    event.listen(engine.sync_engine, "before_cursor_execute", count_sql_statement)  # handoff_sql_statements_total
    return engine


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def unit_of_work(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """Commit if the block finishes, roll back if it raises: the only place that commits."""
    async with sessions() as session, session.begin():
        yield session


@asynccontextmanager
async def autocommit(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """Each statement commits by itself: no BEGIN and COMMIT round trips, for a single write
    that is a whole unit on its own (a rate-limit count), never for several that belong together."""
    async with sessions() as session:
        await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
        yield session


async def database_answers(engine: AsyncEngine) -> bool:
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
    return True
