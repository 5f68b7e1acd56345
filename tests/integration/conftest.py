"""The middle tier: use cases, handlers and repositories on the real PostgreSQL the project
starts (the migrated schema of every service), without Kafka. Each test runs inside one
transaction that is rolled back at its end, so tests never see each other's rows; code under
test that opens and commits its own sessions only commits savepoints of that transaction."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from devstack.stack import Stack, StackConfig
from shared.db.engine import make_engine
from tests.conftest import TEST_LEAD_ID_KEY


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """A PostgreSQL of its own, migrated; no broker, no services."""
    state_dir = Path(tempfile.mkdtemp(prefix="handoff-test-db-"))
    try:
        with Stack(StackConfig.ephemeral(state_dir, services=(), kafka=False,
                                                lead_id_key=TEST_LEAD_ID_KEY)) as running:
            yield running.database_url
    finally:
        shutil.rmtree(state_dir, ignore_errors=True)


@pytest.fixture(scope="session")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(database_url)
    yield engine
    await engine.dispose()


@pytest.fixture
async def connection(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    async with engine.connect() as conn:
        outer = await conn.begin()
        try:
            yield conn
        finally:
            await outer.rollback()


@pytest.fixture
def sessions(connection: AsyncConnection) -> async_sessionmaker[AsyncSession]:
    """Sessions joined to the test's transaction: their commits are savepoints, rolled back with it."""
    return async_sessionmaker(bind=connection, expire_on_commit=False, join_transaction_mode="create_savepoint")


@pytest.fixture
async def session(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """One session in the test's transaction, as a consumer batch or a request would have."""
    async with sessions() as s:
        yield s
