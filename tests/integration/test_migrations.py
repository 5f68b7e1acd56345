"""Each service's Alembic history, as run by the stack, builds exactly the tables its code uses."""

from __future__ import annotations

import importlib

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from shared.db.engine import make_engine
from shared.db.migrations import SERVICES


@pytest.mark.parametrize("service", SERVICES)
async def test_migrations_match_the_table_definitions(database_url, service):
    metadata = importlib.import_module(f"services.{service}.tables").metadata

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
