"""The body of every service's Alembic env.py: async engine, schema-scoped version table."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import MetaData, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from shared.db.engine import database_tls


def run(target_metadata: MetaData, schema: str) -> None:
    config = context.config
    url = config.get_main_option("sqlalchemy.url")
    if context.is_offline_mode():
        context.configure(url=url, target_metadata=target_metadata, version_table_schema=schema,
                          literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    assert url is not None, "shared.db.migrations.alembic_config always sets sqlalchemy.url"
    asyncio.run(_run_online(url, target_metadata, schema))


async def _run_online(url: str, target_metadata: MetaData, schema: str) -> None:
    plain_url, tls = database_tls(url)  # ?ssl=... and sslrootcert=..., as the services read them
    engine = create_async_engine(plain_url, connect_args=tls)
    try:
        async with engine.connect() as conn:
            await conn.run_sync(_migrate, target_metadata, schema)
            await conn.commit()
    finally:
        await engine.dispose()


def _migrate(conn: Connection, target_metadata: MetaData, schema: str) -> None:
    conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
    context.configure(
        connection=conn,
        target_metadata=target_metadata,
        version_table_schema=schema,
        include_schemas=True,
        include_name=lambda name, type_, _: type_ != "schema" or name == schema,
    )
    with context.begin_transaction():
        context.run_migrations()
