"""Each service's Alembic history, as run by the stack, builds exactly the tables its code uses."""

from __future__ import annotations

import asyncio
import importlib
from datetime import UTC, datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from shared.access.roles import Role
from shared.access.store import TokenStore
from shared.access.tokens import new_token
from shared.db.engine import make_engine, make_sessionmaker
from shared.db.migrations import BOOTSTRAP_TOKEN_ENV, COMPONENTS, main


@pytest.mark.parametrize("service", COMPONENTS)
async def test_migrations_match_the_table_definitions(database_url, service):
    module = "shared.access.tables" if service == "access" else f"services.{service}.tables"
    metadata = importlib.import_module(module).metadata

    def diff(connection):
        context = MigrationContext.configure(connection, opts={
            "include_schemas": True,
            "include_name": lambda name, type_, _: type_ != "schema" or name == service,
            "version_table_schema": service,
        })
        return compare_metadata(context, metadata)

    engine = make_engine(database_url)
    try:
        async with engine.connect() as conn:
            changes = await conn.run_sync(diff)
            head = (await conn.execute(text(f'SELECT version_num FROM "{service}".alembic_version'))).scalar_one()
    finally:
        await engine.dispose()
    assert changes == [], f"{service}: tables.py and the migrations disagree: {changes}"
    assert head.startswith(service)


async def test_the_migrate_job_stores_the_bootstrap_revops_token_once(database_url, monkeypatch):
    value = new_token()
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv(BOOTSTRAP_TOKEN_ENV, value)
    assert await asyncio.to_thread(main) == 0
    assert await asyncio.to_thread(main) == 0  # a re-run changes nothing
    engine = make_engine(database_url)
    try:
        async with make_sessionmaker(engine)() as session:
            store = TokenStore(session)
            caller = await store.authenticate(value, datetime.now(UTC))
            named = [t for t in await store.list(include_revoked=True) if t.name == "bootstrap-revops"]
            await session.commit()
    finally:
        await engine.dispose()
    assert caller is not None and caller.name == "bootstrap-revops" and caller.roles == {Role.revops}
    assert len(named) == 1 and named[0].created_by == "migrate job"
